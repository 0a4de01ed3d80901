# Stand-in for nixpkgs' nixos/modules/installer/netboot/netboot.nix (nix/image.nix imports it
# through modulesPath): only the files nix/image.nix reads, as netboot.nix defines them
# (system.build.kernel, holding system.boot.loader.kernelFile; system.build.netbootRamdisk,
# holding initrd), pointing at a kernel and a ramdisk the test makes under ROOT/boot/image
# (provd checks that local boot files exist).  The real module also puts the root on tmpfs
# and the system's closure in a squashfs inside the ramdisk; nothing of that is evaluated
# or built here.  system.build.toplevel comes from tests/nix/nixos/system.nix.
{ testRoot, ... }:
{
  system.build = {
    kernel = "${testRoot}/boot/image/kernel";
    netbootRamdisk = "${testRoot}/boot/image/ramdisk";
  };
}
