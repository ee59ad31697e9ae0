# recover = "power-cycle" without any way to power-cycle or wake the machine.
{
  networking.hostName = "nas";
  lab.machine = {
    role = "storage";
    rebootOrder = 1;
    power.recover = "power-cycle";
    power.command.status = [ "plug-cli" "status" ];
  };
}
