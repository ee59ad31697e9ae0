import type { SshTarget } from '../../transport/ssh/errors.js';
import type { Machine } from '../inventory/schema.js';

/** Where to reach a machine: its `lab.machine.ssh`. */
export const sshTarget = (machine: Machine): SshTarget => ({ machine: machine.name, ...machine.ssh });
