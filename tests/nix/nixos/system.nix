# tests/nix/nixos/system.nix — stand-ins for what every NixOS system has and provd's nix/
# reads: system.build.toplevel (nixos/modules/system/activation/top-level.nix), here a real
# store file named as the real one (nixos-system-<hostName>), so that what refers to it
# carries it as a reference (`nix-store --query --references`); system.build.nixos-install
# (nixos/modules/installer/tools/tools.nix), a package the test makes (bin/nixos-install
# records its arguments).
{ config, pkgs, ... }:
let
  # top-level.nix: system.name defaults to the hostName, or "unnamed" when it is empty
  name = if config.networking.hostName == "" then "unnamed" else config.networking.hostName;
in
{
  system.build.toplevel = builtins.toFile "nixos-system-${name}" ''
    stand-in for the system of ${name}
  '';
  system.build.nixos-install = pkgs.nixos-install;
}
