{ ... }:
{
  networking.hostName = "nas";
  lab.machine = import ./nas.lab.nix;

  fileSystems."/" = { device = "/dev/disk/by-label/nixos"; fsType = "ext4"; };
  fileSystems."/srv/data" = { device = "/dev/disk/by-label/data"; fsType = "ext4"; };

  services.nfs.server = {
    enable = true;
    exports = ''
      /srv/data 10.0.0.0/24(rw,no_subtree_check)
    '';
  };
  networking.firewall.allowedTCPPorts = [ 2049 ];
}
