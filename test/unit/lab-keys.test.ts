import { describe, expect, it } from 'vitest';
import { LabKeys } from '../../src/orchestration/queue/keys.js';

// The key strings are what existing Redis data is stored under: they must not change.
describe('LabKeys', () => {
  const keys = new LabKeys('q');

  it('names the run keys under the queue', () => {
    expect(keys.events('r1')).toBe('lab:q:run:r1:events');
    expect(keys.allEvents).toBe('lab:q:events');
    expect(keys.control('r1')).toBe('lab:q:run:r1:control');
    expect(keys.approvals('r1', 'web')).toBe('lab:q:run:r1:approvals:web');
    expect(keys.approvers('r1', 'web')).toBe('lab:q:run:r1:approvers:web');
    expect(keys.lock('web')).toBe('lab:q:lock:web');
    expect(keys.request('abc')).toBe('lab:q:request:abc');
    expect(keys.inventory('k')).toBe('lab:q:inventory:k');
    expect(keys.latestInventory('/f')).toBe('lab:q:inventory-latest:/f');
    expect(keys.controlChannel).toBe('lab:q:control');
  });

  it("names the Discord notifier's keys as it stored them before they moved here", () => {
    expect(keys.discordLeader).toBe('lab:q:discord:leader');
    expect(keys.discordCursor).toBe('lab:q:discord:cursor');
    expect(keys.discordRun('r1')).toBe('lab:q:discord:run:r1');
  });

  it("names the monitor's keys under the queue", () => {
    expect(keys.monitorQueue).toBe('q-monitor');
    expect(keys.monitorWatches).toBe('lab:q:monitor:watches');
    expect(keys.monitorEvents).toBe('lab:q:monitor:events');
    expect(keys.monitorCheck('db')).toBe('lab:q:monitor:check:db');
    expect(keys.monitorSilences).toBe('lab:q:monitor:silences');
    expect(keys.monitorNotifierLeader).toBe('lab:q:discord:monitor-leader');
    expect(keys.monitorCursor).toBe('lab:q:discord:monitor-cursor');
    expect(keys.monitorAlert('db@1')).toBe('lab:q:discord:monitor-alert:db@1');
  });

  it('lists every key of a run to expire', () => {
    expect(keys.runKeys('r1', ['web'])).toEqual([
      'lab:q:run:r1:events',
      'lab:q:run:r1:control',
      'lab:q:run:r1:approvals:web',
      'lab:q:run:r1:approvers:web',
    ]);
  });
});
