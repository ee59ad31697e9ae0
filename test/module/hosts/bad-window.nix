# A maintenance window that opens and closes at the same time, and one whose time is no HH:MM.
{
  networking.hostName = "web";
  lab.machine = {
    role = "web";
    rebootOrder = 1;
    orchestration.maintenanceWindow = { start = "02:00"; end = "02:00"; };
  };
}
