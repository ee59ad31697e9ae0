import { describe, expect, it } from 'vitest';
import { commandNamed, commands, labCommand } from '../../src/discord/commands/index.js';

describe('the /lab command registry', () => {
  it('registers each subcommand under the name it is dispatched by, in the order of the map', () => {
    expect(labCommand.options.map((option) => option.name)).toEqual(Object.keys(commands));
    for (const [name, command] of Object.entries(commands)) {
      expect(command.definition.name).toBe(name);
      expect(commandNamed(name)).toBe(command);
    }
  });

  it('has no subcommand for a name lab does not define, inherited ones included', () => {
    expect(commandNamed('nope')).toBeUndefined();
    expect(commandNamed('toString')).toBeUndefined();
  });

  it('lets only operators change something (or build and copy, as /lab diff does)', () => {
    const needs = Object.fromEntries(
      Object.entries(commands).map(([name, command]) => [name, command.needs]),
    );
    expect(needs).toEqual({
      machines: 'view',
      sequence: 'view',
      health: 'view',
      // It builds the systems and copies them into the machines' stores.
      diff: 'operate',
      reboot: 'operate',
      deploy: 'operate',
      power: 'operate',
      status: 'view',
      cancel: 'operate',
      silence: 'operate',
      silences: 'view',
      unsilence: 'operate',
    });
  });
});
