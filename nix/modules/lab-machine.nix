# lab-machine: orchestration metadata for one NixOS host.
#
# Every host managed by `lab` imports this module and declares `lab.machine`. The lab tool
# reads `nixosConfigurations.<host>.config.lab.machine` from the flake to plan ordered,
# health-gated reboots and deploys; the same data is written to /etc/lab-machine-metadata.json
# on the host itself.
#
# Descriptions are plain strings (no lib.mdDoc) so the module evaluates on old and new nixpkgs.
{ config, lib, ... }:

let
  inherit (lib) mkOption types literalExpression;

  cfg = config.lab.machine;

  healthCheckModule = { ... }: {
    options = {
      type = mkOption {
        type = types.enum [ "http" "tcp" "command" ];
        description = ''
          Kind of check. `http`: GET `url`, healthy on the expected status. `tcp`: a connection
          to `port` opens. `command`: `command` exits 0. Checks run from the machine's point of
          view (over the orchestrator's SSH connection), so `localhost` means the machine itself.
        '';
        example = "http";
      };
      url = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "URL an `http` check requests (required for `http`).";
        example = "http://localhost:80/health";
      };
      port = mkOption {
        type = types.nullOr types.port;
        default = null;
        description = "TCP port a `tcp` check connects to on the machine (required for `tcp`).";
        example = 5432;
      };
      command = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Shell command a `command` check runs on the machine over SSH; healthy when it exits 0 (required for `command`).";
        example = "systemctl is-active postgresql";
      };
      timeout = mkOption {
        type = types.ints.positive;
        default = 5;
        description = "Seconds one attempt of this check may take before it counts as failed.";
        example = 10;
      };
      expectStatus = mkOption {
        type = types.nullOr (types.ints.between 100 599);
        default = null;
        description = "HTTP status an `http` check expects; null accepts any 2xx status.";
        example = 204;
      };
    };
  };

  weekdays = [ "mon" "tue" "wed" "thu" "fri" "sat" "sun" ];
  localTime = types.strMatching "([01][0-9]|2[0-3]):[0-5][0-9]";

  maintenanceWindowModule = { ... }: {
    options = {
      days = mkOption {
        type = types.nonEmptyListOf (types.enum weekdays);
        default = weekdays;
        description = "Days of the week the window opens on (in `timeZone`); a window across midnight closes on the next day.";
        example = [ "sat" "sun" ];
      };
      start = mkOption {
        type = localTime;
        description = "Local time the window opens, `HH:MM` (24 h).";
        example = "01:00";
      };
      end = mkOption {
        type = localTime;
        description = "Local time the window closes, `HH:MM`; not after `start` means the next day (across midnight).";
        example = "05:00";
      };
      timeZone = mkOption {
        type = types.str;
        default = "UTC";
        description = "IANA time zone of `start` and `end` (daylight saving time included), checked by lab.";
        example = "Europe/Berlin";
      };
    };
  };

  plainWindow = window:
    if window == null then null
    else { inherit (window) days start end timeZone; };

  # Plain copies of the health checks: submodule values carry `_module`, which toJSON cannot render.
  plainHealthChecks = map
    (check: { inherit (check) type url port command timeout expectStatus; })
    cfg.healthChecks;

  required = { http = "url"; tcp = "port"; command = "command"; };

  healthCheckAssertions = lib.imap0
    (index: check:
      let
        field = required.${check.type};
        path = "lab.machine.healthChecks.${toString index}";
      in
      {
        assertion = check.${field} != null;
        message = "${path}: a ${check.type} check needs `${field}` (${path}.${field} is null)";
      })
    cfg.healthChecks;

  hostName = config.networking.hostName;
