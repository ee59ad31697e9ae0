import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, logSettings, prettyLine } from '../../src/cli/logger.js';
import { plainStyle } from '../../src/cli/render/style.js';
import { ConfigurationError } from '../../src/errors.js';

/** A stream standing in for stderr, a terminal or not. */
function stderr(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  Object.assign(stream, { isTTY });
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => Buffer.concat(chunks).toString() };
}

describe('log settings from the environment', () => {
  it('default to info, JSON off a terminal and readable lines on one', () => {
    expect(logSettings({}, stderr(false).stream)).toEqual({ level: 'info', format: 'json' });
    expect(logSettings({}, stderr(true).stream)).toEqual({ level: 'info', format: 'pretty' });
    expect(logSettings({ LOG_LEVEL: 'debug', LOG_FORMAT: 'json' }, stderr(true).stream)).toEqual({
      level: 'debug',
      format: 'json',
    });
  });

  it('name the variable that is wrong', () => {
    expect(() => logSettings({ LOG_LEVEL: 'verbose' }, stderr(false).stream)).toThrow(ConfigurationError);
    expect(() => logSettings({ LOG_LEVEL: 'verbose' }, stderr(false).stream)).toThrow(/LOG_LEVEL: /);
    expect(() => logSettings({ LOG_FORMAT: 'xml' }, stderr(false).stream)).toThrow(/LOG_FORMAT: /);
  });
});

describe('the service logger', () => {
  it('writes one JSON object a line with time, level name, process name and fields', () => {
    const out = stderr(false);
    const log = createLogger('lab worker', { level: 'info', format: 'json' }, out.stream);
    log.info({ runId: 'r1' }, 'run r1 (reboot) succeeded');
    log.debug('not shown at info');
    const lines = out.text().trim().split('\n');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0] as string);
    expect(entry).toMatchObject({
      level: 'info',
      name: 'lab worker',
      pid: process.pid,
      runId: 'r1',
      msg: 'run r1 (reboot) succeeded',
    });
    expect(new Date(entry.time).toISOString()).toBe(entry.time);
  });

  it('redacts secrets wherever they sit in the logged objects', () => {
    const out = stderr(false);
    const log = createLogger('lab serve', { level: 'info', format: 'json' }, out.stream);
    log.warn(
      { token: 'discord-secret', request: { headers: { authorization: 'Bot discord-secret' } } },
      'request failed',
    );
    expect(out.text()).not.toContain('discord-secret');
    expect(JSON.parse(out.text())).toMatchObject({
      token: '[redacted]',
      request: { headers: { authorization: '[redacted]' } },
    });
  });

  it('writes readable lines when asked to be pretty, errors with their message', () => {
    const out = stderr(false);
    const log = createLogger('lab bot', { level: 'info', format: 'pretty' }, out.stream);
    log.warn({ err: new Error('Missing Access'), runId: 'r2' }, 'discord: editing run r2 failed');
    expect(out.text()).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} WARN {2}lab bot: discord: editing run r2 failed runId=r2\n {2}Missing Access\n$/,
    );
  });
});

describe('pretty lines', () => {
  it('show errors with their stack, and fields as key=value', () => {
    const error = new Error('boom');
    const line = prettyLine(
      {
        level: 'error',
        time: '2026-11-27T03:04:05.678Z',
        name: 'lab serve',
        pid: 1,
        msg: 'run r3: unexpected error',
        machines: ['db', 'web'],
        err: { message: error.message, stack: error.stack },
      },
      plainStyle,
    );
    expect(line.split('\n')[0]).toBe(
      '03:04:05.678 ERROR lab serve: run r3: unexpected error machines=["db","web"]',
    );
    expect(line).toContain('\n  Error: boom\n      at ');
  });
});
