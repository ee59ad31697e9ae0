# The gateway: everything else is reached through it, so it reboots last, alone, after approval.
{
  role = "router";
  groups = [ "network" ];
  rebootOrder = 3;
  healthChecks = [
    { type = "tcp"; port = 53; timeout = 2; }
    { type = "command"; command = "systemctl is-active dnsmasq"; }
  ];
  orchestration = {
    deployStrategy = "blue-green";
    rebootDelay = 300;
    criticalityLevel = "critical";
  };
  ssh.host = "10.0.0.1";
}
