# Stand-ins for NixOS options: those the lab-machine module reads are declared with the real
# types' shapes; everything else a host sets is accepted as free-form data (not checked).
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  anything = mkOption { type = types.anything; default = { }; };
in
{
  config._module.freeformType = types.lazyAttrsOf types.anything;

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
    networking.firewall = anything;
    networking.nat = anything;
    networking.interfaces = anything;
    environment.etc = mkOption {
      type = types.attrsOf (types.submodule {
        options.text = mkOption { type = types.nullOr types.lines; default = null; };
      });
      default = { };
    };
    assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
    systemd.services = mkOption { type = types.attrsOf types.anything; default = { }; };
  };
}
