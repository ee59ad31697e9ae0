import { describe, expect, it } from 'vitest';
import { NixBuildUsersGroupError } from '../../src/errors.js';
import {
  buildUsersGroupRefusal,
  nixErrorMessage,
  withoutBuildUsersGroupWarning,
} from '../../src/transport/process/nix.js';

/** What Debian 12's nix 2.8, run as root with no group 'nixbld', prints when asked to build. */
const REFUSAL = [
  "warning: the group 'nixbld' specified in 'build-users-group' does not exist",
  'these 2 derivations will be built:',
  '  /nix/store/0ccnxa25whszw7mgbgyzdm4nqc0zwnm8-system-alpha.drv',
  "warning: the group 'nixbld' specified in 'build-users-group' does not exist",
  "error: the group 'nixbld' specified in 'build-users-group' does not exist",
].join('\n');

describe("nix's missing build-users-group", () => {
  it('recognises the refusal to build and names the group', () => {
    expect(buildUsersGroupRefusal(REFUSAL)).toBe('nixbld');
    expect(
      buildUsersGroupRefusal("error: the group 'builders' specified in 'build-users-group' does not exist\n"),
    ).toBe('builders');
  });

  it('does not take the warning alone, or another failure, for the refusal', () => {
    expect(
      buildUsersGroupRefusal(
        "warning: the group 'nixbld' specified in 'build-users-group' does not exist\nerror: attribute 'lab' missing\n",
      ),
    ).toBeNull();
    expect(buildUsersGroupRefusal("error: builder for '/nix/store/x-system-broken.drv' failed")).toBeNull();
    expect(buildUsersGroupRefusal('')).toBeNull();
  });

  it('drops the warning from what nix printed, and keeps everything else', () => {
    expect(withoutBuildUsersGroupWarning(REFUSAL).split('\n')).toEqual([
      'these 2 derivations will be built:',
      '  /nix/store/0ccnxa25whszw7mgbgyzdm4nqc0zwnm8-system-alpha.drv',
      "error: the group 'nixbld' specified in 'build-users-group' does not exist",
    ]);
    expect(withoutBuildUsersGroupWarning("warning: Git tree '/x' is dirty")).toBe(
      "warning: Git tree '/x' is dirty",
    );
  });

  it("never makes the warning nix's error message", () => {
    expect(
      nixErrorMessage("warning: the group 'nixbld' specified in 'build-users-group' does not exist\n"),
    ).toBe('nix failed without a message');
  });

  it('explains what to put in nix.conf, and the alternative', () => {
    const error = new NixBuildUsersGroupError('nixbld');
    expect(error.message).toBe(
      "nix refuses to build on this machine: its build-users-group setting names the group 'nixbld', which does not exist here. " +
        "For nix run as root without nix-daemon, put the line 'build-users-group =' in /etc/nix/nix.conf (lab's scripts/setup does this); " +
        "to build as build users instead (a multi-user install, with nix-daemon), create the group 'nixbld' with build users as its members (nixbld1, nixbld2, …), as nix's installer does",
    );
    expect(new NixBuildUsersGroupError('nixbld', '/srv/nix/nix.conf').message).toContain(
      "put the line 'build-users-group =' in /srv/nix/nix.conf",
    );
  });
});
