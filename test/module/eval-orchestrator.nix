# Evaluates nix/modules/lab-orchestrator.nix (or the script example) with the real nixpkgs module
# system (lib.evalModules), without nixpkgs: fake-nixpkgs/nixos-stub.nix declares stand-ins for
# the NixOS options the modules set, fake-nixpkgs/pkgs.nix stands in for `pkgs`.
#
#   nix-instantiate --eval --strict --json test/module/eval-orchestrator.nix \
#     --argstr lib /path/to/nixpkgs.lib --argstr module orchestrator \
#     --argstr config '{"services":{"lab-orchestrator":{"enable":true,…}}}' [--argstr labPath /some/dir]
#
# `config` is the host's configuration as JSON. `labPath`, if given, is the lab package's
# output path (a directory with bin/lab): the tests run the example's script with a stand-in.
# `extraModule` is the path of one more module (for values JSON cannot express).
{ lib, module ? "orchestrator", config ? "{}", labPath ? "", extraModule ? "" }:
let
  libDir =
    if builtins.pathExists (/. + lib + "/lib/default.nix") then /. + lib + "/lib" else /. + lib;
  nixpkgsLib = import libDir;

  modules = {
    orchestrator = ../../nix/modules/lab-orchestrator.nix;
    rollout = ../../nix/modules/lab-orchestrator-script-example.nix;
  };

  # A package whose bin/lab is whatever the test put at labPath.
  labPackage = {
    type = "derivation";
    name = "lab-test";
    outPath = labPath;
    meta.mainProgram = "lab";
  };

  evaluated = nixpkgsLib.evalModules {
    modules = [
      modules.${module}
      ./fake-nixpkgs/nixos-stub.nix
      (builtins.fromJSON config)
    ]
    ++ nixpkgsLib.optional (labPath != "") {
      services.lab-orchestrator.package = labPackage;
      services.lab-rollout.package = labPackage;
    }
    ++ nixpkgsLib.optional (extraModule != "") (/. + extraModule);
  };
  cfg = evaluated.config;

  # Every option the module declares, with whether it is documented.
  docs = builtins.filter (opt: !(nixpkgsLib.hasInfix "._module." opt.name))
    (nixpkgsLib.optionAttrSetToDocList
      (if module == "orchestrator" then evaluated.options.services.lab-orchestrator else evaluated.options.services.lab-rollout));

  # A store file the unit refers to (known_hosts, the script), as its text. The fake pkgs write
  # text files with builtins.toFile (this needs --read-write-mode); the context is dropped so
  # that reading never builds a (fake, unbuildable) package the string refers to.
  readIfStoreFile = path:
    let plain = builtins.unsafeDiscardStringContext path;
    in
    if builtins.isString path && nixpkgsLib.hasPrefix builtins.storeDir plain && builtins.pathExists plain
    then builtins.readFile plain
    else null;

  unitName = if module == "orchestrator" then "lab-orchestrator" else "lab-rollout";
  unit = cfg.systemd.services.${unitName} or null;
in
{
  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) cfg.assertions);
  inherit (cfg) warnings;
  inherit unit;
  timer = cfg.systemd.timers.${unitName} or null;
  redis = nixpkgsLib.mapAttrs
    (_: server: { inherit (server) enable user group port unixSocket appendOnly settings; })
    cfg.services.redis.servers;
  knownHosts = if unit == null then null else readIfStoreFile (unit.environment.LAB_KNOWN_HOSTS or null);
  script = if unit == null || module != "rollout" then null else readIfStoreFile unit.serviceConfig.ExecStart;
  # The scripts the module installs as commands (services.lab-orchestrator.cli).
  commands = map readIfStoreFile cfg.environment.systemPackages;
  options = map (opt: {
    inherit (opt) name;
    hasDescription = (opt.description or null) != null && opt.description != "";
    hasExample = opt ? example;
    hasDefault = opt ? default;
  }) docs;
}
