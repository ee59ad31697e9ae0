# A small homelab managed by lab: five NixOS hosts, each importing the lab-machine module.
#
#   lab sequence --flake ./examples/homelab       # the reboot plan
#   nixos-rebuild build --flake .#db              # an ordinary NixOS configuration
#
# Each host's orchestration metadata lives in hosts/<name>.lab.nix (a plain attribute set),
# imported by hosts/<name>.nix into `lab.machine` and, unchanged, by offline/flake.nix: a copy
# of this inventory that evaluates without fetching nixpkgs.
{
  description = "Example homelab managed by lab";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    # The lab repository's own flake (this example lives two levels below it). In your own
    # homelab use e.g. "github:<owner>/lab".
    lab.url = "path:../..";
    # One nixpkgs for the hosts and for lab's package (lab's module itself needs none).
    lab.inputs.nixpkgs.follows = "nixpkgs";
  };

  outputs = { self, nixpkgs, lab }:
    let
      hosts = [ "sleeper-service" "nas" "db" "web" "router" ];
      mkHost = name: nixpkgs.lib.nixosSystem {
        modules = [
          lab.nixosModules.default
          ./hosts/common.nix
          ./hosts/${name}.nix
        ];
      };
    in
    {
      nixosConfigurations = nixpkgs.lib.genAttrs hosts mkHost;
    };
}
