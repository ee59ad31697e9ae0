{ ... }:
{
  networking.hostName = "web";
  lab.machine = import ./web.lab.nix;

  fileSystems."/" = { device = "/dev/disk/by-label/nixos"; fsType = "ext4"; };

  services.nginx = {
    enable = true;
    virtualHosts."web" = {
      default = true;
      locations."= /health".return = "200 'ok'";
      locations."/".proxyPass = "http://127.0.0.1:8080";
    };
  };
  networking.firewall.allowedTCPPorts = [ 80 ];
}
