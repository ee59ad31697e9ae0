# Only what the module requires: every other field takes its default.
{
  networking.hostName = "minimal";
  lab.machine = {
    role = "test";
    rebootOrder = 3;
  };
}
