# nix/image.nix — a provd netboot IMAGE for stateless nodes: a node-profile NixOS
# configuration built for netboot (nixpkgs' nixos/modules/installer/netboot/netboot.nix:
# root on tmpfs, the system's closure as a squashfs in the ramdisk), with the node identity
# taken from provd's per-node overlay (nix/stateless.nix, imported and enabled here).
# Evaluate it ONCE per profile and hand the result to nix/inventory.nix as one of `images`:
#
#   images.compute = nixpkgs.lib.nixosSystem {
#     system = "x86_64-linux";
#     modules = [ ./compute-profile.nix "${provd}/nix/image.nix" ];
#   };
#
# Every stateless node naming the image ("image": "compute") boots these same files; what
# differs per node is in the overlay provd builds.  The result, in
# config.system.build.provdImage, is exactly an entry of the inventory's "images" section:
#
#   { kernel   = "${config.system.build.kernel}/${config.system.boot.loader.kernelFile}";
#     initrd   = [ "${config.system.build.netbootRamdisk}/initrd" ];
#     init     = "${config.system.build.toplevel}/init";
#     toplevel = "${config.system.build.toplevel}";
#     cmdline  = toString config.boot.kernelParams; }
#
# (the files netboot.nix's own netboot.ipxe boots: kernel, initrd, init= and
# boot.kernelParams).  provd appends init=<init> and its provd.* keys to the cmdline and the
# node's overlay to the initrds.
#
# CI evaluates it through the real module system with a stand-in netboot.nix (no nixpkgs
# package set, no kernel build here); the image is never built or booted in CI: nix/README.md.
{ config, modulesPath, ... }:

let
  build = config.system.build;
in
{
  imports = [
    (modulesPath + "/installer/netboot/netboot.nix")
    ./stateless.nix
  ];

  config = {
    provd.stateless.enable = true;

    system.build.provdImage = {
      kernel = "${build.kernel}/${config.system.boot.loader.kernelFile}";
      initrd = [ "${build.netbootRamdisk}/initrd" ];
      init = "${build.toplevel}/init";
      toplevel = "${build.toplevel}";
      cmdline = toString config.boot.kernelParams;
    };
  };
}
