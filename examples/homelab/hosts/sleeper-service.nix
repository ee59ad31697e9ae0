{ ... }:
{
  networking.hostName = "sleeper-service";
  lab.machine = import ./sleeper-service.lab.nix;

  fileSystems."/" = { device = "/dev/disk/by-label/nixos"; fsType = "ext4"; };

  # Mostly idle: keeps a spare copy of the media library.
  services.syncthing.enable = true;
}
