# Each check lacks the field its type needs, and the machine depends on itself.
{
  networking.hostName = "web";
  lab.machine = {
    role = "web";
    rebootOrder = 1;
    dependencies = [ "db" "web" ];
    healthChecks = [
      { type = "http"; port = 80; }
      { type = "tcp"; url = "http://localhost"; }
      { type = "command"; }
      { type = "tcp"; port = 443; }
    ];
  };
}
