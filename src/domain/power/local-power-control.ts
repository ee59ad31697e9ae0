import { readFile } from 'node:fs/promises';
import { sendUdp } from '../../transport/net/send-udp.js';
import { runArgv } from '../../transport/process/run-argv.js';
import { pause } from '../../util/pause.js';
import type { Machine } from '../inventory/schema.js';
import { PowerCommandError, PowerEnvironmentError } from './errors.js';
import { magicPacket } from './magic-packet.js';
import type {
  PowerActionOptions,
  PowerActionResult,
  PowerControl,
  PowerStepResult,
} from './power-control.js';
import {
  type PowerAction,
  type PowerStep,
  parseEnvironmentFile,
  powerSteps,
  redact,
  resolveArgv,
  stepMethod,
} from './power-steps.js';

export interface LocalPowerControlOptions {
  /** Between `off` and `on` of a cycle composed of both: the machine really loses power (default 5 s). */
  readonly cycleOffMs?: number;
}

/**
 * Power control from the orchestrator's host: Wake-on-LAN as a real UDP magic packet, and the
 * machine's argv commands run without a shell (execa), each with the machine's `command.timeout`,
 * its environment file's variables in its environment and for `${NAME}` in its arguments.
 */
export class LocalPowerControl implements PowerControl {
  private readonly cycleOffMs: number;

  constructor(options: LocalPowerControlOptions = {}) {
    this.cycleOffMs = options.cycleOffMs ?? 5_000;
  }

  on = (machine: Machine, options?: PowerActionOptions) => this.act(machine, 'on', options);
  off = (machine: Machine, options?: PowerActionOptions) => this.act(machine, 'off', options);
  cycle = (machine: Machine, options?: PowerActionOptions) => this.act(machine, 'cycle', options);
  status = (machine: Machine, options?: PowerActionOptions) => this.act(machine, 'status', options);

  private async act(
    machine: Machine,
    action: PowerAction,
    options: PowerActionOptions = {},
  ): Promise<PowerActionResult> {
    const steps = powerSteps(machine, action);
    const done: PowerStepResult[] = [];
    const result = (error: PowerActionResult['error']): PowerActionResult => ({
      machine: machine.name,
      action,
      ok: error === null,
      steps: done,
      error,
    });
    let env: Record<string, string> = {};
    if (steps.some((step) => step.method === 'command')) {
      const read = await this.environment(machine);
      if (read instanceof PowerEnvironmentError) return result(read);
      env = read;
    }
    // Once begun, an action is carried to its end: a cycle is never left half-way (off) by a cancel.
    if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
    for (const [index, step] of steps.entries()) {
      if (index > 0) await pause(this.cycleOffMs);
      const outcome = await this.step(machine, step, env);
      if (outcome instanceof PowerEnvironmentError) return result(outcome);
      done.push(outcome);
      if (!outcome.ok) {
        return result(new PowerCommandError(machine.name, outcome.method, outcome.reason ?? 'failed'));
      }
    }
    return result(null);
  }

  private async environment(machine: Machine): Promise<Record<string, string> | PowerEnvironmentError> {
    const file = machine.power?.command.environmentFile;
    if (!file) return {};
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      return new PowerEnvironmentError(
        machine.name,
        `cannot read lab.machine.power.command.environmentFile ${file} (${code})`,
      );
    }
    const env = parseEnvironmentFile(text);
    if ('badLine' in env) {
      return new PowerEnvironmentError(
        machine.name,
        `lab.machine.power.command.environmentFile ${file}, line ${env.badLine}: not a NAME=value line`,
      );
    }
    return env as Record<string, string>;
  }

  private async step(
    machine: Machine,
    step: PowerStep,
    env: Readonly<Record<string, string>>,
  ): Promise<PowerStepResult | PowerEnvironmentError> {
    const method = stepMethod(step);
    if (step.method === 'wake-on-lan') {
      const started = Date.now();
      const target = `${step.mac} via ${step.address}:${step.port}`;
      try {
        await sendUdp(magicPacket(step.mac), step.address, step.port);
        return {
          method,
          argv: null,
          target,
          exitCode: null,
          output: '',
          durationMs: Date.now() - started,
          ok: true,
          reason: null,
        };
      } catch (error) {
        const reason = `cannot send the magic packet to ${step.address}:${step.port}: ${(error as Error).message}`;
        return {
          method,
          argv: null,
          target,
          exitCode: null,
          output: '',
          durationMs: Date.now() - started,
          ok: false,
          reason,
        };
      }
    }
    const argv = resolveArgv(step.argv, env);
    if ('missing' in argv) {
      return new PowerEnvironmentError(
        machine.name,
        `lab.machine.power.command.${step.command} uses \${${argv.missing}}, which ${
          machine.power?.command.environmentFile ?? 'no environmentFile'
        } does not set`,
      );
    }
    const timeoutMs = (machine.power?.command.timeout ?? 60) * 1000;
    const run = await runArgv(argv, { timeoutMs, env });
    const output = redact(run.output, Object.values(env));
    const ok = run.exitCode === 0;
    const reason = ok
      ? null
      : run.startError
        ? `${step.argv[0]} did not start (${run.startError})`
        : run.timedOut
          ? `timed out after ${timeoutMs / 1000} s (lab.machine.power.command.timeout)`
          : run.signal
            ? `killed by ${run.signal}`
            : `exit code ${run.exitCode}${lastLine(output) ? `: ${lastLine(output)}` : ''}`;
    return {
      method,
      argv: step.argv,
      target: null,
      exitCode: run.exitCode,
      output,
      durationMs: run.durationMs,
      ok,
      reason,
    };
  }
}

/** The last non-empty line of the output, at most 200 characters. */
function lastLine(output: string): string {
  const line = output.trim().split('\n').at(-1)?.trim() ?? '';
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}
