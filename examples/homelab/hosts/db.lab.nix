# PostgreSQL: web depends on it, so it goes first within stage 2; reboots need approval.
{
  role = "postgres";
  groups = [ "data" ];
  rebootOrder = 2;
  dependencies = [ "nas" ];
  healthChecks = [
    { type = "tcp"; port = 5432; }
    { type = "command"; command = "systemctl is-active postgresql"; }
  ];
  orchestration = {
    deployStrategy = "blue-green";
    rebootDelay = 60;
    criticalityLevel = "high";
  };
}
