# nix/install-script.nix — NixOS module for the NODES (not the installer): builds
# config.system.build.provdInstallScript, the script provd hands the installer as
# `nixos.install=` (nix/inventory.nix reads it from each node's configuration).
#
# The script follows installer/README.md's contract: run as root by provd-autoinstall in the
# netboot installer, with PROVD_REPORT (an executable: `"$PROVD_REPORT" PHASE MESSAGE`) in
# the environment; exit 0 on success.  It runs provd.install.partitionScript (partition,
# format, mount the target at provd.install.root — e.g. disko's
# config.system.build.diskoScript), then `nixos-install --system <this toplevel>`.
#
# CI evaluates it through the real NixOS module system and runs the script against a
# recording nixos-install (tests/integration/nix-module.sh).
{ config, lib, pkgs, ... }:

let
  cfg = config.provd.install;
  toplevel =
    if cfg.systemInScriptClosure then "${config.system.build.toplevel}"
    else builtins.unsafeDiscardStringContext "${config.system.build.toplevel}";
in
{
  options.provd.install = {
    partitionScript = lib.mkOption {
      type = lib.types.lines;
      example = lib.literalExpression ''"''${config.system.build.diskoScript}"'';
      description = ''
        Shell commands (bash, `set -euo pipefail`) that partition and format the node's
        disks and mount the target file systems under {option}`provd.install.root`.  They
        run as root in the netboot installer, with {option}`provd.install.extraPackages` on
        PATH.  Reported to provd as phase "partitioning".
      '';
    };

    root = lib.mkOption {
      type = lib.types.str;
      default = "/mnt";
      description = "Where partitionScript mounts the target; passed to nixos-install --root.";
    };

    extraPackages = lib.mkOption {
      type = lib.types.listOf lib.types.package;
      default = with pkgs; [ util-linux parted gptfdisk e2fsprogs dosfstools ];
      defaultText = lib.literalExpression "with pkgs; [ util-linux parted gptfdisk e2fsprogs dosfstools ]";
      description = "Packages on the install script's PATH (besides nixos-install, nix and coreutils).";
    };

    extraInstallArgs = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      example = [ "--max-jobs" "4" ];
      description = "Extra arguments to nixos-install.";
    };

    postInstall = lib.mkOption {
      type = lib.types.lines;
      default = "";
      description = "Shell commands run after nixos-install succeeded (target still mounted).";
    };

    systemInScriptClosure = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Whether the install script refers to the node's system with its Nix string context.
        true: realising the script (provd-autoinstall runs nix-store --realise) fetches the
        whole system into the installer's RAM-backed store first, then nixos-install copies
        it to the target — simple, but the installer needs RAM for the whole closure.
        false: the script names the system as a plain path, and nixos-install substitutes it
        from the binary cache straight into the target store; the site must make sure the
        system itself is in the cache (it is when the cache is filled from the
        nixosConfigurations' toplevels).
      '';
    };
  };

  config.system.build.provdInstallScript = pkgs.writeShellScript "provd-install-${config.networking.hostName}" ''
    set -euo pipefail
    export PATH=${lib.makeBinPath ([ config.system.build.nixos-install config.nix.package pkgs.coreutils ] ++ cfg.extraPackages)}:$PATH

    report() {
      if [ -n "''${PROVD_REPORT:-}" ]; then "$PROVD_REPORT" "$@" || true; fi
    }

    report partitioning "partitioning and mounting ${cfg.root}"
    ${cfg.partitionScript}

    report installing "nixos-install ${toplevel}"
    nixos-install --root ${lib.escapeShellArg cfg.root} --system ${toplevel} \
      --no-root-passwd --no-channel-copy ${lib.escapeShellArgs cfg.extraInstallArgs}

    ${cfg.postInstall}

    # tell provd-autoinstall where the installed system is mounted: it stores the node
    # credential there (installer/README.md, "The install script's contract")
    if [ -n "''${PROVD_TARGET_ROOT_FILE:-}" ]; then
      printf '%s\n' ${lib.escapeShellArg cfg.root} >"$PROVD_TARGET_ROOT_FILE"
    fi
    sync
  '';
}
