# nix/stateless.nix — NixOS module for STATELESS nodes: the node takes its identity from the
# overlay provd appends to its image's initrds on every network boot (daemon/overlay.h):
#
#   etc/hostname                   the node's name
#   var/lib/provd-node/{node,url,credential}
#   <each per-node file of the inventory's overlay.files>, with its mode, uid and gid
#   etc/provd/overlay.manifest     every path above, absolute, one per line
#
# Linux unpacks the concatenated initrds into the stage-1 initramfs, so these files are in
# stage 1's root (/), not in the real root.  This module:
#
# - in stage 1 (scripted initrd: boot.initrd.postMountCommands, run by stage-1-init.sh once
#   every file system is mounted under $targetRoot and before stage 2 starts), copies every
#   path the manifest lists, and the manifest, from the initramfs into $targetRoot with
#   `cp -p` (mode, owner, group and times kept).  The initramfs copies vanish at
#   switch_root, which empties the initramfs; the real root of a netboot image is a tmpfs,
#   so the credential lives in RAM only.  systemd's initrd (boot.initrd.systemd.enable) is not
#   supported: an assertion says so (its stage 1 does not run postMountCommands);
# - leaves the hostname to the overlay: networking.hostName = "" (NixOS then writes no
#   /etc/hostname of its own, nixos/modules/tasks/network-interfaces.nix), and systemd sets
#   the hostname from /etc/hostname when it starts; an assertion refuses another hostName,
#   which would replace the overlay's file on activation;
# - enables services.provd-node (nix/node.nix): it reads /var/lib/provd-node/{url,node,
#   credential} exactly as on an installed node and reports at every boot, which is what
#   moves the node from `booting` to `running` in provd (then on activations and on its timer).
#
# A manifest line that is not an absolute clean path, or names something that is not a
# regular file in the initramfs, is skipped with a message on the console; a node booted
# without an overlay (no manifest) boots without its identity, says so, and its reporter is
# skipped (ConditionPathExists=).  Nothing here stops the boot: provd's boot deadline marks a
# node that never reports `failed`, with the console tail.
#
# Imported by nix/image.nix (which enables it); CI evaluates it through the real module
# system and runs the rendered stage-1 script in a busybox chroot on a real cpio overlay
# (tests/integration/nix-module.sh).
{ config, lib, ... }:

let
  cfg = config.provd.stateless;

  # POSIX sh for stage 1's ash (busybox/coreutils of extra-utils).  A function whose body is a
  # subshell, so its umask and variables stay its own.  $1: the root the overlay was unpacked
  # into ("/" in stage 1), $2: the real root.
  copyScript = ''
    # provd: this node's identity and per-node files, from the overlay in the initramfs into
    # the real root (nix/stateless.nix)
    provd_overlay_copy() (
      umask 022
      src=''${1%/} dst=$2 manifest=/etc/provd/overlay.manifest n=0
      if [ ! -f "$src$manifest" ]; then
        echo "provd: no overlay in the initramfs ($manifest missing): this node boots without its identity"
        exit 0
      fi
      while IFS= read -r p || [ -n "$p" ]; do
        case $p in
        "") continue ;;
        /*) ;;
        *) echo "provd: overlay manifest line '$p' is not an absolute path: skipped"; continue ;;
        esac
        case "$p/" in
        */../* | */./* | *//*) echo "provd: overlay manifest path '$p' is not clean: skipped"; continue ;;
        esac
        if [ -L "$src$p" ] || [ ! -f "$src$p" ]; then
          echo "provd: overlay manifest path $p is not a regular file in the initramfs: skipped"
          continue
        fi
        if mkdir -p "$dst''${p%/*}" && rm -f "$dst$p" && cp -p "$src$p" "$dst$p"; then
          n=$((n + 1))
        else
          echo "provd: cannot copy overlay file $p into $dst"
        fi
      done <"$src$manifest"
      mkdir -p "$dst/etc/provd" && cp -p "$src$manifest" "$dst$manifest" ||
        echo "provd: cannot copy $manifest into $dst"
      echo "provd: overlay: $n file(s) copied into $dst"
    )
    provd_overlay_copy / "$targetRoot"
  '';
in
{
  imports = [ ./node.nix ];

  options.provd.stateless = {
    enable = lib.mkEnableOption ''
      a stateless node: hostname, provd node identity and per-node files come from the
      overlay provd appends to the image's initrds on every boot (nix/image.nix enables it)
    '';
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = config.networking.hostName == "";
        message = "provd.stateless: networking.hostName is \"${config.networking.hostName}\": a stateless node takes its hostname from provd's overlay (/etc/hostname); leave networking.hostName empty in the image";
      }
      {
        assertion = !config.boot.initrd.systemd.enable;
        message = "provd.stateless: boot.initrd.systemd.enable is set, but provd copies the overlay into the real root with the scripted initrd's boot.initrd.postMountCommands; use the scripted initrd in stateless images";
      }
    ];

    networking.hostName = lib.mkDefault "";

    boot.initrd.postMountCommands = copyScript;

    services.provd-node.enable = lib.mkDefault true;
  };
}
