import type { Command } from 'commander';
import type { Style } from '../render/style.js';

/** Where commands write; the CLI's only contact with stdout. */
export interface Output {
  readonly style: Style;
  lines(lines: readonly string[]): void;
  json(value: unknown): void;
}

/** What a command gets from the process it runs in. */
export interface Context {
  readonly output: Output;
  readonly env: NodeJS.ProcessEnv;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** --flake, --nix, --nix-option, --no-cache: every command that reads the flake has them. */
export function withFlakeOptions(command: Command): Command {
  return command
    .option('-f, --flake <flake>', 'flake with nixosConfigurations (default: $LAB_FLAKE or .)')
    .option('--nix <path>', 'nix binary (default: $LAB_NIX or nix)')
    .option('--nix-option <name=value>', 'extra nix option, repeatable (e.g. substituters=)', collect)
    .option('--no-cache', 'evaluate the flake even if the cached result is current');
}
