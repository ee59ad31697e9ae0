# The web front end: same stage as db, after it (it depends on db).
{
  role = "web";
  groups = [ "frontend" ];
  rebootOrder = 2;
  dependencies = [ "db" ];
  healthChecks = [
    { type = "http"; url = "http://localhost:80/health"; expectStatus = 200; }
  ];
  orchestration = {
    rebootDelay = 30;
    criticalityLevel = "medium";
  };
}
