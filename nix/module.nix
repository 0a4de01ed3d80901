# nix/module.nix — NixOS module: services.provd on the boot host, and optionally nixpkgs'
# services.pixiecore in API mode pointed at it.
#
#   imports = [ "${provd}/nix/module.nix" ];
#   services.provd = {
#     enable = true;
#     listen = "0.0.0.0:8080";
#     publicUrl = "http://boot.cluster.example:8080";
#     inventory = import "${provd}/nix/inventory.nix" { inherit nodes installer nixosConfigurations; };
#     bmcPasswordFiles = { node-01 = "/root/secrets/bmc-node-01"; };
#     pixiecore.enable = true;      # or, instead of pixiecore, dnsmasq as the DHCP front end:
#     # dnsmasq = { enable = true; proxySubnet = "10.0.0.0/24"; interface = "enp1s0"; };
#     openFirewall = true;
#   };
#
# services.provd.dnsmasq runs dnsmasq as ProxyDHCP next to the site's DHCP server plus its
# TFTP server, with the configuration `provd dhcp-config --dnsmasq` prints (README "DHCP
# front end (dnsmasq)"): BIOS PXE gets undionly.kpxe and UEFI PXE snponly.efi by TFTP from
# pkgs.ipxe, UEFI HTTP Boot provd's /v1/ipxe.efi (ipxe_efi: pkgs.ipxe's snponly.efi), iPXE
# provd's /v1/ipxe.
#
# The unit matches systemd/provd.service: Type=notify, DynamicUser, StateDirectory,
# the watchdog, SIGHUP reload, a hardened sandbox; secrets come in as systemd credentials
# (LoadCredential=), read by provd from /run/credentials/provd.service/<name>:
#   api-tokens        services.provd.apiTokensFile
#   tls-cert, tls-key services.provd.tls.certFile / keyFile
#   bmc-<name>        services.provd.bmcPasswordFiles.<name>  (nix/inventory.nix points a
#                     node's bmc.password_file at bmc-<node name> by default)
#   shared-key        services.provd.sharedKeyFile
#   pgpass            services.provd.database.passFile (given to libpq as PGPASSFILE)
#
# services.provd.database.type = "postgresql" keeps provd's state in PostgreSQL (`state_url`),
# shared by every provd instance of the site (README "Several instances on PostgreSQL"):
# createLocally (the default) runs nixpkgs' services.postgresql on this host with the
# database and role `provd` (ensureDatabases, ensureUsers with ensureDBOwnership) and
# connects over its Unix socket in /run/postgresql with peer authentication (the unit's
# dynamic user is named `provd`, as the role); otherwise database.url names a server
# elsewhere, its password in a libpq password file (database.passFile).
#
# The inventory is linked at /etc/provd/inventory.json: a new inventory (nixos-rebuild
# switch) reloads provd (SIGHUP: nodes keep their state, a broken file is rejected and the
# old inventory stays); a new config file restarts it.
#
# CI evaluates it through the real NixOS module system (nixpkgs lib, NixOS systemd unit
# rendering; stand-in packages), verifies the units and runs provd from them:
# tests/integration/nix-module.sh.  Never built or run under systemd: nix/README.md.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkOption mkEnableOption mkIf mkDefault types optional optionals optionalAttrs;

  cfg = config.services.provd;

  credentialsDirectory = "/run/credentials/provd.service";
  credential = name: "${credentialsDirectory}/${name}";

  # the generator's attribute set (a derivation or path is a file)
  inventoryIsSet = builtins.isAttrs cfg.inventory && !(cfg.inventory ? outPath);
  inventoryFile =
    if inventoryIsSet
    then pkgs.writeText "provd-inventory.json" (builtins.toJSON cfg.inventory)
    # a path literal: copied into the store here (/etc would copy it anyway), so that its
    # store path, which the reload trigger holds, changes with its content
    else if builtins.isPath cfg.inventory
    then builtins.path { path = cfg.inventory; name = "provd-inventory.json"; }
    else cfg.inventory;
  # X-Reload-Triggers: what nixos-rebuild switch compares to reload provd.  It must change
  # with the inventory's CONTENT: a store path does (the set's file, the path literal's
  # copy, a derivation's output); a file outside the store, linked as it is, does not, so
  # its hash is taken at evaluation (which reads the file: under flakes that takes
  # --impure).
  inventoryTrigger =
    if lib.hasPrefix "${builtins.storeDir}/" (toString inventoryFile) then inventoryFile
    else "${toString inventoryFile}@sha256:${builtins.hashFile "sha256" inventoryFile}";

  # "ADDR:PORT" / "[V6ADDR]:PORT" -> { host; port; }
  parseListen = s:
    let
      v6 = builtins.match "[[]([^]]*)[]]:([0-9]+)" s;
      v4 = builtins.match "([^:]*):([0-9]+)" s;
      m = if v6 != null then v6 else v4;
    in
    if m == null then throw "services.provd.listen: \"${s}\" is not ADDR:PORT or [ADDR]:PORT"
    else { host = builtins.elemAt m 0; port = lib.toInt (builtins.elemAt m 1); ipv6 = v6 != null; };
  listen = parseListen cfg.listen;

  localUrl =
    let
      host =
        if listen.host == "0.0.0.0" || listen.host == "" then "127.0.0.1"
        else if listen.host == "::" then "[::1]"
        else if listen.ipv6 then "[${listen.host}]"
        else listen.host;
      scheme = if cfg.tls.certFile != null then "https" else "http";
    in
    "${scheme}://${host}:${toString listen.port}";

  iniAtom = types.nullOr (types.oneOf [ types.str types.int types.bool ]);
  configFile = pkgs.writeText "provd.ini" (lib.generators.toINI { } {
    serve = lib.filterAttrs (_: v: v != null) cfg.settings;
  });

  # ---- the state database
  pg = cfg.database.type == "postgresql";
  pgLocal = pg && cfg.database.createLocally;
  pgcfg = config.services.postgresql;
  # libpq connection URI of the local server: its Unix socket directory (/run/postgresql:
  # the postgresql unit's RuntimeDirectory) and port (the socket file is .s.PGSQL.<port>),
  # role and database `provd`.  libpq: "Connection URIs" (a host starting with / is a socket
  # directory).
  localStateUrl = "postgresql://provd@/provd?host=/run/postgresql&port=${toString pgcfg.settings.port}";
  stateUrl =
    if !pg then null
    else if cfg.database.url != null then cfg.database.url
    else if cfg.database.createLocally then localStateUrl
    else null;
  # postgresql.service starts the server; NixOS releases whose module runs ensureDatabases /
  # ensureUsers in a unit of their own (postgresql-setup.service) are ready only after it
  pgUnits = [ "postgresql.service" ] ++ optional (config.systemd.services ? postgresql-setup) "postgresql-setup.service";
  # postgresql://USER:PASSWORD@... or ...?password=... (libpq: "Connection URIs"): the
  # password would be in the world-readable store
  urlHasPassword = cfg.database.url != null
    && (builtins.match "[a-z]+://[^/@:]*:[^/@]*@.*" cfg.database.url != null
    || builtins.match ".*[?&]password=.*" cfg.database.url != null);

  credentials =
    optional (cfg.apiTokensFile != null) "api-tokens:${cfg.apiTokensFile}"
    ++ optional (cfg.tls.certFile != null) "tls-cert:${cfg.tls.certFile}"
    ++ optional (cfg.tls.keyFile != null) "tls-key:${cfg.tls.keyFile}"
    ++ lib.mapAttrsToList (name: file: "bmc-${name}:${file}") cfg.bmcPasswordFiles
    ++ optional (cfg.sharedKeyFile != null) "shared-key:${cfg.sharedKeyFile}"
    ++ optional (cfg.database.passFile != null) "pgpass:${cfg.database.passFile}";

  caps =
    optional (cfg.discoveryInterface != null) "CAP_NET_RAW"
    ++ optional (!cfg.socketActivation && listen.port < 1024) "CAP_NET_BIND_SERVICE";

  # nodes of an inventory given as an attribute set whose BMC password file is one of our
  # credentials that nobody loads
  missingBmcCredentials =
    if !inventoryIsSet then [ ]
    else
      lib.filter
        (n: n ? bmc && n.bmc ? password_file
          && lib.hasPrefix "${credentialsDirectory}/bmc-" n.bmc.password_file
          && !(cfg.bmcPasswordFiles ? ${lib.removePrefix "${credentialsDirectory}/bmc-" n.bmc.password_file}))
        (cfg.inventory.nodes or [ ]);

  # The ProxyDHCP + TFTP dnsmasq configuration: exactly what `provd dhcp-config --dnsmasq`
  # prints for this provd's config file (its public_url), built once.
  dnsmasqConfig = pkgs.runCommand "provd-dnsmasq.conf" { } ''
    ${cfg.package}/bin/provd dhcp-config --dnsmasq --config ${configFile} \
      --proxy-subnet ${lib.escapeShellArg cfg.dnsmasq.proxySubnet} \
      ${lib.optionalString (cfg.dnsmasq.interface != null) "--interface ${lib.escapeShellArg cfg.dnsmasq.interface}"} \
      --tftp-root ${lib.escapeShellArg cfg.dnsmasq.tftpRoot} >$out
  '';

  secretOption = name: description: mkOption {
    type = types.nullOr (types.strMatching "/.*");
    default = null;
    example = "/run/secrets/provd-${name}";
    description = ''
      ${description}  An absolute path on the boot host, as a string (not a Nix path
      literal, which would copy the secret into the world-readable Nix store); loaded with
      LoadCredential= as `${name}` and given to provd as ${credential name}.
    '';
  };
