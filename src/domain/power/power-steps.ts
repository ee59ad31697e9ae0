import type { PowerMethod } from '../inventory/power-schema.js';
import type { Machine } from '../inventory/schema.js';
import { NoPowerControlError, type PowerMethodName } from './errors.js';

/** What an operator (or lab's recovery) asks of a machine's power. */
export type PowerAction = 'on' | 'off' | 'cycle' | 'status';
export const powerActions: readonly PowerAction[] = ['on', 'off', 'cycle', 'status'];

/** One thing lab does for a power action: run one of the machine's commands, or send a magic packet. */
export type PowerStep =
  | { readonly method: 'command'; readonly command: PowerMethod; readonly argv: readonly string[] }
  | { readonly method: 'wake-on-lan'; readonly mac: string; readonly address: string; readonly port: number };

export const stepMethod = (step: PowerStep): PowerMethodName =>
  step.method === 'command' ? `command ${step.command}` : 'wake-on-lan';

const option = (field: string) => `lab.machine.power.${field}`;

/**
 * The steps of a power action, from the machine's `lab.machine.power` (pure):
 * - on: `command.on`, else Wake-on-LAN;
 * - off: `command.off`;
 * - cycle: `command.cycle`, else `command.off` then `command.on` (or then Wake-on-LAN);
 * - status: `command.status`.
 * Throws NoPowerControlError naming the options that would make it possible.
 */
export function powerSteps(machine: Machine, action: PowerAction): PowerStep[] {
  const power = machine.power;
  const command = (name: PowerMethod): PowerStep | null => {
    const argv = power?.command[name];
    return argv ? { method: 'command', command: name, argv } : null;
  };
  const wol = power?.wakeOnLan;
  const wake: PowerStep | null = wol ? { method: 'wake-on-lan', ...wol } : null;
  const on = command('on') ?? wake;
  const off = command('off');
  switch (action) {
    case 'on':
      if (on) return [on];
      throw new NoPowerControlError(
        machine.name,
        'power on',
        `${option('command.on')} or ${option('wakeOnLan')}`,
      );
    case 'off':
      if (off) return [off];
      throw new NoPowerControlError(machine.name, 'power off', option('command.off'));
    case 'cycle': {
      const cycle = command('cycle');
      if (cycle) return [cycle];
      if (off && on) return [off, on];
      throw new NoPowerControlError(
        machine.name,
        'power-cycle',
        `${option('command.cycle')}, or ${option('command.off')} and ${option('command.on')} (or ${option('wakeOnLan')})`,
      );
    }
    case 'status': {
      const status = command('status');
      if (status) return [status];
      throw new NoPowerControlError(machine.name, 'read the power state of', option('command.status'));
    }
  }
}

/** Whether the machine's lab.machine.power can carry out the action (no error: nothing is done). */
export function canPower(machine: Machine, action: PowerAction): boolean {
  try {
    powerSteps(machine, action);
    return true;
  } catch {
    return false;
  }
}

/**
 * What lab's automatic recovery does to a machine that does not answer: a power cycle where one
 * is possible, else a power on (Wake-on-LAN wakes a machine that is off); null when the machine's
 * `recover` is "never" or it has no means.
 */
export function recoveryAction(machine: Machine): 'cycle' | 'on' | null {
  if (machine.power?.recover !== 'power-cycle') return null;
  for (const action of ['cycle', 'on'] as const) {
    try {
      powerSteps(machine, action);
      return action;
    } catch {
      // not possible this way
    }
  }
  return null;
}

/**
 * `NAME=value` lines of an environment file (systemd's EnvironmentFile, roughly): `#` comments,
 * blank lines, an optional `export `, values optionally in single or double quotes. A malformed
 * line is reported by its number, never by its content (it may hold a secret).
 */
export function parseEnvironmentFile(text: string): Record<string, string> | { readonly badLine: number } {
  const env: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) return { badLine: index + 1 };
    const [, name, value = ''] = match as unknown as [string, string, string];
    const quoted = /^(["'])(.*)\1$/.exec(value);
    env[name] = quoted ? (quoted[2] ?? '') : value;
  }
  return env;
}

/**
 * The argv with every `${NAME}` replaced by NAME from the environment file's variables (plain
 * string replacement: no shell ever sees it). Returns the name of a variable the file lacks.
 */
export function resolveArgv(
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
): string[] | { readonly missing: string } {
  const resolved: string[] = [];
  for (const word of argv) {
    let missing: string | null = null;
    resolved.push(
      word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
        const value = env[name];
        if (value === undefined) missing ??= name;
        return value ?? '';
      }),
    );
    if (missing !== null) return { missing };
  }
  return resolved;
}

/** The text with every secret value (of at least 4 characters) replaced by `***`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join('***');
  }
  return out;
}
