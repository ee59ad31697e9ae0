{
  description = "lab: chat-ops orchestrator for NixOS homelabs (the lab package and its NixOS modules)";

  # nixpkgs is used only by the package, the app, the dev shell and the checks. The NixOS modules
  # need nothing but the configuration that imports them, and reading them never fetches
  # nixpkgs: Nix fetches a locked input only when something uses it (checked with Nix 2.8:
  # `nix eval <this flake>#nixosModules` and a homelab flake importing
  # `lab.nixosModules.lab-machine` evaluate offline). In your homelab flake, let lab use your
  # nixpkgs: `inputs.lab.inputs.nixpkgs.follows = "nixpkgs";`.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];

      # builtins only, not nixpkgs.lib.genAttrs: the attribute names of packages, apps,
      # devShells and checks (systems, then `default`, `lab`…) must be known without nixpkgs.
      # `nix eval <flake>#nixosModules` first looks for packages.<system>.nixosModules and
      # legacyPackages.<system>.nixosModules; if listing packages.<system> needed nixpkgs, that
      # look-up would fetch it.
      forAllSystems = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);

      pkgsFor = system: nixpkgs.legacyPackages.${system};
    in
    {
      nixosModules = {
        # Wrapped in `imports` (not the bare path) so that `nix flake check` of older Nix
        # versions, which accept only functions and attribute sets as modules, passes too.
        lab-machine = { imports = [ ./nix/modules/lab-machine.nix ]; };

        # services.lab-orchestrator, its package defaulting to this flake's for the host's system
        # (with `inputs.lab.inputs.nixpkgs.follows`, built from your nixpkgs). Imported by path
        # instead, the module builds the package with the host's pkgs (pkgs.callPackage).
        lab-orchestrator = { lib, pkgs, ... }:
          let system = pkgs.stdenv.hostPlatform.system;
          in {
            imports = [ ./nix/modules/lab-orchestrator.nix ];
            config.services.lab-orchestrator.package =
              lib.mkIf (self.packages ? ${system}) (lib.mkDefault self.packages.${system}.default);
          };

        default = self.nixosModules.lab-machine;
      };

      packages = forAllSystems (system: {
        default = self.packages.${system}.lab;
        lab = (pkgsFor system).callPackage ./nix/package.nix { };
      });

      apps = forAllSystems (system: {
        default = {
          type = "app";
          program = nixpkgs.lib.getExe self.packages.${system}.default;
          meta.description = "lab: ordered, health-gated reboots and deploys of a NixOS homelab";
        };
      });

      devShells = forAllSystems (system: {
        # What `npm test` needs: node and npm, nix, redis-server, sshd and ssh, git, ip and
        # unshare/nsenter (the simulated homelab). Node 22, not 20: see nix/package.nix.
        default = let pkgs = pkgsFor system; in pkgs.mkShell {
          packages = with pkgs; [ nodejs_22 nix redis openssh git iproute2 util-linux ];
        };
      });

      checks = forAllSystems (system: {
        package = self.packages.${system}.default;

        # A NixOS system with both modules and the orchestrator service enabled: evaluating it
        # runs every assertion of both modules, building it builds lab and the unit files.
        nixos-modules = (nixpkgs.lib.nixosSystem {
          modules = [
            self.nixosModules.lab-machine
            self.nixosModules.lab-orchestrator
            ./nix/tests/orchestrator-host.nix
            { nixpkgs.hostPlatform = system; }
          ];
        }).config.system.build.toplevel;

        # Boots a VM with the service and a local Redis (not run in lab's CI, which has no
        # nixpkgs; run it with `nix build .#checks.x86_64-linux.vm-test` on a machine with KVM).
        vm-test = import ./nix/tests/orchestrator-vm.nix { inherit self; pkgs = pkgsFor system; };
      });
    };
}
