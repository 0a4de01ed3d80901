# nix/installer.nix — the provd netboot installer image: nixpkgs' netboot-minimal plus
# installer/provd-autoinstall.sh run as a systemd service, with the site's binary cache as
# substituter.  Evaluate it ONCE for the whole cluster and hand the result to
# nix/inventory.nix as `installer`:
#
#   installer = nixpkgs.lib.nixosSystem {
#     system = "x86_64-linux";
#     modules = [ "${provd}/nix/installer.nix" {
#       provd.installer.substituters = [ "http://cache.cluster.example:5000" ];
#       provd.installer.trustedPublicKeys = [ "cache.cluster.example-1:AAAA..." ];
#     } ];
#   };
#
# provd boots it with the inventory's cmdline (init=<this system's toplevel>/init and its
# boot.kernelParams) plus `nixos.install=<install script> provd.url= provd.token=
# provd.node=` (see installer/README.md).  provd-autoinstall.service runs only when
# nixos.install= and provd.token= are on the kernel command line: report "started",
# nix-store --realise the install script from the cache, run it, report "succeeded" and
# reboot — or report "failed" and leave the console to an admin.
#
# CI evaluates it through the real NixOS module system with a stand-in netboot-minimal
# (tests/integration/nix-module.sh); the image is never built or booted: nix/README.md.
{ config, lib, pkgs, modulesPath, ... }:

let
  cfg = config.provd.installer;

  # installer/ as commands; provd-autoinstall finds provd-report next to itself
  defaultScripts = pkgs.runCommand "provd-installer-scripts" { } ''
    install -Dm0755 ${../installer/provd-report.sh} $out/bin/provd-report
    install -Dm0755 ${../installer/provd-autoinstall.sh} $out/bin/provd-autoinstall
  '';
in
{
  imports = [ (modulesPath + "/installer/netboot/netboot-minimal.nix") ];

  options.provd.installer = {
    substituters = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      example = [ "http://cache.cluster.example:5000" ];
      description = ''
        The site's binary cache(s), from which the installer realises each node's install
        script and system.  Written to nix.conf as `substituters`.  provd may add one more
        per boot with `provd.cache=` on the kernel command line (extra-substituters).
      '';
    };

    trustedPublicKeys = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      example = [ "cache.cluster.example-1:AbCd...=" ];
      description = "Public keys the site cache signs with (nix.conf `trusted-public-keys`, added to the default).";
    };

    onlySiteCaches = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Use only {option}`provd.installer.substituters` (cluster networks often cannot reach
        cache.nixos.org, and every unreachable substituter costs a timeout per path).  false:
        add them to NixOS's default substituters.
      '';
    };

    reboot = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Reboot after a successful install (false sets PROVD_AUTOINSTALL_NOREBOOT=1).";
    };

    serialConsole = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "ttyS0,115200";
      description = ''
        Adds `console=tty0 console=<this>` to boot.kernelParams, so the installer's output
        reaches serial-over-LAN.  nix/inventory.nix puts boot.kernelParams on the cmdline.
      '';
    };

    scripts = lib.mkOption {
      type = lib.types.package;
      default = defaultScripts;
      defaultText = lib.literalMD "`provd-autoinstall` and `provd-report` from provd's `installer/`";
      description = "Package with bin/provd-autoinstall and bin/provd-report.";
    };

    extraPackages = lib.mkOption {
      type = lib.types.listOf lib.types.package;
      default = [ ];
      description = "More packages on provd-autoinstall's PATH (install scripts carry their own).";
    };
  };

  config = {
    assertions = [{
      assertion = cfg.substituters != [ ];
      message = "provd.installer.substituters must name the site's binary cache: the installer realises install scripts from it";
    }];

    networking.hostName = lib.mkDefault "provd-installer";

    boot.kernelParams = lib.mkIf (cfg.serialConsole != null) [ "console=tty0" "console=${cfg.serialConsole}" ];

    nix.settings = {
      substituters = if cfg.onlySiteCaches then lib.mkForce cfg.substituters else cfg.substituters;
      trusted-public-keys = cfg.trustedPublicKeys;
    };

    environment.systemPackages = [ cfg.scripts ];

    # installer/provd-autoinstall.service, as a NixOS unit with store paths
    systemd.services.provd-autoinstall = {
      description = "provd: install NixOS on this node";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" "nix-daemon.socket" ];
      unitConfig.ConditionKernelCommandLine = [ "nixos.install" "provd.token" ];
      path = [ config.nix.package pkgs.curl pkgs.iproute2 pkgs.gawk pkgs.util-linux ] ++ cfg.extraPackages;
      environment = {
        PROVD_AUTOINSTALL_LOG = "/run/provd-autoinstall.log";
        PROVD_REPORT = "${cfg.scripts}/bin/provd-report";
      } // lib.optionalAttrs (!cfg.reboot) { PROVD_AUTOINSTALL_NOREBOOT = "1"; };
      serviceConfig = {
        Type = "oneshot";
        # one attempt per boot: a failure leaves the console to an admin
        RemainAfterExit = true;
        Restart = "no";
        ExecStart = "${cfg.scripts}/bin/provd-autoinstall";
        StandardInput = "null";
        StandardOutput = "journal+console";
        StandardError = "journal+console";
        TimeoutStartSec = "3h";
        # on stop the script reports "failed" to provd before it exits
        TimeoutStopSec = "2min";
      };
    };
  };
}
