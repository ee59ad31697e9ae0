# Power control through a BMC's commands and Wake-on-LAN, recovering by a power cycle.
{
  networking.hostName = "db";
  lab.machine = {
    role = "database";
    rebootOrder = 1;
    power = {
      wakeOnLan = { mac = "52:54:00:12:34:56"; address = "192.168.1.255"; };
      command = {
        off = [ "ipmitool" "-I" "lanplus" "-H" "db-bmc" "-U" "admin" "-E" "chassis" "power" "off" ];
        on = [ "ipmitool" "-I" "lanplus" "-H" "db-bmc" "-U" "admin" "-E" "chassis" "power" "on" ];
        environmentFile = "/run/credentials/lab-orchestrator.service/power-db";
      };
      recover = "power-cycle";
    };
  };
}
