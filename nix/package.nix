# The `lab` package: `npm run build` (tsc -> dist/) with the exact dependencies of
# package-lock.json, the `lab` binary wrapped so that it finds nix, git and ssh.
#
#   pkgs.callPackage ./nix/package.nix { }      # what the flake's packages.<system>.lab is
#
# Needs nixpkgs >= 24.05 (importNpmLock).
{
  lib,
  buildNpmPackage,
  importNpmLock,
  # Node.js 20, which the test suite runs on, reached end of life on 2026-04-30 and is marked
  # insecure in nixpkgs 26.05 (evaluating it fails). 22 is the oldest maintained LTS, the
  # closest to what the tests cover; lab needs >= 20.19 (package.json `engines`).
  nodejs_22,
  makeWrapper,
  nix,
  git,
  openssh,
}:
let
  package = lib.importJSON ../package.json;
in
buildNpmPackage {
  pname = package.name;
  inherit (package) version;

  # Only what the build reads: a change to the tests or the docs does not rebuild lab.
  # (builtins.path, not lib.fileset, which needs Nix >= 2.14: lab's tests check this with 2.8.)
  src = builtins.path {
    name = "lab-source";
    path = ../.;
    filter = path: _type:
      let relative = lib.removePrefix (toString ../. + "/") (toString path);
      in builtins.elem (builtins.head (lib.splitString "/" relative)) [
        "package.json"
        "package-lock.json"
        "tsconfig.json"
        "tsconfig.build.json"
        "src"
        "nix"
        # The run report picture's font (timeline-image.ts), installed beside dist/ ("files").
        "assets"
      ];
  };

  nodejs = nodejs_22;

  # No npmDepsHash to maintain: importNpmLock fetches each package of package-lock.json by its
  # own sha512 `integrity` (one fixed-output fetch per package). The lock has no `resolved`
  # URLs (npm's omit-lockfile-registry-resolved), which importNpmLock needs, so npm-lock.nix
  # puts back the registry URLs npm itself would use.
  npmDeps = importNpmLock {
    inherit package;
    packageLock = import ./npm-lock.nix (lib.importJSON ../package-lock.json);
  };
  npmConfigHook = importNpmLock.npmConfigHook;

  # No install scripts. The only runtime packages with one are ssh2 (an optional C++ binding
  # for a few ciphers, with a pure JavaScript fallback it uses when the binding is missing),
  # its optional dependency cpu-features (node-gyp; only used to order ciphers) and
  # msgpackr-extract (BullMQ's optional native msgpack, with a JavaScript fallback). Skipping
  # them keeps the build free of node-gyp, python and a C++ toolchain, and deterministic.
  # (npm install already runs with --ignore-scripts in the config hook; this is the rebuild.)
  npmRebuildFlags = [ "--ignore-scripts" ];

  nativeBuildInputs = [ makeWrapper ];

  # lab runs `nix eval`, `nix build` and `nix copy --to ssh-ng://…` (nix starts `ssh`), and nix
  # runs `git` for git flakes. --suffix, not --prefix: a nix already on PATH (the system's, the
  # same version as its daemon) is preferred; these are the fallback.
  postInstall = ''
    wrapProgram $out/bin/lab --suffix PATH : ${lib.makeBinPath [ nix git openssh ]}
  '';

  meta = {
    inherit (package) description;
    license = lib.licenses.mit;
    mainProgram = "lab";
    platforms = lib.platforms.linux;
  };
}
