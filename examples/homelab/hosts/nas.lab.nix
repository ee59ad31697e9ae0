# Storage for the others (db writes its backups here): reboots in the first stage.
{
  role = "storage";
  groups = [ "storage" ];
  rebootOrder = 1;
  healthChecks = [
    { type = "tcp"; port = 2049; timeout = 3; }
    { type = "command"; command = "mountpoint -q /srv/data"; }
  ];
  orchestration = {
    rebootDelay = 120;
    criticalityLevel = "medium";
  };
}
