# nix/node.nix — NixOS module for the NODES: services.provd-node tells provd which NixOS
# system the node runs (installer/provd-node-report.sh: /run/current-system,
# /run/booted-system, uname -r, uptime), so that provd can show whether it drifted from the
# inventory's toplevel.  It reports at boot, on every activation (`nixos-rebuild switch` and
# `test`) and every `interval`.
#
#   imports = [ "${provd}/nix/node.nix" ];
#   services.provd-node.enable = true;
#
# What it reads: the three files provd-autoinstall stored in the installed system at install
# time (installer/README.md, "The node credential"): /var/lib/provd-node/url, node and
# credential.  The credential is a secret: this module names its path as a string and never
# reads it at evaluation, so it never enters the Nix store; the unit hands the files to the
# reporter with LoadCredential= (copied by systemd into a private, non-swappable directory
# readable by the unit only), and the reporter, running as a DynamicUser, passes the
# credential to curl on its standard input, never as an argument.
#
# When it runs, and why this way:
# - at boot: wantedBy multi-user.target, after network-online.target;
# - on every activation: switch-to-configuration (`nixos-rebuild switch`/`test`) starts every
#   active target again, and starting multi-user.target starts the units it wants that are not
#   running (for most oneshot units an unwelcome surprise; here it is the point).  The unit
#   therefore must be inactive after a run: no RemainAfterExit.  It is Type=exec, not
#   oneshot: systemctl start, and so the switch, returns once the reporter has started,
#   instead of waiting out its retries when provd is down.  restartIfChanged stays on, so a
#   report still under way when the unit changes is restarted.  An activation script is not
#   used: activation scripts also run in early boot, before the network, and must not block;
#   /run/current-system already points at the new system when the targets are started;
# - every `interval` (default 15 min; provd calls a node silent after report_silent_after,
#   default 1 h): a timer, OnUnitActiveSec, spread by up to a minute.
#
# Evaluated through the real module system and the NixOS systemd unit options, its units
# rendered, verified and its command run against provd by tests/integration/nix-module.sh;
# written against the NixOS systemd options (systemd.services, systemd.timers) and only
# nixpkgs lib functions that exist since NixOS 23.05.
{ config, lib, pkgs, ... }:

let
  cfg = config.services.provd-node;

  # installer/provd-node-report.sh itself, as a command
  defaultPackage = pkgs.runCommand "provd-node-report" { } ''
    install -Dm0755 ${../installer/provd-node-report.sh} $out/bin/provd-node-report
  '';

  inStore = p: lib.hasPrefix "${builtins.storeDir}/" p;
in
{
  options.services.provd-node = {
    enable = lib.mkEnableOption "reporting this node's running NixOS system to provd";

    package = lib.mkOption {
      type = lib.types.package;
      default = defaultPackage;
      defaultText = lib.literalMD "`bin/provd-node-report`: provd's `installer/provd-node-report.sh`";
      description = "Package with bin/provd-node-report.";
    };

    urlFile = lib.mkOption {
      type = lib.types.str;
      default = "/var/lib/provd-node/url";
      description = "File holding provd's base URL (written by provd-autoinstall at install time).";
    };

    nodeFile = lib.mkOption {
      type = lib.types.str;
      default = "/var/lib/provd-node/node";
      description = "File holding this node's name in provd's inventory.";
    };

    credentialFile = lib.mkOption {
      type = lib.types.str;
      default = "/var/lib/provd-node/credential";
      description = ''
        File holding the node credential (`pvn_...`), a secret.  A string, not a path
        literal: a path literal would copy the secret into the world-readable Nix store.
      '';
    };

    interval = lib.mkOption {
      type = lib.types.str;
      default = "15min";
      example = "5min";
      description = ''
        How often to report besides boot and activation (a systemd time span).  Keep it well
        below provd's report_silent_after (default 1 h), after which provd shows the node as
        silent.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [{
      assertion = !(inStore cfg.credentialFile);
      message = "services.provd-node.credentialFile is in the Nix store (${cfg.credentialFile}): the node credential is a secret, and the store is world-readable";
    }];

    systemd.services.provd-node-report = {
      description = "provd: report the NixOS system this node runs";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      path = [ pkgs.curl ];
      # %d: the unit's credentials directory, where LoadCredential= puts url, node, credential
      environment.PROVD_NODE_DIR = "%d";
      # a node provd did not install (no files) is left alone, not failed
      unitConfig.ConditionPathExists = [ cfg.urlFile cfg.nodeFile cfg.credentialFile ];
      serviceConfig = {
        Type = "exec";
        ExecStart = "${cfg.package}/bin/provd-node-report";
        LoadCredential = [
          "url:${cfg.urlFile}"
          "node:${cfg.nodeFile}"
          "credential:${cfg.credentialFile}"
        ];
        # 6 attempts of at most 15 s, 23 s of pauses
        RuntimeMaxSec = "5min";
        DynamicUser = true;
        UMask = "0077";
        CapabilityBoundingSet = "";
        NoNewPrivileges = true;
        PrivateDevices = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        ProtectProc = "invisible";
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" "~@privileged" ];
      };
    };

    systemd.timers.provd-node-report = {
      description = "provd: report the NixOS system this node runs, every ${cfg.interval}";
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnBootSec = cfg.interval;
        OnUnitActiveSec = cfg.interval;
        RandomizedDelaySec = "1min";
      };
    };
  };
}
