import type { PowerStepResult } from '../domain/power/power-control.js';
import type { RunEvent } from './run-events.js';

type PowerEvent = Extract<RunEvent, { type: 'machine.power' }>;

const actionWords = {
  on: 'power on',
  off: 'power off',
  cycle: 'power cycle',
  status: 'power status',
} as const;

/** The last non-empty line of a command's output, at most 120 characters. */
export function lastOutputLine(output: string): string {
  const line = output.trim().split('\n').at(-1)?.trim() ?? '';
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

/** `command off: exit 0`, `wake-on-lan: magic packet to 52:54:00:12:34:56 via 127.0.0.1:9`. */
export function powerStepText(step: PowerStepResult): string {
  if (step.method === 'wake-on-lan') {
    return step.ok ? `wake-on-lan: magic packet to ${step.target}` : `wake-on-lan: ${step.reason}`;
  }
  const status = step.exitCode === null ? (step.reason ?? 'no exit status') : `exit ${step.exitCode}`;
  const out = lastOutputLine(step.output);
  return `${step.method}: ${status}${out && step.ok ? ` (${out})` : ''}`;
}

/**
 * A power action in one line, shared by the terminal and Discord: what, who or what triggered it,
 * and each step (method, exit status, the end of its output); the failure naming the method.
 */
export function powerEventText(event: PowerEvent): string {
  const who =
    event.trigger === 'recovery' ? "lab's recovery (it did not come back)" : (event.by ?? 'an operator');
  const steps = event.steps.map(powerStepText).join('; ');
  if (event.ok) return `${actionWords[event.action]} by ${who}: ${steps || 'done'}`;
  return `${actionWords[event.action]} by ${who} FAILED: ${event.reason ?? 'failed'}${steps ? ` [${steps}]` : ''}`;
}
