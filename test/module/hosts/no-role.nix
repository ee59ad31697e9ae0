# role and rebootOrder have no default: leaving role out is an error.
{
  networking.hostName = "anonymous";
  lab.machine.rebootOrder = 1;
}
