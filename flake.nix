{
  description = "lab: chat-ops orchestrator for NixOS homelabs (the lab-machine NixOS module)";

  # No inputs: the module needs nothing but the NixOS configuration that imports it, so the
  # flake evaluates offline.
  outputs = { self }: {
    nixosModules = {
      # Wrapped in `imports` (not the bare path) so that `nix flake check` of older Nix
      # versions, which accept only functions and attribute sets as modules, passes too.
      lab-machine = { imports = [ ./nix/modules/lab-machine.nix ]; };
      default = self.nixosModules.lab-machine;
    };
  };
}
