# lab-machine power control: how the orchestrator switches this machine on, off or through a
# power cycle when it does not come back from a reboot (or when an operator asks).
#
# Imported by lab-machine.nix; the options live under `lab.machine.power`. Nothing here runs on
# the machine itself: Wake-on-LAN packets are sent and commands run on the orchestrator's host.
{ config, lib, ... }:

let
  inherit (lib) mkOption types literalExpression;

  cfg = config.lab.machine.power;
  prefix = "lab.machine.power";

  # 00:11:22:aa:bb:cc or 00-11-22-AA-BB-CC (one separator throughout).
  macPattern = "([0-9A-Fa-f]{2})(:[0-9A-Fa-f]{2}){5}|([0-9A-Fa-f]{2})(-[0-9A-Fa-f]{2}){5}";

  argvOption = what: example: mkOption {
    type = types.nullOr (types.listOf types.str);
    default = null;
    description = ''
      Command that ${what}, as an argv list: the first element is the program (a name looked up
      in the orchestrator's PATH, or an absolute path), the rest its arguments. It runs on the
      orchestrator's host without a shell (no quoting, globbing or `$VAR` expansion by a shell);
      `''${NAME}` inside an argument is replaced by NAME from `environmentFile`. Exit status 0 is
      success. null: not available.
    '';
    inherit example;
  };

  methods = [ "on" "off" "cycle" "status" ];

  argvAssertions = lib.concatMap
    (method:
      let argv = cfg.command.${method}; path = "${prefix}.command.${method}";
      in lib.optionals (argv != null) [
        {
          assertion = argv != [ ] && builtins.all (word: word != "") argv;
          message = "${path}: must be a non-empty list of non-empty strings (the program, then its arguments), got ${builtins.toJSON argv}";
        }
      ])
    methods;

  wol = cfg.wakeOnLan;
  command = cfg.command;
  canCycle = command.cycle != null || (command.off != null && command.on != null);
in
{
  options.lab.machine.power = {
    wakeOnLan = mkOption {
      type = types.nullOr (types.submodule {
        options = {
          mac = mkOption {
            type = types.str;
            description = "MAC address of the network card that wakes the machine (six hex pairs, `:` or `-` between them).";
            example = "52:54:00:12:34:56";
          };
          address = mkOption {
            type = types.str;
            default = "255.255.255.255";
            description = "Address the magic packet is sent to over UDP: the broadcast address of the machine's network (default), or a directed broadcast such as 192.168.1.255.";
            example = "192.168.1.255";
          };
          port = mkOption {
            type = types.port;
            default = 9;
            description = "UDP port of the magic packet (9, discard, by convention; some cards use 7).";
            example = 7;
          };
        };
      });
      default = null;
      description = ''
        Wake-on-LAN: lab powers the machine on by sending a magic packet (6 bytes 0xFF, then the
        MAC 16 times) over UDP. Power on only; it cannot switch a machine off.
      '';
      example = literalExpression ''{ mac = "52:54:00:12:34:56"; address = "192.168.1.255"; }'';
    };

    command = {
      on = argvOption "switches the machine on" [ "ipmitool" "-I" "lanplus" "-H" "db-bmc.lab" "-U" "admin" "-E" "chassis" "power" "on" ];
      off = argvOption "switches the machine off (hard)" [ "ipmitool" "-I" "lanplus" "-H" "db-bmc.lab" "-U" "admin" "-E" "chassis" "power" "off" ];
      cycle = argvOption "power-cycles the machine (off, then on); when null and both `off` and `on` are set, lab runs `off` then `on`" [ "ipmitool" "-I" "lanplus" "-H" "db-bmc.lab" "-U" "admin" "-E" "chassis" "power" "cycle" ];
      status = argvOption "prints the power state (its output is shown as it is)" [ "ipmitool" "-I" "lanplus" "-H" "db-bmc.lab" "-U" "admin" "-E" "chassis" "power" "status" ];
      environmentFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = ''
          File on the orchestrator's host with `NAME=value` lines (comments with `#`) given to the
          power commands as their environment (e.g. IPMI_PASSWORD for `ipmitool -E`) and for
          `''${NAME}` in their arguments. A string, not a Nix path, so the secret is never copied
          to the Nix store: e.g. a file of agenix or sops-nix under /run, or a systemd credential
          of the orchestrator's service (`/run/credentials/lab-orchestrator.service/<name>`).
          lab reads it at each power action and never logs its values.
        '';
        example = "/run/credentials/lab-orchestrator.service/power-db";
      };
      timeout = mkOption {
        type = types.ints.positive;
        default = 60;
        description = "Seconds a power command may run before lab stops it and reports it failed.";
        example = 30;
      };
    };

    recover = mkOption {
      type = types.enum [ "never" "power-cycle" ];
      default = "never";
      description = ''
        What lab does when the machine does not come back within its reboot deadline.
        `never`: the run halts with an alert. `power-cycle`: lab first probes SSH once more with a
        full connect timeout (it never power-cycles a machine that answers), then power-cycles the
        machine once per run (`command.cycle`, `off` + `on`, or Wake-on-LAN when it is off), and
        waits again; only if it still does not come back does the run halt.
      '';
      example = "power-cycle";
    };
  };

  config.assertions = argvAssertions
    ++ lib.optionals (wol != null) [
    {
      assertion = builtins.match macPattern wol.mac != null;
      message = "${prefix}.wakeOnLan.mac: must be a MAC address such as 52:54:00:12:34:56 (six hex pairs), got \"${wol.mac}\"";
    }
    {
      assertion = wol.address != "";
      message = "${prefix}.wakeOnLan.address: must be an address to send the magic packet to, got \"\"";
    }
  ] ++ lib.optionals (command.environmentFile != null) [
    {
      assertion = lib.hasPrefix "/" command.environmentFile && !(lib.hasPrefix builtins.storeDir command.environmentFile);
      message = "${prefix}.command.environmentFile: must be an absolute path outside the Nix store (secrets never go to the store), got \"${command.environmentFile}\"";
    }
  ] ++ [
    {
      assertion = cfg.recover == "never" || canCycle || wol != null;
      message = "${prefix}.recover: \"power-cycle\" needs a way to do it: ${prefix}.command.cycle, ${prefix}.command.off and .on, or ${prefix}.wakeOnLan";
    }
  ];
}
