# A minimal host with both of lab's modules, for the flake's `checks.<system>.nixos-modules`:
# the orchestrator with Discord, a nightly schedule and its local Redis, and its own lab.machine
# metadata. Paths of secrets are strings; nothing is read from them while evaluating.
{
  fileSystems."/" = { device = "/dev/disk/by-label/nixos"; fsType = "ext4"; };
  boot.loader.grub.enable = false;
  system.stateVersion = "26.05";
  networking.hostName = "orchestrator";

  lab.machine = {
    role = "lab orchestrator";
    rebootOrder = 9;
    healthChecks = [ { type = "command"; command = "systemctl is-active lab-orchestrator"; } ];
  };

  services.lab-orchestrator = {
    enable = true;
    flake = "git+https://git.lab.example/homelab";
    ssh = {
      keyFile = "/run/secrets/lab-ssh-key";
      knownHosts = [ "db.lab.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxhYi1jaGVjay1ob3N0LWtleS1wbGFjZWhvbGRlcg" ];
    };
    schedule = { cron = "0 3 * * *"; timeZone = "Europe/Berlin"; };
    discord = {
      enable = true;
      tokenFile = "/run/secrets/discord-token";
      applicationId = "123456789012345678";
      guildIds = [ "234567890123456789" ];
      channelId = "345678901234567890";
      operatorRoleIds = [ "678901234567890123" ];
      approverRoleIds = [ "789012345678901234" ];
    };
  };
}
