# NixOS VM test of services.lab-orchestrator: the service starts with its local Redis on the
# unix socket, runs as a dynamic user, `lab status` reaches the queue, and SIGTERM stops it
# cleanly (exit status 0).
#
# NOT RUN where it was written (no nixpkgs there, no KVM): lab's CI runs the evaluation tests of
# test/module only. Run it with `nix build .#checks.x86_64-linux.vm-test -L`.
{ self, pkgs }:
pkgs.testers.runNixOSTest {
  name = "lab-orchestrator";

  nodes.machine = { pkgs, ... }: {
    imports = [ self.nixosModules.lab-orchestrator ];

    # The SSH key the way a secret manager provides one: a file outside the store, made at boot.
    systemd.services.lab-test-secrets = {
      wantedBy = [ "multi-user.target" ];
      requiredBy = [ "lab-orchestrator.service" ];
      before = [ "lab-orchestrator.service" ];
      serviceConfig = { Type = "oneshot"; RemainAfterExit = true; };
      path = [ pkgs.openssh ];
      script = ''
        install -d -m 0700 /run/secrets
        ssh-keygen -q -t ed25519 -N "" -f /run/secrets/lab-ssh-key
      '';
    };

    services.lab-orchestrator = {
      enable = true;
      # Never read: the test starts no run.
      flake = "/etc/homelab";
      ssh = {
        keyFile = "/run/secrets/lab-ssh-key";
        knownHosts = [ "db.lab.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxhYi1jaGVjay1ob3N0LWtleS1wbGFjZWhvbGRlcg" ];
      };
    };
  };

  testScript = ''
    machine.wait_for_unit("redis-lab.service")
    machine.wait_for_unit("lab-orchestrator.service")
    # Still running a few seconds later: the configuration was accepted (a bad variable, an
    # unreadable key or an unreachable Redis makes lab exit at start).
    machine.sleep(5)
    machine.succeed("systemctl is-active lab-orchestrator.service")
    machine.succeed("systemctl show -p DynamicUser --value lab-orchestrator | grep -qx yes")

    # Redis listens on its unix socket only; root reaches the queue through it.
    machine.fail("redis-cli -h 127.0.0.1 -p 6379 ping")
    machine.succeed("redis-cli -s /run/redis-lab/redis.sock config get maxmemory-policy | grep -qx noeviction")
    # The module's `lab` command is preset to that socket, the queue and the flake.
    machine.succeed("lab status")

    # SIGTERM: lab parks its runs and exits 0; the unit is stopped, not failed.
    machine.succeed("systemctl stop lab-orchestrator.service")
    machine.succeed("test \"$(systemctl show -p ExecMainStatus --value lab-orchestrator)\" = 0")
    machine.fail("systemctl is-failed lab-orchestrator.service")
  '';
}
