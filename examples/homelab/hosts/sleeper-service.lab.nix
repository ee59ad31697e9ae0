# A spare machine nobody depends on: reboots first, at once, without approval.
{
  role = "sleeper";
  groups = [ "spare" ];
  rebootOrder = 1;
  healthChecks = [
    { type = "command"; command = "test -e /run/current-system"; }
  ];
  orchestration = {
    deployStrategy = "recreate";
    rebootDelay = 0;
    criticalityLevel = "low";
  };
}
