{ ... }:
{
  networking.hostName = "db";
  lab.machine = import ./db.lab.nix;

  fileSystems."/" = { device = "/dev/disk/by-label/nixos"; fsType = "ext4"; };
  fileSystems."/mnt/backup" = {
    device = "nas:/srv/data";
    fsType = "nfs";
    options = [ "x-systemd.automount" "noauto" ];
  };

  services.postgresql = {
    enable = true;
    enableTCPIP = true;
    ensureDatabases = [ "app" ];
    ensureUsers = [ { name = "app"; ensureDBOwnership = true; } ];
    authentication = ''
      host app app 10.0.0.0/24 scram-sha-256
    '';
  };
  networking.firewall.allowedTCPPorts = [ 5432 ];
}
