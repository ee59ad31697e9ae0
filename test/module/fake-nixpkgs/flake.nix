# A stand-in for the nixpkgs flake, for tests only: nixpkgs cannot be fetched offline, but its
# lib can. The test copies a nixpkgs lib into ./lib next to this file (a temporary copy, never
# committed) and passes this flake with `--override-input nixpkgs`. `lib.nixosSystem` here runs
# the real module system (lib.evalModules) over the host's modules plus ./nixos-stub.nix, which
# stands in for the NixOS options the example's hosts and lab's modules set; `legacyPackages`
# is ./pkgs.nix, unbuildable stand-ins for the few packages lab's flake uses.
{
  description = "nixpkgs stand-in: nixpkgs lib with a stubbed lib.nixosSystem and package set";

  outputs = { self }:
    let
      lib = import ./lib;
      systems = [ "x86_64-linux" "aarch64-linux" ];
    in
    {
      lib = lib // {
        nixosSystem = { modules, specialArgs ? { }, ... }:
          lib.evalModules {
            inherit specialArgs;
            modules = modules ++ [ ./nixos-stub.nix ];
          };
      };

      legacyPackages = lib.genAttrs systems (system: import ./pkgs.nix { inherit lib system; });
    };
}
