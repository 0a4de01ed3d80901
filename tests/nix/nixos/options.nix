# tests/nix/nixos/options.nix — the NixOS options provd's nix/ sets that the given nixpkgs
# tree (the slice, see tests/integration/nix-module.sh) does not declare, each declared here
# with the type the real NixOS module gives it (file named above each), so that a value of
# the wrong type or an option that does not exist fails the evaluation as it would on NixOS.
# Where the real module's own config matters to provd's (defaults that provd's modules
# override or extend, the checks it makes on users), that part is copied too.
#
# Also the wiring nixos/modules/misc/extra-arguments.nix does: the `utils` module argument
# (nixos/lib/utils.nix), whose systemdUtils the systemd options' types come from.
{ config, lib, pkgs, utils, nixpkgs, ... }:

let
  inherit (lib) mkOption mkAfter types;
  nixpkgsLib = lib;
in
{
  options = {
    # nixos/modules/misc/meta.nix (the real type is listOf maintainer; never forced here)
    meta.maintainers = mkOption { type = types.listOf types.raw; internal = true; default = [ ]; };

    # nixos/modules/system/boot/systemd.nix
    systemd = {
      package = mkOption { type = types.package; default = pkgs.systemd; };
      globalEnvironment = mkOption {
        type = with types; attrsOf (nullOr (oneOf [ str path package ]));
        default = { };
      };
      services = mkOption { type = utils.systemdUtils.types.services; default = { }; };
      sockets = mkOption { type = utils.systemdUtils.types.sockets; default = { }; };
      timers = mkOption { type = utils.systemdUtils.types.timers; default = { }; };
    };

    # nixos/modules/config/users-groups.nix: users.users.<name> (userOpts) and
    # users.groups.<name> (groupOpts), the attributes provd's modules and pixiecore's set
    users.users = mkOption {
      default = { };
      type = types.attrsOf (types.submodule ({ name, ... }: {
        options = {
          name = mkOption { type = types.passwdEntry types.str; };
          description = mkOption { type = types.passwdEntry types.str; default = ""; };
          uid = mkOption { type = with types; nullOr int; default = null; };
          isSystemUser = mkOption { type = types.bool; default = false; };
          isNormalUser = mkOption { type = types.bool; default = false; };
          group = mkOption { type = types.str; default = ""; };
        };
        config.name = lib.mkDefault name;
      }));
    };
    users.groups = mkOption {
      default = { };
      type = types.attrsOf (types.submodule ({ name, ... }: {
        options = {
          name = mkOption { type = types.passwdEntry types.str; };
          gid = mkOption { type = with types; nullOr int; default = null; };
          members = mkOption { type = with types; listOf (passwdEntry str); default = [ ]; };
        };
        config.name = lib.mkDefault name;
      }));
    };

    # nixos/modules/system/etc/etc.nix
    environment.etc = mkOption {
      default = { };
      type = types.attrsOf (types.submodule ({ name, config, options, ... }: {
        options = {
          enable = mkOption { type = types.bool; default = true; };
          target = mkOption { type = types.str; };
          text = mkOption { type = types.nullOr types.lines; default = null; };
          source = mkOption { type = types.path; };
          mode = mkOption { type = types.str; default = "symlink"; };
          uid = mkOption { type = types.int; default = 0; };
          gid = mkOption { type = types.int; default = 0; };
          user = mkOption { type = types.str; default = "+${toString config.uid}"; };
          group = mkOption { type = types.str; default = "+${toString config.gid}"; };
        };
        config = {
          target = lib.mkDefault name;
          source = lib.mkIf (config.text != null) (lib.mkDerivedConfig options.text (pkgs.writeText "etc-${baseNameOf name}"));
        };
      }));
    };

    # nixos/modules/config/system-path.nix
    environment.systemPackages = mkOption { type = types.listOf types.package; default = [ ]; };

    # nixos/modules/services/networking/firewall.nix (apply = canonicalizePortList)
    networking.firewall.allowedTCPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
      apply = ports: lib.unique (builtins.sort builtins.lessThan ports);
    };
    networking.firewall.allowedUDPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
      apply = ports: lib.unique (builtins.sort builtins.lessThan ports);
    };

    # nixos/modules/tasks/network-interfaces.nix
    networking.hostName = mkOption {
      type = types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$";
      default = "nixos";
    };

    # nixos/modules/config/nix.nix (nix.settings: freeform semanticConfType plus declared keys)
    nix.settings = mkOption {
      default = { };
      type = types.submodule {
        freeformType =
          let
            confAtom = types.nullOr (types.oneOf [ types.bool types.int types.float types.str types.path types.package ]);
          in
          types.attrsOf (types.either confAtom (types.listOf confAtom));
        options = {
          substituters = mkOption { type = types.listOf types.str; };
          trusted-public-keys = mkOption { type = types.listOf types.str; };
        };
      };
    };
    # nixos/modules/services/system/nix-daemon.nix
    nix.package = mkOption { type = types.package; default = pkgs.nix; };

    # nixos/modules/system/boot/kernel.nix
    boot.kernelParams = mkOption {
      type = types.listOf (types.strMatching ''([^"[:space:]]|"[^"]*")+'' // {
        name = "kernelParam";
        description = "string, with spaces inside double quotes";
      });
      default = [ ];
    };

    # nixos/modules/system/boot/stage-1.nix
    boot.initrd.postMountCommands = mkOption { type = types.lines; default = ""; };
    # nixos/modules/system/boot/systemd/initrd.nix
    boot.initrd.systemd.enable = mkOption { type = types.bool; default = false; };

    # nixos/modules/system/boot/loader/loader.nix
    system.boot.loader.kernelFile = mkOption {
      internal = true;
      type = types.str;
      default = "bzImage"; # pkgs.stdenv.hostPlatform.linux-kernel.target on x86_64
    };

    # nixos/modules/system/build.nix
    system.build = mkOption {
      default = { };
      type = types.submoduleWith {
        modules = [{ freeformType = with types; lazyAttrsOf (uniq unspecified); }];
      };
    };
  };

  config = {
    _module.args.utils =
      if builtins.pathExists "${nixpkgs}/nixos/lib/utils.nix"
      then import "${nixpkgs}/nixos/lib/utils.nix" { inherit lib config pkgs; }
      else {
        # as nixos/lib/utils.nix wires the three files (the slice has them, not utils.nix)
        systemdUtils = {
          lib = import "${nixpkgs}/nixos/lib/systemd-lib.nix" { inherit config pkgs; lib = nixpkgsLib; };
          unitOptions = import "${nixpkgs}/nixos/lib/systemd-unit-options.nix" { lib = nixpkgsLib; inherit (utils) systemdUtils; };
          types = import "${nixpkgs}/nixos/lib/systemd-types.nix" { lib = nixpkgsLib; inherit (utils) systemdUtils; inherit pkgs; };
        };
      };

    # nixos/modules/tasks/network-interfaces.nix: /etc/hostname, unless hostName is empty
    environment.etc.hostname = lib.mkIf (config.networking.hostName != "") {
      text = config.networking.hostName + "\n";
    };

    # nixos/modules/config/nix.nix: the defaults provd's installer replaces or extends
    nix.settings = {
      trusted-public-keys = [ "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=" ];
      substituters = mkAfter [ "https://cache.nixos.org/" ];
    };

    # nixos/modules/config/users-groups.nix: its checks on every user
    assertions = lib.concatLists (lib.mapAttrsToList
      (_: user: [
        {
          assertion = let isSys = user.isSystemUser || (user.uid != null && user.uid < 1000); in (isSys && !user.isNormalUser) || (!isSys && user.isNormalUser);
          message = "Exactly one of users.users.${user.name}.isSystemUser and users.users.${user.name}.isNormalUser must be set.";
        }
        {
          assertion = user.group != "";
          message = "users.users.${user.name}.group is unset.";
        }
        # (this test's own check, not one of users-groups.nix's assertions)
        {
          assertion = user.group == "" || config.users.groups ? ${user.group};
          message = "users.users.${user.name}.group = \"${user.group}\": no such group in users.groups";
        }
      ])
      config.users.users);
  };
}
