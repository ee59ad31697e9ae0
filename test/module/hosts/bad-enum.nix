# A criticality level the module does not know.
{
  networking.hostName = "bad";
  lab.machine = {
    role = "test";
    rebootOrder = 1;
    orchestration.criticalityLevel = "urgent";
  };
}
