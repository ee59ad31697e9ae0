import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { detachedCommand } from '../../src/domain/deploy/activation-command.js';
import { temporaryDir } from '../support/flake-fixtures.js';

/** The detached command line run by sh here, as the machine's shell runs it over SSH. */
const run = (line: string) => execa('sh', ['-c', line], { reject: false, stdin: 'ignore' });

describe('detachedCommand', () => {
  it('refuses an id that is not a plain name', () => {
    for (const id of ['', '../x', 'a b', "a'b", 'x'.repeat(101)])
      expect(() => detachedCommand(id, 'true')).toThrow(/invalid id/);
  });

  it('runs once per id: callers with the same id share its output and exit status', async () => {
    const dir = await temporaryDir('lab-detached-');
    const counter = join(dir, 'ran');
    const command = `echo ran >> '${counter}'; sleep 0.3; echo out; echo err >&2; exit 3`;
    const line = detachedCommand('activation-1', command, join(dir, 'detached dir'));
    const [first, second] = await Promise.all([run(line), run(line)]);
    const third = await run(line);
    for (const result of [first, second, third]) {
      expect(result.exitCode).toBe(3);
      expect(result.stderr).toBe('out\nerr');
    }
    expect(readFileSync(counter, 'utf8')).toBe('ran\n');
    const other = await run(
      detachedCommand('activation-2', `echo ran >> '${counter}'`, join(dir, 'detached dir')),
    );
    expect(other.exitCode).toBe(0);
    expect(readFileSync(counter, 'utf8')).toBe('ran\nran\n');
  });

  it('goes on when its caller dies; the next caller gets its outcome', async () => {
    const dir = await temporaryDir('lab-detached-');
    const done = join(dir, 'done');
    const line = detachedCommand('activation-1', `sleep 0.5; echo done >> '${done}'`, dir);
    const caller = run(line);
    await expect.poll(() => existsSync(join(dir, 'activation-1', 'pid')), { interval: 10 }).toBe(true);
    caller.kill('SIGKILL');
    expect((await caller).signal).toBe('SIGKILL');
    expect(existsSync(done)).toBe(false);
    const next = await run(line);
    expect(next.exitCode).toBe(0);
    expect(readFileSync(done, 'utf8')).toBe('done\n');
  });

  it('reports a detached command that died without an exit status', async () => {
    const dir = await temporaryDir('lab-detached-');
    const line = detachedCommand('activation-1', 'kill -9 $$', dir);
    const result = await run(line);
    expect(result.exitCode).toBe(255);
    expect(result.stderr).toContain('ended without an exit status');
  });
});
