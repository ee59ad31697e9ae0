# A stand-in for the nixpkgs flake, for tests only: nixpkgs cannot be fetched offline, but its
# lib can. The test copies a nixpkgs lib into ./lib next to this file (a temporary copy, never
# committed) and passes this flake with `--override-input nixpkgs`. `lib.nixosSystem` here runs
# the real module system (lib.evalModules) over the host's modules plus ./nixos-stub.nix, which
# stands in for the NixOS options the example's hosts set.
{
  description = "nixpkgs stand-in: nixpkgs lib with a stubbed lib.nixosSystem";

  outputs = { self }:
    let
      lib = import ./lib;
    in
    {
      lib = lib // {
        nixosSystem = { modules, specialArgs ? { }, ... }:
          lib.evalModules {
            inherit specialArgs;
            modules = modules ++ [ ./nixos-stub.nix ];
          };
      };
    };
}
