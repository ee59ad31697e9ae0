import { execa } from 'execa';

/** Tests that run the `lab` binary need dist/: build it once per test run. */
export default async function setup(): Promise<void> {
  await execa('npm', ['run', '--silent', 'build'], {
    cwd: new URL('../..', import.meta.url),
    stdio: 'inherit',
  });
}
