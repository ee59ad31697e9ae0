# Stand-ins for NixOS options: those lab's modules read are declared with the real types' shapes
# (services.redis.servers as in nixos/modules/services/databases/redis.nix: user, group,
# unixSocket and port defaults); everything else a host sets is accepted as free-form data (not
# checked). `pkgs` is ./pkgs.nix for `nixpkgs.hostPlatform`, and system.build.toplevel, like
# NixOS's, refuses to exist while an assertion fails (and, unlike NixOS's, carries `config`).
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  anything = mkOption { type = types.anything; default = { }; };

  redisServer = { name, config, ... }: {
    options = {
      enable = mkOption { type = types.bool; default = false; };
      user = mkOption { type = types.str; default = "redis-${name}"; };
      group = mkOption { type = types.str; default = config.user; };
      port = mkOption { type = types.port; default = if name == "" then 6379 else 0; };
      unixSocket = mkOption { type = types.nullOr types.path; default = "/run/redis-${name}/redis.sock"; };
      appendOnly = mkOption { type = types.bool; default = false; };
      settings = mkOption {
        type = types.attrsOf (types.oneOf [ types.bool types.int types.str (types.listOf types.str) ]);
        default = { };
      };
    };
  };

  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
in
{
  config._module.freeformType = types.lazyAttrsOf types.anything;
  config._module.args.pkgs = import ./pkgs.nix { inherit lib; system = config.nixpkgs.hostPlatform; };

  options = {
    nixpkgs.hostPlatform = mkOption { type = types.str; default = "x86_64-linux"; };
    networking.hostName = mkOption { type = types.str; default = "nixos"; };
    networking.domain = mkOption { type = types.nullOr types.str; default = null; };
    networking.fqdnOrHostName = mkOption {
      type = types.str;
      readOnly = true;
      default =
        if config.networking.domain == null then config.networking.hostName
        else "${config.networking.hostName}.${config.networking.domain}";
    };
    networking.firewall = anything;
    networking.nat = anything;
    networking.interfaces = anything;
    environment.systemPackages = mkOption { type = types.listOf types.anything; default = [ ]; };
    environment.etc = mkOption {
      type = types.attrsOf (types.submodule {
        options.text = mkOption { type = types.nullOr types.lines; default = null; };
      });
      default = { };
    };
    assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
    warnings = mkOption { type = types.listOf types.str; default = [ ]; };
    nix.package = mkOption { type = types.package; default = config._module.args.pkgs.nix; };
    systemd.services = mkOption { type = types.attrsOf types.anything; default = { }; };
    systemd.timers = mkOption { type = types.attrsOf types.anything; default = { }; };
    services.redis.servers = mkOption { type = types.attrsOf (types.submodule redisServer); default = { }; };
    system.build.toplevel = mkOption {
      type = types.unspecified;
      readOnly = true;
      default =
        if failedAssertions != [ ] then
          throw "Failed assertions:\n${lib.concatMapStrings (m: "- ${m}\n") failedAssertions}"
        else
          derivation {
            name = "nixos-system-${config.networking.hostName}";
            system = config.nixpkgs.hostPlatform;
            builder = "/bin/false";
          }
          # For the tests: the configuration this system was made of.
          // { inherit config; };
    };
  };
}
