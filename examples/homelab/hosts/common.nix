# Shared by every host: boot loader, SSH for the orchestrator, state version.
{ ... }:
{
  nixpkgs.hostPlatform = "x86_64-linux";

  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = true;

  fileSystems."/boot" = { device = "/dev/disk/by-label/BOOT"; fsType = "vfat"; };

  # lab reaches every machine over SSH (lab.machine.ssh, root by default).
  services.openssh = {
    enable = true;
    settings.PasswordAuthentication = false;
  };
  users.users.root.openssh.authorizedKeys.keys = [
    # Replace with the public key of the machine that runs lab.
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyReplaceMeWithTheOrchestratorsKey0 lab@orchestrator"
  ];

  time.timeZone = "UTC";
  system.stateVersion = "26.05";
}
