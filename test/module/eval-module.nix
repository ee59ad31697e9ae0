# Evaluates nix/modules/lab-machine.nix with the real nixpkgs module system (lib.evalModules),
# without nixpkgs: a stub module declares stand-ins for the few NixOS options the module reads.
#
#   nix-instantiate --eval --strict --json test/module/eval-module.nix \
#     --argstr lib /path/to/nixpkgs.lib --argstr host /abs/path/to/host-module.nix
#
# `lib` may be a checkout of nix-community/nixpkgs.lib or of nixpkgs (the directory holding
# lib/), or that lib/ directory itself. `host` is a NixOS-style module setting the host's options.
{ lib, host }:
let
  libDir =
    if builtins.pathExists (/. + lib + "/lib/default.nix") then /. + lib + "/lib" else /. + lib;
  nixpkgsLib = import libDir;
  inherit (nixpkgsLib) mkOption types;

  # Stand-ins for NixOS options, shaped like the real ones as far as the module uses them.
  stubModule = { config, ... }: {
    options = {
      networking.hostName = mkOption { type = types.str; default = "nixos"; };
      networking.domain = mkOption { type = types.nullOr types.str; default = null; };
      networking.fqdnOrHostName = mkOption {
        type = types.str;
        readOnly = true;
        default =
          if config.networking.domain == null then config.networking.hostName
          else "${config.networking.hostName}.${config.networking.domain}";
      };
      environment.etc = mkOption {
        type = types.attrsOf (types.submodule {
          options.text = mkOption { type = types.nullOr types.lines; default = null; };
        });
        default = { };
      };
      assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
      systemd.services = mkOption { type = types.attrsOf types.anything; default = { }; };
    };
  };

  evaluated = nixpkgsLib.evalModules {
    modules = [ ../../nix/modules/lab-machine.nix stubModule (/. + host) ];
  };
  inherit (evaluated) config options;

  # Every option under lab.machine, including those of the health check submodule (but not its
  # module-system internals).
  docs = builtins.filter (opt: !(nixpkgsLib.hasInfix "._module." opt.name))
    (nixpkgsLib.optionAttrSetToDocList options.lab.machine);
in
{
  machine = config.lab.machine // {
    healthChecks = map (check: builtins.removeAttrs check [ "_module" ]) config.lab.machine.healthChecks;
    orchestration = config.lab.machine.orchestration // {
      maintenanceWindow =
        let window = config.lab.machine.orchestration.maintenanceWindow;
        in if window == null then null else builtins.removeAttrs window [ "_module" ];
    };
  };
  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
  metadata = builtins.fromJSON config.environment.etc."lab-machine-metadata.json".text;
  options = map (opt: {
    inherit (opt) name;
    hasDescription = (opt.description or null) != null && opt.description != "";
    hasExample = opt ? example;
  }) docs;
}
