# A maintenance window whose start is not a time HH:MM.
{
  networking.hostName = "web";
  lab.machine = {
    role = "web";
    rebootOrder = 1;
    orchestration.maintenanceWindow = { start = "2am"; end = "05:00"; };
  };
}
