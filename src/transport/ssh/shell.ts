/**
 * Building remote command lines. Every value that is not a fixed part of lab's own commands is
 * quoted with {@link quote}; nothing from a flake or a chat message is pasted in raw.
 */

/** POSIX shell single-quoting: safe for any string, including quotes and newlines. */
export function quote(value: string): string {
  if (value !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A command line from a program and its arguments, each quoted. */
export function commandLine(program: string, ...args: readonly string[]): string {
  return [program, ...args].map(quote).join(' ');
}
