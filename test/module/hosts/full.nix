# Every field set, on a host with a domain; two systemd services, one disabled.
{
  networking.hostName = "db";
  networking.domain = "lab.example";
  systemd.services.postgresql = { description = "PostgreSQL"; };
  systemd.services.sshd = { };
  systemd.services.old-backup = { enable = false; };
  lab.machine = {
    role = "database";
    groups = [ "data" "backup" ];
    rebootOrder = 2;
    dependencies = [ "nas" ];
    healthChecks = [
      { type = "tcp"; port = 5432; }
      { type = "http"; url = "http://localhost:8008/health"; expectStatus = 204; timeout = 2; }
      { type = "command"; command = "systemctl is-active postgresql"; }
    ];
    orchestration = {
      deployStrategy = "blue-green";
      rebootDelay = 60;
      criticalityLevel = "high";
      maintenanceWindow = { days = [ "sat" "sun" ]; start = "23:00"; end = "05:00"; timeZone = "Europe/Berlin"; };
    };
    monitor = { interval = 30; failureThreshold = 5; };
    ssh.port = 2222;
    ssh.user = "deploy";
  };
}
