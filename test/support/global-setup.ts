import { execa } from 'execa';
import type { TestProject } from 'vitest/node';
import { startRedisServer } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** redis:// URL of the redis-server this test run started. */
    redisUrl: string;
  }
}

/**
 * Once per test run: build dist/ (tests run the `lab` binary) and start one real redis-server
 * (tests keep apart by unique queue names). Everything started here is stopped at the end.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await execa('npm', ['run', '--silent', 'build'], {
    cwd: new URL('../..', import.meta.url),
    stdio: 'inherit',
  });
  const redis = await startRedisServer();
  project.provide('redisUrl', redis.url);
  return () => redis.stop();
}