in
{
  options.services.provd = {
    enable = mkEnableOption "provd, the PXE netboot provisioning daemon";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage \"\${provd}/nix/package.nix\" { }";
      description = "The provd package.";
    };

    listen = mkOption {
      type = types.str;
      default = "0.0.0.0:8080";
      example = "[::]:8080";
      description = ''
        ADDR:PORT provd listens on (`[::]:PORT` is IPv6 and IPv4).  With
        {option}`services.provd.socketActivation` it is the socket unit's ListenStream=.
      '';
    };

    publicUrl = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "http://boot.cluster.example:8080";
      description = ''
        Base URL the nodes (and pixiecore) reach provd at: used in kernel/initrd URLs and
        `provd.url=`.  null: provd derives it from listen (for a wildcard address, from the
        host name, with a warning).
      '';
    };

    inventory = mkOption {
      type = types.either types.path (types.attrsOf types.anything);
      example = lib.literalExpression ''
        import "''${provd}/nix/inventory.nix" {
          inherit nodes installer;
          nixosConfigurations = computeNodes;
        }'';
      description = ''
        The inventory (api/inventory.schema.json): the attribute set nix/inventory.nix
        returns (written out as JSON), or the path of a JSON file.  Linked at
        /etc/provd/inventory.json; changing it reloads provd on `nixos-rebuild switch`
        (a path literal is copied into the store; a path string outside the store is
        linked as it is and hashed at evaluation, which under flakes needs `--impure`).  Its string context comes
        along: the installer's kernel and initrd (and, by default, the nodes' systems and
        install scripts) become part of the boot host's closure.
      '';
    };

    stateDirectory = mkOption {
      type = types.strMatching "[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*";
      default = "provd";
      description = ''
        StateDirectory= of the unit, under /var/lib (provd's SQLite state, provd.db; with
        PostgreSQL this instance's own directory, locked by it).  With DynamicUser=, systemd
        keeps it in /var/lib/private/<name> and links it.
      '';
    };

    database = {
      type = mkOption {
        type = types.enum [ "sqlite" "postgresql" ];
        default = "sqlite";
        description = ''
          Where provd keeps its state.  `sqlite`: provd.db in the state directory, for one
          provd.  `postgresql`: a PostgreSQL database (13 or later) that several provd
          instances share (config `state_url`; README "Several instances on PostgreSQL"),
          created on this host ({option}`services.provd.database.createLocally`) or reached
          at {option}`services.provd.database.url`.  Needs
          {option}`services.provd.sharedKeyFile`.
        '';
      };

      createLocally = mkOption {
        type = types.bool;
        default = true;
        description = ''
          With `type = "postgresql"`: run PostgreSQL on this host with nixpkgs'
          `services.postgresql` (enabled here), ensure the database `provd` and a role
          `provd` that owns it, and connect over the Unix socket in /run/postgresql with
          peer authentication (the unit's dynamic user is named `provd`, as the role; no
          password).  provd is ordered after the server and requires it.  Instances on
          other hosts reach that server with {option}`services.provd.database.url`; set
          this to false on them.
        '';
      };

      url = mkOption {
        type = types.nullOr (types.strMatching "postgres(ql)?://.*");
        default = null;
        example = "postgresql://provd@db.cluster.example/provd?sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt";
        description = ''
          With `type = "postgresql"` and `createLocally = false`: the libpq connection URI
          of the shared database (config `state_url`).  It is written into provd's config
          file in the world-readable Nix store: put no password in it (the module warns),
          use {option}`services.provd.database.passFile`.
        '';
      };

      passFile = secretOption "pgpass" ''
        A libpq password file (lines of `hostname:port:database:username:password`) for
        {option}`services.provd.database.url`; provd's libpq reads it through
        `PGPASSFILE`.'';
    };

    sharedKeyFile = secretOption "shared-key" ''
      32 random bytes that every provd instance sharing the database has (the same file on
      every boot host: `head -c 32 /dev/urandom >FILE`); install tokens are sealed with it,
      so that any instance answers a node's repeat boot request with the same token.
      Required with `database.type = "postgresql"` (config `shared_key_file`).'';

    instanceName = mkOption {
      # provd's instance_name: 1 to 63 letters, digits, '-', '_' or '.'
      type = types.nullOr (types.strMatching "[A-Za-z0-9._-]{1,63}");
      default = null;
      example = "boot-rack1";
      description = ''
        This provd's name among the instances sharing the database (config
        `instance_name`; `GET /v1/instances`, history of taken-over work).  Unique per
        instance.  null: provd's default, the host name.
      '';
    };

    bmcRacks = mkOption {
      # provd's bmc_racks: rack names of letters, digits, '-', '_' or '.'
      type = types.listOf (types.strMatching "[A-Za-z0-9._-]+");
      default = [ ];
      example = [ "rack1" "rack2" ];
      description = ''
        Racks (the inventory's `rack` of each node) whose BMC operations this instance
        runs (config `bmc_racks`), for a site whose racks' BMC networks reach only their
        local boot host.  [ ]: every rack.
      '';
    };

    apiTokensFile = secretOption "api-tokens" "File of API tokens for the admin/read API.";

    readAuth = mkOption {
      type = types.nullOr (types.enum [ "open" "token" ]);
      default = null;
      description = ''
        Whether the read API (GET /v1/nodes...) needs a token (`token`) or not (`open`).
        null: provd's default.
      '';
    };

    tls = {
      certFile = secretOption "tls-cert" "TLS certificate chain (PEM); with keyFile, provd serves HTTPS.";
      keyFile = secretOption "tls-key" "TLS private key (PEM).";
    };

    bmcPasswordFiles = mkOption {
      type = types.attrsOf (types.strMatching "/.*");
      default = { };
      example = { node-01 = "/run/secrets/bmc-node-01"; shared = "/run/secrets/bmc"; };
      description = ''
        BMC password files, loaded as credentials `bmc-<name>` (readable by provd as
        ${credential "bmc-<name>"}).  nix/inventory.nix points each node's
        bmc.password_file at `bmc-<node name>` by default; pass it
        `bmcPasswordFile = _: "${credential "bmc-shared"}"` to use one shared file.  Paths
        as strings, not Nix path literals (those land in the Nix store).
      '';
    };

    discoveryInterface = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "enp1s0";
      description = ''
        Network interface provd watches for the DHCP DISCOVERs and REQUESTs of PXE clients
        that are not in the inventory (discovery, `discovery_interface`; README "Discovery"):
        it records their MAC, architecture and UUID, listed by `provd discovered` and
        `GET /v1/discovered`, and `provd discovered --nix` prints them as node list entries
        for nix/inventory.nix.  Setting it grants the service CAP_NET_RAW (and
        AF_PACKET/AF_NETLINK sockets); null (the default) leaves discovery off.  provd fails
        to start if it cannot capture on the interface.  Cap the number of MACs kept with
        `settings.discovery_max` (default 4096).
      '';
    };

    installDeadline = mkOption {
      type = types.nullOr types.ints.positive;
      default = null;
      example = 7200;
      description = "Seconds an install attempt may take before provd marks the node failed. null: provd's default.";
    };

    bmcWorkers = mkOption {
      type = types.nullOr types.ints.positive;
      default = null;
      description = "Threads for BMC (IPMI) jobs. null: provd's default.";
    };

    bmcTimeout = mkOption {
      type = types.nullOr types.ints.positive;
      default = null;
      example = 5;
      description = "Seconds one BMC command attempt may take. null: provd's default (10).";
    };

    bmcRetries = mkOption {
      type = types.nullOr types.ints.unsigned;
      default = null;
      description = "Extra attempts after a BMC timeout or I/O error. null: provd's default (2).";
    };

    threads = mkOption {
      type = types.nullOr types.ints.unsigned;
      default = null;
      description = "HTTP worker threads; 0 = one per core (at least 2). null: provd's default.";
    };

    logLevel = mkOption {
      type = types.enum [ "error" "warning" "info" "debug" ];
      default = "info";
      description = "provd's log level.";
    };

    settings = mkOption {
      type = types.submodule { freeformType = types.attrsOf iniAtom; };
      default = { };
      example = { threads = 8; };
      description = ''
        The `[serve]` section of provd's config file (provd serve --config): one key per
        attribute, null leaves a key out.  The options above fill in their keys (inventory,
        state_dir, listen, public_url, api_tokens, read_auth, tls_cert, tls_key,
        install_deadline, bmc_workers, discovery_interface, threads, log_level, state_url,
        shared_key_file, instance_name, bmc_racks); a value set here wins.  See README "provd serve" and examples/provd.ini.
      '';
    };

    socketActivation = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Let systemd bind {option}`services.provd.listen` (provd.socket) and hand the socket
        to provd: a port below 1024 needs no capability, and connections made while provd
        restarts wait instead of being refused.
      '';
    };

    watchdogSec = mkOption {
      type = types.nullOr types.ints.positive;
      default = 30;
      description = "WatchdogSec= in seconds (provd pings the watchdog with sd_notify); null disables it.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Open provd's TCP port in the firewall; with pixiecore.enable also pixiecore's: UDP 67,
        69 and 4011 (DHCP, TFTP, PXE), TCP port and statusPort (nixpkgs' pixiecore module of
        NixOS 23.11 opens TCP 4011 instead of UDP: this module opens UDP 4011 itself); with
        dnsmasq.enable UDP 67, 69 and 4011.
      '';
    };

    pixiecore = {
      enable = mkEnableOption "nixpkgs' services.pixiecore in API mode, asking this provd";

      apiServer = mkOption {
        type = types.str;
        default = localUrl;
        defaultText = lib.literalMD "`http://127.0.0.1:<port of listen>` (https with TLS; the listen address if not a wildcard)";
        description = "URL pixiecore asks (`pixiecore api URL`; pixiecore appends /v1/boot/<mac>).";
      };

      dhcpNoBind = mkOption {
        type = types.bool;
        default = true;
        description = "pixiecore handles DHCP without binding port 67 (another DHCP server runs on the network).";
      };

      listen = mkOption {
        type = types.str;
        default = "0.0.0.0";
        description = "IPv4 address pixiecore listens on.";
      };

      port = mkOption {
        type = types.port;
        default = 80;
        description = "pixiecore's HTTP port (it serves iPXE and the boot files to the nodes).";
      };

      statusPort = mkOption {
        type = types.port;
        default = 80;
        description = "pixiecore's status page port (may equal port).";
      };
    };

    ipxeEfi = mkOption {
      type = types.str;
      default = "${pkgs.ipxe}/snponly.efi";
      defaultText = lib.literalExpression "\"\${pkgs.ipxe}/snponly.efi\"";
      description = ''
        The iPXE EFI binary provd serves at /v1/ipxe.efi to UEFI HTTP Boot clients
        (`ipxe_efi`).  snponly.efi (iPXE on the firmware's own network driver) installs and
        also gives the node back to the firmware when provd says "boot from local disk";
        ipxe.efi (iPXE's own drivers) installs too but hung on that exit in the tests.
      '';
    };

    dnsmasq = {
      enable = mkEnableOption ''
        dnsmasq as provd's DHCP front end, instead of pixiecore: ProxyDHCP next to the site's
        DHCP server (which keeps handing out the addresses) plus TFTP, configured with
        `provd dhcp-config --dnsmasq`.  BIOS and UEFI PXE clients get iPXE by TFTP from
        {option}`services.provd.dnsmasq.tftpRoot`, UEFI HTTP Boot clients provd's
        /v1/ipxe.efi, iPXE provd's /v1/ipxe.  Needs {option}`services.provd.publicUrl`
        (the URL goes into the DHCP answers)'';

      proxySubnet = mkOption {
        type = types.strMatching "[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+(/[0-9]+)?";
        example = "10.0.0.0/24";
        description = ''
          The IPv4 network to answer network-booting clients on (`--proxy-subnet`): one of
          the boot host's networks; without /LEN dnsmasq takes the interface's netmask.
        '';
      };

      interface = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "enp1s0";
        description = "Answer on this interface only (`--interface`); null: every interface.";
      };

      tftpRoot = mkOption {
        type = types.str;
        default = "${pkgs.ipxe}";
        defaultText = lib.literalExpression "\"\${pkgs.ipxe}\"";
        description = "Directory holding undionly.kpxe and snponly.efi, served by TFTP (`--tftp-root`).";
      };

      package = mkOption {
        type = types.package;
        default = pkgs.dnsmasq;
        defaultText = lib.literalExpression "pkgs.dnsmasq";
        description = "The dnsmasq package (2.90 was tested; it needs --dhcp-pxe-vendor).";
      };
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = (cfg.tls.certFile == null) == (cfg.tls.keyFile == null);
        message = "services.provd.tls: set both certFile and keyFile, or neither";
      }
      {
        assertion = cfg.readAuth != "token" || cfg.apiTokensFile != null || cfg.settings.api_tokens or null != null;
        message = "services.provd.readAuth = \"token\" needs services.provd.apiTokensFile";
      }
      {
        assertion = missingBmcCredentials == [ ];
        message = "services.provd: the inventory points the BMC password of node(s) ${lib.concatMapStringsSep ", " (n: n.name) missingBmcCredentials} at ${credentialsDirectory}/bmc-<name>, but services.provd.bmcPasswordFiles has no such entry";
      }
      {
        assertion = !(cfg.pixiecore.enable && cfg.dnsmasq.enable);
        message = "services.provd: pixiecore.enable and dnsmasq.enable are two DHCP front ends for the same clients; enable one";
      }
      {
        assertion = !cfg.dnsmasq.enable || cfg.publicUrl != null || cfg.settings.public_url or null != null;
        message = "services.provd.dnsmasq needs services.provd.publicUrl: the URL the nodes reach provd at goes into the DHCP answers";
      }
      {
        assertion = !cfg.pixiecore.enable || (listen.port != cfg.pixiecore.port && listen.port != cfg.pixiecore.statusPort);
        message = "services.provd: provd (listen) and pixiecore (pixiecore.port/statusPort) use the same TCP port";
      }
      {
        assertion = !pg || cfg.sharedKeyFile != null || cfg.settings.shared_key_file or null != null;
        message = "services.provd.database.type = \"postgresql\" needs services.provd.sharedKeyFile: every provd instance on the shared database seals install tokens with the same 32-byte key (make it once with `head -c 32 /dev/urandom >FILE` and give every boot host the same file)";
      }
      {
        assertion = !pg || cfg.database.createLocally || cfg.database.url != null || cfg.settings.state_url or null != null;
        message = "services.provd.database: with type = \"postgresql\" and createLocally = false, set url (the libpq connection URI of the shared database)";
      }
      {
        assertion = !(pgLocal && cfg.database.url != null);
        message = "services.provd.database: url is for a server elsewhere, but createLocally (the default) creates the database on this host and connects over /run/postgresql; set createLocally = false to use url";
      }
      {
        assertion = pg || (cfg.database.url == null && cfg.database.passFile == null);
        message = "services.provd.database: url and passFile are for type = \"postgresql\", but type is \"sqlite\"";
      }
      {
        assertion = !pgLocal || lib.versionAtLeast (lib.getVersion pgcfg.package) "13";
        message = "services.provd.database.createLocally: provd needs PostgreSQL 13 or later; services.postgresql.package is ${lib.getVersion pgcfg.package}";
      }
    ];

    warnings =
      lib.concatMap
        (f: optional (f != null && lib.hasPrefix builtins.storeDir f) "services.provd: the secret ${f} is in the world-readable Nix store")
        ([ cfg.apiTokensFile cfg.tls.keyFile cfg.sharedKeyFile cfg.database.passFile ] ++ lib.attrValues cfg.bmcPasswordFiles)
      ++ optional urlHasPassword "services.provd.database.url holds a password, which lands in the world-readable Nix store (provd.ini); put it in services.provd.database.passFile instead";

    services.provd.settings = lib.mapAttrs (_: mkDefault) ({
      inventory = "/etc/provd/inventory.json";
      state_dir = "/var/lib/${cfg.stateDirectory}";
      listen = cfg.listen;
      public_url = cfg.publicUrl;
      threads = cfg.threads;
      log_level = cfg.logLevel;
      read_auth = cfg.readAuth;
      install_deadline = cfg.installDeadline;
      bmc_workers = cfg.bmcWorkers;
      bmc_timeout = cfg.bmcTimeout;
      bmc_retries = cfg.bmcRetries;
      discovery_interface = cfg.discoveryInterface;
      ipxe_efi = cfg.ipxeEfi;
      state_url = stateUrl;
      instance_name = cfg.instanceName;
      bmc_racks = if cfg.bmcRacks == [ ] then null else lib.concatStringsSep "," cfg.bmcRacks;
    }
    // optionalAttrs (cfg.apiTokensFile != null) { api_tokens = credential "api-tokens"; }
    // optionalAttrs (cfg.tls.certFile != null) { tls_cert = credential "tls-cert"; }
    // optionalAttrs (cfg.tls.keyFile != null) { tls_key = credential "tls-key"; }
    // optionalAttrs (cfg.sharedKeyFile != null) { shared_key_file = credential "shared-key"; });

    # the database and its owner role `provd`, reached over /run/postgresql with the
    # default `local all all peer` rule of services.postgresql.authentication
    services.postgresql = mkIf pgLocal {
      enable = true;
      ensureDatabases = [ "provd" ];
      ensureUsers = [{ name = "provd"; ensureDBOwnership = true; }];
    };

    environment.etc."provd/inventory.json".source = inventoryFile;
    environment.etc."provd/provd.ini".source = configFile;
    environment.systemPackages = [ cfg.package ];

    systemd.sockets.provd = mkIf cfg.socketActivation {
      description = "provd PXE netboot provisioning daemon (listening socket)";
      wantedBy = [ "sockets.target" ];
      listenStreams = [ cfg.listen ];
      socketConfig = {
        # one socket for IPv6 and IPv4 when listening on [::]
        BindIPv6Only = "both";
        Backlog = 1024;
      };
    };

    systemd.services.provd = {
      description = "provd PXE netboot provisioning daemon";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ] ++ optional cfg.socketActivation "provd.socket" ++ optionals pgLocal pgUnits;
      requires = optional cfg.socketActivation "provd.socket" ++ optionals pgLocal pgUnits;
      # libpq reads the password for database.url from this file (libpq: "The Password File")
      environment = optionalAttrs (cfg.database.passFile != null) { PGPASSFILE = credential "pgpass"; };
      # a new inventory is a reload (SIGHUP); a new config file or package a restart
      reloadTriggers = [ inventoryTrigger ];
      restartTriggers = [ configFile ];

      serviceConfig = {
        Type = "notify";
        NotifyAccess = "main";
        ExecStart = "${cfg.package}/bin/provd serve --config ${configFile}";
        ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
        Restart = "on-failure";
        RestartSec = "2s";
        WatchdogSec = if cfg.watchdogSec == null then "0" else "${toString cfg.watchdogSec}s";

        DynamicUser = true;
        StateDirectory = cfg.stateDirectory;
        StateDirectoryMode = "0700";
        LoadCredential = credentials;
        UMask = "0077";

        # NixOS writes no line for an empty list, and without a CapabilityBoundingSet= line
        # the service keeps the full bounding set: the empty assignment is "none".
        CapabilityBoundingSet = if caps == [ ] then "" else caps;
        AmbientCapabilities = caps;
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        PrivateUsers = caps == [ ];
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        ProcSubset = "pid";
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ]
          ++ optionals (cfg.discoveryInterface != null) [ "AF_PACKET" "AF_NETLINK" ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" "~@privileged" ];
      };
    };

    services.pixiecore = mkIf cfg.pixiecore.enable {
      enable = true;
      mode = "api";
      inherit (cfg.pixiecore) apiServer dhcpNoBind listen port statusPort;
      openFirewall = cfg.openFirewall;
    };
    systemd.services.pixiecore = mkIf cfg.pixiecore.enable {
      wants = [ "provd.service" ];
      after = [ "provd.service" ];
    };

    networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall [ listen.port ];
    # ProxyDHCP on 67 and the PXE boot server port 4011 (UEFI PXE clients ask there for
    # their file), TFTP on 69: dnsmasq, and pixiecore alike.  pixiecore's PXE port is UDP
    # (net.ListenPacket "udp4"); nixpkgs' services.pixiecore of NixOS 23.11 opens 67 and 69
    # but TCP 4011, so the clients' requests to pixiecore's port 4011 were dropped.
    networking.firewall.allowedUDPPorts = mkIf (cfg.openFirewall && (cfg.dnsmasq.enable || cfg.pixiecore.enable)) [ 67 69 4011 ];

    users.users.provd-dnsmasq = mkIf cfg.dnsmasq.enable {
      isSystemUser = true;
      group = "provd-dnsmasq";
      description = "dnsmasq of provd's DHCP front end";
    };
    users.groups.provd-dnsmasq = mkIf cfg.dnsmasq.enable { };

    systemd.services.provd-dnsmasq = mkIf cfg.dnsmasq.enable {
      description = "dnsmasq: ProxyDHCP + TFTP front end of provd";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" "provd.service" ];
      after = [ "network-online.target" "provd.service" ];
      restartTriggers = [ dnsmasqConfig ];
      serviceConfig = {
        # dnsmasq binds its ports as root, then drops to --user (keeping the capabilities it
        # needs for DHCP); no lease database in proxy mode (--leasefile-ro), no pid file.
        ExecStart = "${cfg.dnsmasq.package}/bin/dnsmasq --keep-in-foreground --conf-file=${dnsmasqConfig} --leasefile-ro --pid-file= --user=provd-dnsmasq --group=provd-dnsmasq --log-facility=-";
        ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
        Restart = "on-failure";
        RestartSec = "2s";
        CapabilityBoundingSet = [ "CAP_NET_BIND_SERVICE" "CAP_NET_ADMIN" "CAP_NET_RAW" "CAP_SETUID" "CAP_SETGID" ];
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectControlGroups = true;
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" "AF_NETLINK" ];
        LockPersonality = true;
        SystemCallArchitectures = "native";
      };
    };
  };
}
