import { execa, type ResultPromise } from 'execa';
import type { FakeDiscord } from '../discord/fake-discord.js';
import { repoRoot } from './flake-fixtures.js';

/** `lab serve` run from the build (dist/) as a process of its own, and what it wrote to stderr so far. */
export interface ServeProcess {
  readonly process: ResultPromise;
  stderr(): string;
}

/** Starts `lab serve` with the environment and resolves once its bot and notifier are up. */
export async function startServe(fake: FakeDiscord, env: Record<string, string>): Promise<ServeProcess> {
  let text = '';
  const process = execa('node', [`${repoRoot}/dist/cli/main.js`, 'serve'], { env, reject: false });
  process.stderr?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  await fake.waitFor(() => text.includes('discord: bot and run messages'), 30_000, 'lab serve to be ready');
  return { process, stderr: () => text };
}
