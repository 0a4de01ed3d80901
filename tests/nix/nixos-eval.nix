# tests/nix/nixos-eval.nix — provd's nix/ evaluated through the real NixOS module system
# (lib.evalModules of the nixpkgs tree given as `nixpkgs`), for tests/integration/nix-module.sh:
#
#   nix-instantiate --eval --strict --json tests/nix/nixos-eval.nix \
#     --argstr nixpkgs DIR --argstr root DIR --argstr case NAME
#
# nixpkgs: a nixpkgs tree with lib/, nixos/lib/systemd-{lib,unit-options,types}.nix,
#   nixos/modules/misc/assertions.nix and nixos/modules/services/networking/pixiecore.nix
#   (the slice, or a real checkout).  Every other NixOS option provd's modules set is
#   declared in tests/nix/nixos/options.nix with its real type; packages are stand-ins
#   (tests/nix/nixos/pkgs.nix) under ROOT/pkgs.
# root: the test's directory: pkgs/, built/, boot/ (the installer's kernel and ramdisk),
#   secrets/, inventory-host.json (an inventory file outside the store).
# case: see `cases` below.  A system whose assertions fail throws as NixOS does
#   (nixos/modules/system/activation/top-level.nix): "Failed assertions:" and "- <message>".
#
# A system's result: the unit files as NixOS writes them (systemdUtils.lib.serviceToUnit /
# socketToUnit), /etc entries, firewall ports, users, warnings, and what the test needs to
# build (the runCommand stand-ins' scripts).
{ nixpkgs, root, case }:

