# tests/nix/configurations.nix — stand-ins for a cluster's evaluated nixosConfigurations,
# as plain attribute sets shaped like nixpkgs.lib.nixosSystem's result: only
# config.system.build.toplevel and config.system.build.provdInstallScript (set by
# nix/install-script.nix).  The spellings vary on purpose: a plain string, a
# derivation-like attribute set with outPath, and a real (never built) derivation, whose
# store path carries string context as a real toplevel does.
let
  sys = toplevel: install: { config.system.build = { inherit toplevel; provdInstallScript = install; }; };
  drv = name: derivation { inherit name; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "exit 1" ]; };
in
{
  node-01 = sys "/nix/store/22222222222222222222222222222222-nixos-system-node-01"
    "/nix/store/33333333333333333333333333333333-install-node-01";
  node-02 = sys { outPath = "/nix/store/44444444444444444444444444444444-nixos-system-node-02"; }
    { outPath = "/nix/store/55555555555555555555555555555555-install-node-02"; };
  node-03 = sys (drv "nixos-system-node-03") (drv "provd-install-node-03");
  # gpu-01's node entry names this configuration explicitly
  gpu = sys "/nix/store/66666666666666666666666666666666-nixos-system-gpu-01"
    "/nix/store/77777777777777777777777777777777-install-gpu-01/bin/install";
  # a configuration without the install script module
  bare = { config.system.build.toplevel = "/nix/store/88888888888888888888888888888888-nixos-system-bare"; };
}
