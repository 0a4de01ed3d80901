# tests/nix/nixos/postgresql.nix — a STAND-IN for nixpkgs' PostgreSQL module
# (nixos/modules/services/databases/postgresql.nix, NixOS 23.11), which the nixpkgs slice
# does not have: the real module needs options no part of this test declares (ids.uids,
# environment.pathsToLink, system.checks, meta.doc...), so it is not evaluated even with a
# nixpkgs checkout in PROVD_NIXPKGS.
#
# Declared with the real types: the options provd's module sets or reads (enable, package,
# port, settings, authentication, ensureDatabases, ensureUsers with ensureDBOwnership) and a
# few neighbours a site sets beside them (enableTCPIP, identMap).  Its config keeps what
# provd's module relies on: `settings.port` is `port` (the socket file
# /run/postgresql/.s.PGSQL.<port>), the default `authentication` ends with
# `local all all peer`, the 23.11 assertion on ensureDBOwnership, the postgres user, and
# postgresql.service (Type=notify, RuntimeDirectory=postgresql, the server binary) without
# its scripts (initdb, the ensure* statements: those are nixpkgs' and not run here).
# NixOS 25.05 moved the ensure* statements into postgresql-setup.service (ordered after the
# server, pulled in by postgresql.target); `withSetupUnit = true` adds that unit as those
# releases define it, so the test can check provd's ordering on both.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkOption types;
  cfg = config.services.postgresql;
in
{
  options.services.postgresql = {
    enable = lib.mkEnableOption "PostgreSQL Server";

    package = mkOption { type = types.package; };

    port = mkOption { type = types.port; default = 5432; };

    enableTCPIP = mkOption { type = types.bool; default = false; };

    authentication = mkOption { type = types.lines; default = ""; };

    identMap = mkOption { type = types.lines; default = ""; };

    ensureDatabases = mkOption { type = types.listOf types.str; default = [ ]; };

    ensureUsers = mkOption {
      type = types.listOf (types.submodule {
        options = {
          name = mkOption { type = types.str; };
          ensurePermissions = mkOption { type = types.attrsOf types.str; default = { }; };
          ensureDBOwnership = mkOption { type = types.bool; default = false; };
        };
      });
      default = [ ];
    };

    settings = mkOption {
      type = with types; attrsOf (oneOf [ bool float int str ]);
      default = { };
    };

    # this test's switch, not an option of the real module (see above)
    withSetupUnit = mkOption { type = types.bool; default = false; internal = true; };
  };

  config = lib.mkIf cfg.enable {
    assertions = map
      ({ name, ensureDBOwnership, ... }: {
        assertion = ensureDBOwnership -> builtins.elem name cfg.ensureDatabases;
        message = ''
          For each database user defined with `services.postgresql.ensureUsers` and
          `ensureDBOwnership = true;`, a database with the same name must be defined
          in `services.postgresql.ensureDatabases`.

          Offender: ${name} has not been found among databases.
        '';
      })
      cfg.ensureUsers;

    # 23.11: mkDefault by system.stateVersion (postgresql_15 from 23.11 on)
    services.postgresql.package = lib.mkDefault pkgs.postgresql_15;

    services.postgresql.settings = {
      log_destination = "stderr";
      listen_addresses = if cfg.enableTCPIP then "*" else "localhost";
      port = cfg.port;
    };

    services.postgresql.authentication = lib.mkAfter ''
      # Generated file; do not edit!
      local all all              peer
      host  all all 127.0.0.1/32 md5
      host  all all ::1/128      md5
    '';

    users.users.postgres = {
      name = "postgres";
      uid = 71; # config.ids.uids.postgres
      group = "postgres";
      description = "PostgreSQL server user";
    };
    users.groups.postgres.gid = 71;

    systemd.services.postgresql = {
      description = "PostgreSQL Server";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      environment.PGDATA = "/var/lib/postgresql/15";
      serviceConfig = {
        ExecStart = "${cfg.package}/bin/postgres";
        User = "postgres";
        Group = "postgres";
        RuntimeDirectory = "postgresql";
        Type = "notify";
        KillSignal = "SIGINT";
        KillMode = "mixed";
        TimeoutSec = 120;
      };
    };

    systemd.services.postgresql-setup = lib.mkIf cfg.withSetupUnit {
      description = "PostgreSQL Setup Scripts";
      requires = [ "postgresql.service" ];
      after = [ "postgresql.service" ];
      serviceConfig = {
        User = "postgres";
        Group = "postgres";
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${cfg.package}/bin/psql -d postgres -c ''";
      };
    };
  };
}