let
  lib = import "${nixpkgs}/lib";
  pkgs = import ./nixos/pkgs.nix { inherit lib root; };
  secrets = "${root}/secrets";

  evalSystem = modules: lib.evalModules {
    specialArgs = { modulesPath = ./nixos/modules; testRoot = root; inherit nixpkgs; };
    modules = [
      ./nixos/options.nix
      ./nixos/system.nix
      "${nixpkgs}/nixos/modules/misc/assertions.nix"
      "${nixpkgs}/nixos/modules/services/networking/pixiecore.nix"
      ./nixos/postgresql.nix
      { _module.args.pkgs = pkgs; }
    ] ++ modules;
  };

  # nixos/modules/system/activation/top-level.nix: failed assertions stop the evaluation,
  # warnings are printed
  checked = sys:
    let failed = map (x: x.message) (lib.filter (x: !x.assertion) sys.config.assertions);
    in
    if failed != [ ] then throw "\nFailed assertions:\n${lib.concatStringsSep "\n" (map (x: "- ${x}") failed)}"
    else lib.showWarnings sys.config.warnings sys;

  # what the test reads of an evaluated system
  render = sys':
    let
      sys = checked sys';
      c = sys.config;
      su = sys._module.args.utils.systemdUtils;
      standIn = x: if x ? standIn then x.standIn // { out = x.outPath; } else null;
    in
    {
      units =
        lib.mapAttrs' (n: v: lib.nameValuePair "${n}.service" (su.lib.serviceToUnit n v).text) c.systemd.services
        // lib.mapAttrs' (n: v: lib.nameValuePair "${n}.socket" (su.lib.socketToUnit n v).text) c.systemd.sockets
        // lib.mapAttrs' (n: v: lib.nameValuePair "${n}.timer" (su.lib.timerToUnit n v).text) c.systemd.timers;
      # the wantedBy links nixos would make (generateUnits)
      wantedBy = lib.mapAttrs (_: v: v.wantedBy) c.systemd.services // lib.mapAttrs' (n: v: lib.nameValuePair "${n}.socket" v.wantedBy) c.systemd.sockets
        // lib.mapAttrs' (n: v: lib.nameValuePair "${n}.timer" v.wantedBy) c.systemd.timers;
      etc = lib.mapAttrs (_: e: "${e.source}") (lib.filterAttrs (_: e: e.enable) c.environment.etc);
      tcp = c.networking.firewall.allowedTCPPorts;
      udp = c.networking.firewall.allowedUDPPorts;
      users = lib.mapAttrs (_: u: { inherit (u) isSystemUser group; }) c.users.users;
      groups = lib.attrNames c.users.groups;
      warnings = c.warnings;
      systemPackages = map toString c.environment.systemPackages;
      kernelParams = c.boot.kernelParams;
      nixSettings = { inherit (c.nix.settings) substituters trusted-public-keys; };
      # things to build: runCommand stand-ins the units refer to
      build = lib.filter (x: x != null) (
        map standIn (lib.concatMap (s: s.restartTriggers) (lib.attrValues c.systemd.services))
        ++ lib.optional (c ? provd && c.provd ? installer) (standIn c.provd.installer.scripts)
      );
      inventory = c.services.provd.inventory or null;
      # system.build.toplevel (tests/nix/nixos/system.nix: a store file named as the real one)
      toplevel = "${c.system.build.toplevel}";
      # nix/node.nix: its package, to build (a runCommand stand-in)
      nodePackage = if c ? services && c.services ? provd-node then standIn c.services.provd-node.package else null;
      # nix/stateless.nix, nix/image.nix
      hostName = c.networking.hostName;
      postMountCommands = c.boot.initrd.postMountCommands;
      provdImage = c.system.build.provdImage or null;
      # tests/nix/nixos/postgresql.nix (a stand-in for nixpkgs' module)
      postgresql = { inherit (c.services.postgresql) enable ensureDatabases ensureUsers authentication; port = c.services.postgresql.settings.port or null; };
    };

  # ---- the cluster of nix/README.md "A cluster flake" ----
  nodes = [
    { hostname = "node-01"; mac = "52:54:00:00:00:01"; ip = "10.0.0.1"; bmc = "10.1.0.1"; }
    { hostname = "node-02"; macs = [ "52:54:00:00:00:02" ]; ipmi = { address = "10.1.0.2"; user = "admin"; }; }
  ];
  cache = { url = "http://boot.cluster.example:5000"; key = "boot.cluster.example-1:AbCd...="; };

  nodeSystem = n: extra: evalSystem [
    ../../nix/install-script.nix
    ({ config, ... }: {
      networking.hostName = n.hostname;
      # the README passes disko's script; here: what the test's run of the script checks
      provd.install.partitionScript = ''
        echo "partitioned ${n.hostname}" >>"$PROVD_TEST_LOG"
      '';
    })
    extra
  ];
  computeNodes = builtins.listToAttrs (map (n: { name = n.hostname; value = nodeSystem n { }; }) nodes);

  installerWith = extra: evalSystem [
    ../../nix/installer.nix
    {
      provd.installer.substituters = [ cache.url ];
      provd.installer.trustedPublicKeys = [ cache.key ];
      provd.installer.serialConsole = "ttyS0,115200";
    }
    extra
  ];
  installer = installerWith { };

  readmeInventory = import ../../nix/inventory.nix {
    inherit nodes installer;
    nixosConfigurations = computeNodes;
    bmcUser = "admin";
  };

  # services.provd of the README, secrets under ROOT/secrets instead of /run/secrets
  # (the README's services.nix-serve is another nixpkgs module, not evaluated here)
  readme = {
    enable = true;
    listen = "0.0.0.0:8080";
    publicUrl = "http://boot.cluster.example:8080";
    inventory = readmeInventory;
    bmcPasswordFiles = {
      node-01 = "${secrets}/bmc-node-01";
      node-02 = "${secrets}/bmc-node-02";
    };
    apiTokensFile = "${secrets}/api-tokens";
    pixiecore.enable = true;
    openFirewall = true;
  };

  hostInventory = "${root}/inventory-host.json";

  # ---- a stateless profile: nix/image.nix on a profile configuration, evaluated once
  imageSystem = extra: evalSystem [
    ../../nix/image.nix
    { boot.kernelParams = [ "console=ttyS0,115200" "loglevel=4" ]; }
    extra
  ];
  computeImage = imageSystem { };
  statelessNodes = [
    { hostname = "c001"; mac = "52:54:00:00:10:01"; mode = "stateless"; image = "compute";
      overlay.files = [ { path = "/etc/ssh/ssh_host_ed25519_key"; source = "${secrets}/c001/ssh_host_ed25519_key"; } ]; }
    { hostname = "c002"; mac = "52:54:00:00:10:02"; mode = "stateless"; image = "compute"; }
  ];

  provd = cfg: evalSystem [ ../../nix/module.nix { services.provd = cfg; } ];
  provdWith = cfg: extra: evalSystem [ ../../nix/module.nix { services.provd = cfg; } extra ];

  # several instances on PostgreSQL: this host's server (createLocally), or a server elsewhere
  pgLocal = {
    enable = true;
    inventory = hostInventory;
    publicUrl = "http://boot-a.cluster.example:8080";
    database.type = "postgresql";
    sharedKeyFile = "${secrets}/shared-key";
    instanceName = "boot-a";
    bmcRacks = [ "rack1" "rack2" ];
  };
  pgRemote = pgLocal // {
    database = { type = "postgresql"; createLocally = false; url = "postgresql://provd@db.cluster.example:5432/provd?sslmode=verify-full"; passFile = "${secrets}/pgpass"; };
    publicUrl = "http://boot-b.cluster.example:8080";
    instanceName = "boot-b";
    bmcRacks = [ "rack3" ];
  };

  cases = {
    readme = render (provd readme);

    # socket activation on a privileged port, TLS, token-protected reads, discovery
    socket-tls-discovery = render (provd {
      enable = true;
      listen = "[::]:443";
      socketActivation = true;
      publicUrl = "https://boot.cluster.example";
      inventory = hostInventory;
      tls = { certFile = "${secrets}/tls-cert.pem"; keyFile = "${secrets}/tls-key.pem"; };
      apiTokensFile = "${secrets}/api-tokens";
      readAuth = "token";
      discoveryInterface = "lo";
      installDeadline = 7200;
      bmcWorkers = 4;
      bmcTimeout = 5;
      bmcRetries = 1;
      threads = 2;
      logLevel = "debug";
      watchdogSec = null;
      settings = { discovery_max = 100; header_timeout = 5; log_level = "warning"; };
    });

    # the DHCP front end
    dnsmasq = render (provd {
      enable = true;
      inventory = hostInventory;
      publicUrl = "http://10.0.0.5:8080";
      openFirewall = true;
      dnsmasq = { enable = true; proxySubnet = "10.0.0.0/24"; interface = "eth0"; };
    });

    # the inventory as a file outside the store: a string, and a path literal
    inventory-string = render (provd { enable = true; inventory = hostInventory; });
    inventory-literal = render (provd { enable = true; inventory = /. + hostInventory; });

    # a secret in the store (warned about), and as a path literal (refused: it would be copied
    # into the store)
    warn-store-secret = render (provd { enable = true; inventory = hostInventory; apiTokensFile = "${builtins.storeDir}/00000000000000000000000000000000-api-tokens"; });
    secret-literal = render (provd { enable = true; inventory = hostInventory; apiTokensFile = /. + "${secrets}/api-tokens"; });

    # PostgreSQL: on this host (NixOS 23.11's module, and with the setup unit of 25.05 on),
    # on another host; the SQLite default with the instance options
    pg-local = render (provd pgLocal);
    pg-local-setup-unit = render (provdWith pgLocal { services.postgresql.withSetupUnit = true; });
    pg-remote = render (provd pgRemote);
    sqlite-instance = render (provd { enable = true; inventory = hostInventory; instanceName = "boot-a"; bmcRacks = [ "rack1" ]; });
    warn-pg-url-password = render (provd (pgRemote // { database = pgRemote.database // { url = "postgresql://provd:hunter2@db.cluster.example/provd"; }; }));
    warn-pg-url-password-param = render (provd (pgRemote // { database = pgRemote.database // { url = "postgresql://db.cluster.example/provd?user=provd&password=hunter2"; }; }));
    assert-pg-shared-key = render (provd (removeAttrs pgLocal [ "sharedKeyFile" ]));
    assert-pg-url-missing = render (provd (pgLocal // { database = { type = "postgresql"; createLocally = false; }; }));
    assert-pg-url-local = render (provd (pgLocal // { database = { type = "postgresql"; url = "postgresql://db.cluster.example/provd"; }; }));
    assert-pg-url-sqlite = render (provd { enable = true; inventory = hostInventory; database.url = "postgresql://db.cluster.example/provd"; });
    assert-pg-version = render (provdWith pgLocal { services.postgresql.package = pkgs.postgresql_12; });
    # not assertions: the types of provd's instance_name and bmc_racks
    bad-instance-name = render (provd (pgLocal // { instanceName = "boot a"; }));
    bad-bmc-racks = render (provd (pgLocal // { bmcRacks = [ "rack1,rack2" ]; }));

    # a port below 1024 without socket activation
    port80 = render (provd { enable = true; inventory = hostInventory; listen = "0.0.0.0:80"; });

    # each assertion of nix/module.nix, failing alone
    assert-tls-half = render (provd { enable = true; inventory = hostInventory; tls.certFile = "${secrets}/tls-cert.pem"; });
    assert-token-without-tokens = render (provd { enable = true; inventory = hostInventory; readAuth = "token"; });
    assert-bmc-credential = render (provd (readme // { bmcPasswordFiles = { node-01 = "${secrets}/bmc-node-01"; }; }));
    assert-two-front-ends = render (provd (readme // { dnsmasq = { enable = true; proxySubnet = "10.0.0.0/24"; }; }));
    assert-dnsmasq-url = render (provd { enable = true; inventory = hostInventory; dnsmasq = { enable = true; proxySubnet = "10.0.0.0/24"; }; });
    assert-port-clash = render (provd (readme // { listen = "0.0.0.0:80"; }));
    # not an assertion: listen is parsed at evaluation
    bad-listen = render (provd { enable = true; inventory = hostInventory; listen = "8080"; });

    # nix/node.nix on a node: the defaults, another interval, and a credential in the store
    # (refused by its assertion)
    node = render (nodeSystem { hostname = "node-01"; } { imports = [ ../../nix/node.nix ]; services.provd-node.enable = true; });
    node-custom = render (nodeSystem { hostname = "node-01"; } {
      imports = [ ../../nix/node.nix ];
      services.provd-node = {
        enable = true;
        interval = "7min";
        urlFile = "${root}/node-files/url";
        nodeFile = "${root}/node-files/node";
        credentialFile = "${root}/node-files/credential";
      };
    });
    # a path literal as credentialFile (refused by its type: it would be copied into the store)
    node-credential-literal = render (nodeSystem { hostname = "node-01"; } {
      imports = [ ../../nix/node.nix ];
      services.provd-node = { enable = true; credentialFile = /. + "${root}/node-files/credential"; };
    });
    assert-node-credential-in-store = render (nodeSystem { hostname = "node-01"; } {
      imports = [ ../../nix/node.nix ];
      services.provd-node = { enable = true; credentialFile = "${builtins.storeDir}/00000000000000000000000000000000-credential"; };
    });

    # nix/image.nix (+ nix/stateless.nix, nix/node.nix) on a profile; its reporter reading the
    # files a stage-1 copy put under ROOT/initramfs/mnt-root; the two assertions
    image = render computeImage;
    image-fakeroot = render (imageSystem {
      services.provd-node = {
        urlFile = "${root}/initramfs/mnt-root/var/lib/provd-node/url";
        nodeFile = "${root}/initramfs/mnt-root/var/lib/provd-node/node";
        credentialFile = "${root}/initramfs/mnt-root/var/lib/provd-node/credential";
      };
    });
    assert-stateless-hostname = render (imageSystem { networking.hostName = "compute"; });
    assert-stateless-systemd-initrd = render (imageSystem { boot.initrd.systemd.enable = true; });
    # stateless.nix imported but not enabled: no stage-1 commands, the hostName left alone
    stateless-off = render (nodeSystem { hostname = "node-01"; } { imports = [ ../../nix/stateless.nix ]; });
    # nix/inventory.nix with the README's install nodes and stateless nodes of that image
    image-inventory = builtins.toFile "inventory.json" (builtins.toJSON (import ../../nix/inventory.nix {
      inherit installer;
      nodes = nodes ++ statelessNodes;
      nixosConfigurations = computeNodes;
      images.compute = computeImage;
    }));

    # nix/installer.nix
    installer = render installer;
    installer-default-caches = render (installerWith { provd.installer.onlySiteCaches = false; provd.installer.reboot = false; });
    assert-installer-substituters = render (installerWith { provd.installer.substituters = lib.mkForce [ ]; });

    # nix/install-script.nix on the README's nodes; systemInScriptClosure both ways
    install-script = lib.mapAttrs
      (_: sys: {
        script = "${sys.config.system.build.provdInstallScript}";
        toplevel = "${sys.config.system.build.toplevel}";
      })
      (computeNodes // {
        node-03-plain = nodeSystem { hostname = "node-03"; } {
          provd.install.systemInScriptClosure = false;
          provd.install.extraInstallArgs = [ "--max-jobs" "4" ];
          provd.install.root = "/target";
        };
      });

    # nix/inventory.nix on the evaluated systems: the README's call, and without the systems
    # in its closure
    inventory = {
      readme = builtins.toFile "inventory.json" (builtins.toJSON readmeInventory);
      unclosed = builtins.toFile "inventory.json" (builtins.toJSON (import ../../nix/inventory.nix {
        inherit nodes installer;
        nixosConfigurations = computeNodes;
        systemsInClosure = false;
      }));
    };

    # the options' documentation as the NixOS manual renders it (lib.optionAttrSetToDocList,
    # as nixos/lib/make-options-doc does): every description, default (or defaultText) and
    # example of provd's options evaluates
    docs = map
      (o: {
        inherit (o) name description type;
        # literalExpression (the default, or a defaultText written as Nix) or literalMD
        default = o.default.text or null;
        defaultKind = o.default._type or null;
        example = o.example.text or null;
      })
      (lib.filter (o: !o.internal && (lib.hasPrefix "services.provd." o.name || lib.hasPrefix "services.provd-node." o.name || lib.hasPrefix "provd." o.name))
        (lib.optionAttrSetToDocList (evalSystem [ ../../nix/module.nix ../../nix/installer.nix ../../nix/install-script.nix ../../nix/node.nix ../../nix/stateless.nix ]).options));

    # nix/package.nix through callPackage
    package =
      let
        p = pkgs.callPackage ../../nix/package.nix { };
        a = p.drvAttrs;
        names = map (d: d.name);
      in
      {
        inherit (p) name pname version;
        nativeBuildInputs = names a.nativeBuildInputs;
        buildInputs = names a.buildInputs;
        inherit (a) mesonFlags doCheck checkPhase postInstall;
        meta = { inherit (a.meta) description mainProgram; license = a.meta.license.spdxId; platforms = a.meta.platforms; };
        src = "${a.src}";
      };
  };
in
cases.${case}
