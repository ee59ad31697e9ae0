import { describe, expect, it } from 'vitest';
import { FlakeNotFoundError, NixEvalError } from '../../src/errors.js';
import {
  flakeFailure,
  flakeUpdateArgs,
  nixErrorMessage,
  nixVersion,
  parseNixVersion,
} from '../../src/transport/process/nix.js';

describe('nixErrorMessage', () => {
  it('keeps the message and drops the source excerpt and hints', () => {
    const stderr = [
      "warning: Git tree '/x' is dirty",
      "error: attribute 'lab' missing",
      '',
      '       at «string»:1:73:',
      '',
      '            1| cs: builtins.mapAttrs (n: c: c.config.lab)',
      '             |                                          ^',
      "(use '--show-trace' to show detailed location information)",
    ].join('\n');
    expect(nixErrorMessage(stderr)).toBe("attribute 'lab' missing");
  });

  it('joins a message that spans lines', () => {
    expect(
      nixErrorMessage("error: The option `lab.machine.role' is used but not defined.\n       Define it.\n"),
    ).toBe("The option `lab.machine.role' is used but not defined. Define it.");
  });
});

describe('flakeFailure', () => {
  it('explains a missing flake', () => {
    const error = flakeFailure('/srv/lab', {
      exitCode: 1,
      message: "getting status of '/srv/lab': No such file or directory",
    });
    expect(error).toBeInstanceOf(FlakeNotFoundError);
    expect(error.message).toBe(
      "no flake at '/srv/lab': pass --flake with a directory containing flake.nix (or set LAB_FLAKE).",
    );
  });

  it('explains a flake.nix that git does not track', () => {
    const error = flakeFailure('.', {
      exitCode: 1,
      message:
        "getting status of '/nix/store/0ccnxa25whszw7mgbgyzdm4nqc0zwnm8-source/flake.nix': No such file or directory",
    });
    expect(error.message).toMatch(/git does not track: run 'git add flake.nix'/);
  });

  it('passes any other evaluation error on with the flake named', () => {
    const error = flakeFailure('.', { exitCode: 1, message: 'syntax error, unexpected end of file' });
    expect(error).toBeInstanceOf(NixEvalError);
    expect(error.message).toBe("nix could not evaluate flake '.': syntax error, unexpected end of file");
  });
});

describe('nix flake update across Nix versions', () => {
  it('passes the flake positionally before Nix 2.19 and with --flake from 2.19 on', () => {
    expect(parseNixVersion('nix (Nix) 2.8.0\n')).toEqual([2, 8, 0]);
    expect(parseNixVersion('nix (Nix) 2.24.10')).toEqual([2, 24, 10]);
    expect(parseNixVersion('nix (Determinate Nix 3.8.2) 2.30.1')).toEqual([2, 30, 1]);
    expect(flakeUpdateArgs([2, 8, 0], '/etc/homelab')).toEqual(['flake', 'update', '/etc/homelab']);
    expect(flakeUpdateArgs([2, 18, 9], '/etc/homelab')).toEqual(['flake', 'update', '/etc/homelab']);
    expect(flakeUpdateArgs([2, 19, 0], '/etc/homelab')).toEqual([
      'flake',
      'update',
      '--flake',
      '/etc/homelab',
    ]);
    expect(flakeUpdateArgs(null, '/etc/homelab')).toEqual(['flake', 'update', '/etc/homelab']);
  });

  it('reads the version of the real nix binary', async () => {
    const version = await nixVersion({ bin: 'nix', options: {} });
    expect(version?.[0]).toBeGreaterThanOrEqual(2);
    expect(version?.length).toBe(3);
  });
});
