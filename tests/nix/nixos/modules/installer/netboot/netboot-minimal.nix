# Stand-in for nixpkgs' nixos/modules/installer/netboot/netboot-minimal.nix (nix/installer.nix
# imports it through modulesPath): only what nix/inventory.nix reads from the installer, as
# netboot.nix defines it, pointing at a kernel and a ramdisk the test makes under ROOT/boot
# (provd checks that local boot files exist).  system.build.toplevel comes from
# tests/nix/nixos/system.nix, as for every system here.
{ testRoot, ... }:
{
  system.build = {
    kernel = "${testRoot}/boot/kernel"; # holds bzImage (system.boot.loader.kernelFile)
    netbootRamdisk = "${testRoot}/boot/ramdisk"; # holds initrd
  };
}
