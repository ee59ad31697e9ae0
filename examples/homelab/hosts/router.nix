{ ... }:
{
  networking.hostName = "router";
  lab.machine = import ./router.lab.nix;

  fileSystems."/" = { device = "/dev/disk/by-label/nixos"; fsType = "ext4"; };

  boot.kernel.sysctl."net.ipv4.ip_forward" = 1;
  networking.nat = {
    enable = true;
    externalInterface = "wan0";
    internalInterfaces = [ "lan0" ];
  };
  networking.interfaces.lan0.ipv4.addresses = [ { address = "10.0.0.1"; prefixLength = 24; } ];
  services.dnsmasq = {
    enable = true;
    settings = {
      interface = "lan0";
      dhcp-range = [ "10.0.0.100,10.0.0.200,12h" ];
    };
  };
  networking.firewall.interfaces.lan0.allowedTCPPorts = [ 53 ];
  networking.firewall.interfaces.lan0.allowedUDPPorts = [ 53 67 ];
}
