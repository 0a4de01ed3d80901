# tests/nix/images.nix — stand-ins for the `images` argument of nix/inventory.nix, as plain
# attribute sets (no nixpkgs here to evaluate a NixOS system, nor a kernel to build):
#
# - compute: shaped like a system evaluated with nix/image.nix (config.system.build.provdImage);
#   the trace fires when the generator first looks into it, and the test counts it (once,
#   however many nodes name it);
# - gpu: a system built with nixpkgs' netboot.nix but not nix/image.nix (the generator reads
#   the netboot files itself, as for the installer);
# - login: an image set already made (kernel/initrd by URL, as a site with its own image
#   server would give them).
#
# bootRoot is a directory the test fills with image/kernel/bzImage and image/ramdisk/initrd,
# because provd checks that local boot files exist.
{ bootRoot }:
let
  toplevel = name: "/nix/store/cccccccccccccccccccccccccccccccc-nixos-system-${name}";
in
{
  compute = {
    config = builtins.trace "provd-test: image compute evaluated" {
      system.build.provdImage = {
        kernel = "${bootRoot}/image/kernel/bzImage";
        initrd = [ "${bootRoot}/image/ramdisk/initrd" ];
        init = "${toplevel "compute"}/init";
        toplevel = toplevel "compute";
        cmdline = "console=ttyS0,115200 loglevel=4";
      };
    };
  };
  gpu = {
    config = {
      system.build = {
        kernel = { outPath = "${bootRoot}/image/kernel"; };
        netbootRamdisk = "${bootRoot}/image/ramdisk";
        toplevel = { outPath = toplevel "gpu"; };
      };
      system.boot.loader.kernelFile = "bzImage";
      boot.kernelParams = [ "nomodeset" ];
    };
  };
  login = {
    kernel = "http://images.cluster.example/login/bzImage";
    initrd = "http://images.cluster.example/login/initrd";
    init = "${toplevel "login"}/init";
    toplevel = toplevel "login";
  };
}
