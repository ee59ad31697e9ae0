#!/usr/bin/env node
// A simulated machine's power switch, as a power command of lab.machine.power.command runs it:
//   power-switch.mjs <power.sock> on|off|cycle|status     talks to the machine's switch
//   power-switch.mjs --fail <message>                      a switch that cannot be reached
// Prints the switch's answer; exits 0 when it did what was asked, else 1 (or 2 unreachable).
import { connect } from 'node:net';

const [first, second] = process.argv.slice(2);
if (first === '--fail') {
  console.error(second ?? 'power switch unreachable');
  process.exit(2);
}
const socket = connect(first);
let answer = '';
socket.on('data', (chunk) => {
  answer += chunk;
});
socket.on('error', (error) => {
  console.error(`power switch at ${first} unreachable: ${error.message}`);
  process.exit(2);
});
socket.on('connect', () => socket.write(`${second}\n`));
socket.on('end', () => {
  const line = answer.trim();
  console.log(line.replace(/^(ok|error) /, ''));
  process.exit(line.startsWith('ok') ? 0 : 1);
});
