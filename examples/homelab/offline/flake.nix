# The homelab example's inventory without nixpkgs: plain attribute sets shaped like evaluated
# NixOS configurations (`nixosConfigurations.<name>.config`), so lab can read it offline:
#
#   lab sequence --flake ./examples/homelab/offline
#
# The metadata is imported from ../hosts/<name>.lab.nix, the same files the real configurations
# (../flake.nix) put into `lab.machine`, so the two never drift. Because of that relative import
# this flake must be evaluated from a git checkout (with the files tracked) or from a copy of the
# whole example directory that is a git repository: as a bare `path:` flake, the offline/
# directory alone would be copied to the store without ../hosts.
{
  description = "Example homelab inventory for lab, evaluable without nixpkgs";

  outputs = { self }:
    let
      hosts = [ "sleeper-service" "nas" "db" "web" "router" ];
      # What the lab-machine module would give: ssh.host defaults to the host name.
      host = name:
        let machine = import ../hosts/${name}.lab.nix;
        in {
          config = {
            networking.hostName = name;
            lab.machine = machine // { ssh = { host = name; } // (machine.ssh or { }); };
          };
        };
    in
    {
      nixosConfigurations = builtins.listToAttrs
        (map (name: { inherit name; value = host name; }) hosts);
    };
}