in
{
  imports = [ ./lab-machine-power.nix ];

  options.lab.machine = {
    role = mkOption {
      type = types.str;
      description = "What this machine is for, shown by `lab machines` and in Discord (free text).";
      example = "database";
    };

    groups = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Groups this machine belongs to; lab commands can select machines by group.";
      example = [ "storage" "critical-path" ];
    };

    rebootOrder = mkOption {
      type = types.int;
      description = ''
        Position in the reboot and deploy sequence: lower values go earlier. Machines with the
        same value form one stage, ordered within it by their dependencies, then by name.
      '';
      example = 2;
    };

    dependencies = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = ''
        Names (in `nixosConfigurations`) of machines this one needs: they are handled before it,
        in the same or an earlier stage. A dependency on a later stage, a cycle or an unknown name
        is a configuration error reported by lab.
      '';
      example = [ "db" ];
    };

    healthChecks = mkOption {
      type = types.listOf (types.submodule healthCheckModule);
      default = [ ];
      description = "Checks that must all pass after a reboot or deploy before lab moves on.";
      example = literalExpression ''
        [
          { type = "http"; url = "http://localhost:80/health"; }
          { type = "tcp"; port = 5432; timeout = 3; }
          { type = "command"; command = "systemctl is-active nginx"; }
        ]
      '';
    };

    orchestration = {
      deployStrategy = mkOption {
        type = types.enum [ "rolling" "blue-green" "recreate" ];
        default = "rolling";
        description = ''
          How a deploy reaches this machine. `rolling`: one machine at a time, health-gated,
          rolled back on failure. `blue-green`: `switch-to-configuration test`, check, then commit
          or revert. `recreate`: all recreate machines of a stage at once, checked together.
        '';
        example = "blue-green";
      };
      rebootDelay = mkOption {
        type = types.ints.unsigned;
        default = 600;
        description = "Seconds lab waits (announcing the reboot) before this machine reboots.";
        example = 60;
      };
      criticalityLevel = mkOption {
        type = types.enum [ "low" "medium" "high" "critical" ];
        default = "medium";
        description = "How critical the machine is; reboots of `high` and `critical` machines wait for approval.";
        example = "high";
      };
      maintenanceWindow = mkOption {
        type = types.nullOr (types.submodule maintenanceWindowModule);
        default = null;
        description = ''
          When lab may start this machine's reboot or activation in scheduled runs (and runs
          started with `--in-window`): `days` of the week, local `start` and `end` in `timeZone`;
          an `end` not after `start` runs across midnight. Null: the global window
          (LAB_MAINTENANCE_WINDOW), or any time when that is not set.
        '';
        example = literalExpression ''{ days = [ "sat" "sun" ]; start = "23:00"; end = "05:00"; timeZone = "Europe/Berlin"; }'';
      };
    };

    monitor = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Whether lab's monitor (in `lab serve` and `lab worker`) watches this machine between
          runs: reachability over SSH and its `healthChecks`, alerting after failures. false: it
          is checked only by runs and `lab health`.
        '';
        example = false;
      };
      interval = mkOption {
        type = types.nullOr (types.ints.between 1 86400);
        default = null;
        description = "Seconds between the monitor's checks of this machine; null: the monitor's default (`LAB_MONITOR_INTERVAL`, 60).";
        example = 30;
      };
      failureThreshold = mkOption {
        type = types.nullOr (types.ints.between 1 100);
        default = null;
        description = "Consecutive failing checks before the monitor reports this machine; null: the default (`LAB_MONITOR_FAILURES`, 3).";
        example = 5;
      };
      successThreshold = mkOption {
        type = types.nullOr (types.ints.between 1 100);
        default = null;
        description = "Consecutive passing checks before the monitor reports it recovered; null: the default (`LAB_MONITOR_SUCCESSES`, 2).";
        example = 3;
      };
    };

    ssh = {
      host = mkOption {
        type = types.str;
        default = config.networking.fqdnOrHostName;
        defaultText = literalExpression "config.networking.fqdnOrHostName";
        description = "Host name or address the orchestrator connects to over SSH.";
        example = "db.lab.example";
      };
      port = mkOption {
        type = types.port;
        default = 22;
        description = "SSH port of the machine.";
        example = 2222;
      };
      user = mkOption {
        type = types.str;
        default = "root";
        description = "User the orchestrator logs in as (root, or a user allowed to reboot and switch configurations).";
        example = "deploy";
      };
    };
  };

  config = {
    assertions = healthCheckAssertions ++ [
      {
        assertion = cfg.orchestration.maintenanceWindow == null
          || cfg.orchestration.maintenanceWindow.start != cfg.orchestration.maintenanceWindow.end;
        message = "lab.machine.orchestration.maintenanceWindow.end: equals start: the window would be empty";
      }
      {
        assertion = !(builtins.elem hostName cfg.dependencies);
        message = "lab.machine.dependencies: machine `${hostName}` lists itself (networking.hostName) as a dependency";
      }
    ];

    environment.etc."lab-machine-metadata.json".text = builtins.toJSON {
      hostname = hostName;
      services = lib.attrNames
        (lib.filterAttrs (_: service: service.enable or true) config.systemd.services);
      inherit (cfg) role groups rebootOrder dependencies;
      healthChecks = plainHealthChecks;
      orchestration = {
        inherit (cfg.orchestration) deployStrategy rebootDelay criticalityLevel;
        maintenanceWindow = plainWindow cfg.orchestration.maintenanceWindow;
      };
      ssh = { inherit (cfg.ssh) host port user; };
      monitor = { inherit (cfg.monitor) enable interval failureThreshold successThreshold; };
    };
  };
}
