# Power options of the wrong shape: each is an assertion naming the option.
{
  networking.hostName = "web";
  lab.machine = {
    role = "web";
    rebootOrder = 1;
    power = {
      wakeOnLan = { mac = "52:54:00:12:34"; };
      command = {
        on = [ ];
        off = [ "curl" "" ];
        environmentFile = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-power.env";
      };
    };
  };
}
