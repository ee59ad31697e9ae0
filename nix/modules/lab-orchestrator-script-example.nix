# Example: the seed's orchestrator script as a NixOS module (a systemd service and its timer).
# Not one of the flake's modules; import it by path and adapt it:
#
#   imports = [ "${lab}/nix/modules/lab-orchestrator-script-example.nix" ];
#   services.lab-rollout = {
#     enable = true;
#     flake = "/etc/nixos";
#     sshKeyFile = "/run/secrets/lab-ssh-key";
#     knownHostsFile = "/etc/ssh/ssh_known_hosts";
#   };
#
# Like the original script it deploys every machine, then reboots the machines one by one in
# the planned order, with lab's script-friendly commands: `lab deploy-all`,
# `lab get-reboot-sequence` (one `machine:rebootDelay` line per machine, in order) and
# `lab reboot <machine>`. The loop is what `lab reboot --all --yes` does in one run (one plan,
# one process, the same stop at the first failure); services.lab-orchestrator with
# `schedule.cron` (LAB_SCHEDULE) runs deploy-then-reboot as a durable queued run instead, with
# approvals, Discord messages, and a resume after a crash or a restart.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkOption mkEnableOption types literalExpression;

  cfg = config.services.lab-rollout;

  script = pkgs.writeShellScript "lab-rollout" ''
    set -euo pipefail
    lab=${lib.escapeShellArg (lib.getExe cfg.package)}

    # 1. Deploy every machine: everything is built first, then activated machine by machine,
    #    health-gated, rolled back on failure. --yes: nobody is there to confirm the high and
    #    critical machines. A failed deploy stops the script (set -e): nothing is rebooted.
    "$lab" deploy-all --yes

    # 2. Reboot the machines one at a time, in the planned order. The whole plan is read first,
    #    so a planning error stops the script here, before any reboot.
    sequence=$("$lab" get-reboot-sequence)
    while IFS=: read -r machine delay; do
      [ -n "$machine" ] || continue
      echo "lab-rollout: next: $machine (rebootDelay ''${delay}s)"
      # No sleep here: lab reboot waits the machine's rebootDelay itself, reboots it, and returns
      # once it is back with a new boot id and healthy. The machine name is only ever a quoted
      # argument. </dev/null: lab must not read the rest of the plan.
      if ! "$lab" reboot --yes "$machine" </dev/null; then
        echo "lab-rollout: the reboot of $machine failed; stopping, later machines untouched" >&2
        exit 1
      fi
    done <<<"$sequence"
    echo "lab-rollout: every machine deployed and rebooted"
  '';
in
{
  options.services.lab-rollout = {
    enable = mkEnableOption "the example rollout script: deploy every machine, then reboot them in order, on a timer";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ../package.nix { };
      defaultText = literalExpression ''pkgs.callPackage "''${lab}/nix/package.nix" { }'';
      description = "The lab package the script runs.";
      example = literalExpression "lab.packages.x86_64-linux.default";
    };

    flake = mkOption {
      type = types.str;
      description = "The homelab flake (`LAB_FLAKE`).";
      example = "/etc/nixos";
    };

    sshKeyFile = mkOption {
      type = types.str;
      description = ''
        The private SSH key lab logs in with: a string holding an absolute path outside the Nix
        store, e.g. /run/secrets/lab-ssh-key, readable by root (systemd hands the service a copy).
      '';
      example = "/run/secrets/lab-ssh-key";
    };

    knownHostsFile = mkOption {
      type = types.path;
      description = "The machines' host keys (`LAB_KNOWN_HOSTS`), e.g. the file programs.ssh.knownHosts writes.";
      example = "/etc/ssh/ssh_known_hosts";
    };

    startAt = mkOption {
      type = types.str;
      default = "Sun 04:00";
      description = "When the rollout runs (systemd OnCalendar=).";
      example = "*-*-* 03:00:00";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = lib.hasPrefix "/" cfg.sshKeyFile && !(lib.hasPrefix builtins.storeDir cfg.sshKeyFile);
        message = "services.lab-rollout.sshKeyFile must be an absolute path outside the Nix store, not `${cfg.sshKeyFile}`";
      }
    ];

    systemd.services.lab-rollout = {
      description = "lab: deploy every machine, then reboot them one by one in order";
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      environment = {
        LAB_FLAKE = cfg.flake;
        LAB_SSH_KEY = "%d/ssh-key";
        LAB_KNOWN_HOSTS = "%d/known-hosts";
        LAB_NIX = "${config.nix.package}/bin/nix";
        NIX_REMOTE = "daemon";
        HOME = "/var/lib/lab-rollout";
        LAB_CACHE_DIR = "/var/cache/lab-rollout";
        XDG_CACHE_HOME = "/var/cache/lab-rollout";
        # A root-owned git flake is "dubious ownership" to git under a dynamic user.
        GIT_CONFIG_COUNT = "1";
        GIT_CONFIG_KEY_0 = "safe.directory";
        GIT_CONFIG_VALUE_0 = "*";
      };
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "${script}";
        LoadCredential = [
          "ssh-key:${cfg.sshKeyFile}"
          "known-hosts:${cfg.knownHostsFile}"
        ];
        DynamicUser = true;
        StateDirectory = "lab-rollout";
        CacheDirectory = "lab-rollout";
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = "read-only";
        PrivateTmp = true;
        PrivateDevices = true;
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
        CapabilityBoundingSet = "";
        UMask = "0077";
        # Not MemoryDenyWriteExecute: Node.js's JIT needs writable and executable memory.
      };
    };

    systemd.timers.lab-rollout = {
      description = "lab: scheduled rollout (deploy, then ordered reboots)";
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = cfg.startAt;
        # A run missed while the orchestrator was off happens at its next start.
        Persistent = true;
      };
    };
  };
}
