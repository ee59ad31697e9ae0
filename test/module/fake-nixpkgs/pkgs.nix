# A stand-in for nixpkgs' package set, for tests only: just what lab's flake and modules use.
# Packages are real but unbuildable derivations (builder /bin/false): they instantiate, so
# `nix flake check --no-build` accepts them, and they record the arguments they were made with
# (`fakeArgs`) for the tests to inspect. Text files are real store files (builtins.toFile), so
# the tests can read what a module writes.
{ lib, system }:
let
  fake = name: fakeArgs:
    derivation {
      inherit name system;
      builder = "/bin/false";
    } // { inherit fakeArgs; meta = fakeArgs.meta or { }; };

  tool = name: fake name { };

  # toFile cannot refer to derivation outputs; the tests only read the text.
  textFile = name: text: builtins.toFile name (builtins.unsafeDiscardStringContext text);

  self = {
    inherit lib system;
    stdenv.hostPlatform.system = system;
    callPackage = lib.callPackageWith self;

    buildNpmPackage = args: fake "${args.pname}-${args.version}" args;
    importNpmLock = {
      __functor = _: args: fake "npm-deps" args;
      npmConfigHook = tool "npm-config-hook";
    };
    mkShell = args: fake "nix-shell" args;
    testers.runNixOSTest = args: fake "vm-test-run-${args.name}" args;

    writeText = textFile;
    writeShellScript = name: text: textFile name "#!/usr/bin/env bash\n${text}";
    # The script itself, not a directory with bin/<name>: the tests read and run it.
    writeShellScriptBin = name: text: textFile name "#!/usr/bin/env bash\n${text}";

    nodejs_22 = tool "nodejs-22";
    makeWrapper = tool "make-wrapper";
    nix = tool "nix";
    git = tool "git";
    openssh = tool "openssh";
    redis = tool "redis";
    iproute2 = tool "iproute2";
    util-linux = tool "util-linux";
  };
in
self
