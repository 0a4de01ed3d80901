# tests/nix/installer.nix — a stand-in for an evaluated netboot installer system
# (nixpkgs.lib.nixosSystem { modules = [ nix/installer.nix ]; }), as plain attribute sets:
# only the attributes nix/inventory.nix reads.  bootRoot is a directory the test fills with
# kernel/bzImage and ramdisk/initrd, because provd checks local boot files exist.
#
# The trace fires when the generator first looks into the installer; the test counts it
# (once, however many nodes).
{ bootRoot }:
{
  config = builtins.trace "provd-test: installer config evaluated" {
    system.build = {
      kernel = { outPath = "${bootRoot}/kernel"; };
      netbootRamdisk = "${bootRoot}/ramdisk";
      toplevel = { outPath = "/nix/store/11111111111111111111111111111111-nixos-system-installer"; };
    };
    system.boot.loader.kernelFile = "bzImage";
    boot.kernelParams = [ "console=ttyS0,115200" "loglevel=4" ];
  };
}
