# nix/inventory.nix — the provd inventory (api/inventory.schema.json, README "Inventory")
# generated from a cluster's nixosConfigurations, a node list, ONE netboot installer for the
# nodes that install to disk, and one netboot image per profile for the stateless nodes.
#
#   import ./inventory.nix {
#     nodes = [ { hostname = "node-01"; mac = "52:54:00:00:00:01"; bmc = "10.1.0.1"; }
#               { hostname = "c001"; mac = "52:54:00:00:10:01"; mode = "stateless"; image = "compute"; }
#               ... ];
#     nixosConfigurations = { node-01 = <evaluated NixOS system>; ... };
#     installer = <evaluated NixOS system built with nix/installer.nix>;
#     images = { compute = <evaluated NixOS system built with nix/image.nix>; };
#   }
#   => { version = 1; images? = { compute = { kernel; initrd; init; toplevel; cmdline?; }; };
#        nodes = [ { name; mac; bmc?; boot; system; }                  # install nodes
#                  { name; mac; bmc?; mode = "stateless"; image; overlay?; } ... ]; }
#
# Write it out with builtins.toJSON (services.provd.inventory accepts the attribute set
# directly).  Builtins only (no nixpkgs lib), Nix >= 2.8, so CI evaluates it with
# `nix-instantiate --eval --strict --json` on plain attribute sets (tests/nix/).
#
# The installer is evaluated ONCE: it is a single argument, an already evaluated system, and
# its kernel, initrd and init= are computed once in `installerBoot` below; every node's
# `boot` shares that one value (Nix memoises it).  Nothing here evaluates a NixOS system per
# node: for a node only `config.system.build.toplevel` and the install script of its own
# configuration are read (evaluating a full NixOS system per node costs seconds and
# 100+ MB each; that is the site's nixosConfigurations, evaluated anyway).
#
# Netboot facts (nixpkgs nixos/modules/installer/netboot/netboot.nix): kernel is
# ${config.system.build.kernel}/${config.system.boot.loader.kernelFile}, initrd is
# ${config.system.build.netbootRamdisk}/initrd, and init= is the INSTALLER's own
# ${config.system.build.toplevel}/init, followed by its boot.kernelParams.
#
# Images are evaluated once per profile too: `images` is a set of evaluated systems (or of
# image sets already made), each turned into its inventory entry once in `imageEntries`;
# every stateless node names its image and reads nothing else of it.  A cluster of 1,000
# stateless nodes of one profile evaluates one NixOS system.
#
# Every check provd makes on a node is made here too, so a bad node list fails evaluation
# with a message naming the node (builtins.throw), not provd at load time.
{
  # List of node descriptions, in the order the inventory lists them.  Accepted spellings:
  #   name:  hostname | hostName | name
  #   MACs:  mac | macs | macAddress | macAddresses   (a string or a list of strings; any of
  #          aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff, aabbccddeeff; output is
  #          lowercase colon form)
  #   BMC:   bmc | ipmi (a host string, or { host | address | ip | hostname; port?;
  #          user? | username?; passwordFile? }) | bmcAddress | ipmiAddress (a host string).
  #          A "/prefix" suffix on an address ("10.1.0.7/16") is dropped.
  #   nixosConfiguration: the attribute name in nixosConfigurations (default: the name)
  #   cmdline: extra kernel arguments for this node (string or list), after the installer's
  #   rack:  emitted only if api/inventory.schema.json accepts a per-node "rack"
  #   mode:  "install" (default: the installer installs nixosConfiguration to disk) or
  #          "stateless" (boots `image` from the network on every boot)
  #   image: a stateless node's image, a name in `images`
  #   overlay.files: a stateless node's per-node files, [ { path; source; mode? ("0600");
  #          uid? (0); gid? (0); } ]: `source` is read by provd on the boot host when it builds
  #          the node's overlay, so it is a path STRING outside the Nix store (a path literal
  #          would copy the secret into the world-readable store: refused)
  # Other attributes (IP addresses, roles, ...) are ignored.
  nodes
, # name -> evaluated NixOS system (at least config.system.build.toplevel); install nodes only
  nixosConfigurations ? { }
, # ONE evaluated NixOS system: the netboot installer (nix/installer.nix on netboot-minimal);
  # needed when a node installs to disk
  installer ? null
, # image name -> an evaluated NixOS system built with nix/image.nix (its
  # config.system.build.provdImage; a system with netboot.nix alone also does), or an image
  # set already made: { kernel; initrd (string or list); init; toplevel; cmdline?; }
  images ? { }
, # the node's install script (a store path), given its name and evaluated system
  installScript ? name: system:
    let build = system.config.system.build or { }; in
    if build ? provdInstallScript then build.provdInstallScript
    else throw "provd inventory: node \"${name}\": nixosConfigurations.${name}.config.system.build.provdInstallScript is missing: import provd's nix/install-script.nix in its configuration, or pass installScript"
, # kernel arguments after the installer's init= and boot.kernelParams, for every node
  extraCmdline ? ""
, # where the provd service finds its systemd credentials (LoadCredential=)
  credentialsDirectory ? "/run/credentials/provd.service"
, # the BMC password file of a node that has a BMC (null: none); nix/module.nix loads
  # services.provd.bmcPasswordFiles.<suffix> as credential bmc-<suffix>
  bmcPasswordFile ? name: "${credentialsDirectory}/bmc-${name}"
, # BMC user for nodes whose entry names none (null: leave it out; provd then logs in as
  # the anonymous/null user)
  bmcUser ? null
, # FreeIPMI workaround names for nodes whose bmc entry names none (e.g. [ "opensesspriv" ])
  bmcWorkarounds ? [ ]
, # keep the nodes' toplevels and install scripts in the string context, so that building
  # the inventory (or the boot host's system) builds them too.  false: plain strings; the
  # site must then push them to its binary cache by other means.
  systemsInClosure ? true
}:

let
  inherit (builtins)
    all any attrNames concatMap concatStringsSep elem filter genList groupBy hasAttr head isAttrs isInt isList
    isPath isString length map mapAttrs match replaceStrings split stringLength substring toString typeOf;

  fail = msg: throw "provd inventory: ${msg}";

  schema = builtins.fromJSON (builtins.readFile ../api/inventory.schema.json);
  schemaHasRack = schema."$defs".node.properties ? rack;

  toList = x: if isList x then x else [ x ];
  words = s: filter (w: isString w && w != "") (split "[ ]+" s);
  joinWords = ws: concatStringsSep " " (filter (w: w != "") ws);
  str = x: if isString x then x else toString x;
  strip = s: if systemsInClosure then s else builtins.unsafeDiscardStringContext s;

  # first attribute present among `names`, or `default`
  pick = attrs: names: default:
    let present = filter (n: hasAttr n attrs) names; in
    if present == [ ] then default else attrs.${head present};

  lower = replaceStrings
    [ "A" "B" "C" "D" "E" "F" ] [ "a" "b" "c" "d" "e" "f" ];

  # MAC forms accepted by provd (common/mac.c): returns lowercase "aa:bb:cc:dd:ee:ff"
  normaliseMac = who: m:
    let
      h2 = "[0-9A-Fa-f]{2}";
      h4 = "[0-9A-Fa-f]{4}";
      hex =
        if !isString m then fail "node \"${who}\": a MAC is a ${typeOf m}, not a string"
        else if match "(${h2}:){5}${h2}" m != null then replaceStrings [ ":" ] [ "" ] m
        else if match "(${h2}-){5}${h2}" m != null then replaceStrings [ "-" ] [ "" ] m
        else if match "${h4}\\.${h4}\\.${h4}" m != null then replaceStrings [ "." ] [ "" ] m
        else if match "[0-9A-Fa-f]{12}" m != null then m
        else fail "node \"${who}\": \"${m}\" is not a MAC address (aa:bb:cc:dd:ee:ff)";
      h = lower hex;
    in
    if h == "000000000000" then fail "node \"${who}\": MAC ${m} is all zeros"
    else if elem (substring 1 1 h) [ "1" "3" "5" "7" "9" "b" "d" "f" ]
    then fail "node \"${who}\": MAC ${m} is a multicast address"
    else concatStringsSep ":" (genList (i: substring (2 * i) 2 h) 6);

  # an absolute, clean path (api/inventory.schema.json absolutePath)
  isCleanPath = p:
    match "(/[^/[:cntrl:]]+)+" p != null && match "(.*/)?\\.{1,2}(/.*)?" p == null;
  isStorePath = p:
    isCleanPath p && match "/nix/store/[A-Za-z0-9+._?=-][A-Za-z0-9+._?=/-]*" p != null;
  isUrl = p: match "https?://[^[:space:][:cntrl:]\"]+" p != null;

  checkBootFile = what: p:
    if isCleanPath p || isUrl p then p
    else fail "${what} \"${p}\" is neither an absolute clean path nor an http(s) URL";

  checkCmdline = who: c:
    let bad = filter (w: match "(provd\\..*|nixos\\.install=.*)" w != null) (words c); in
    if match "[^[:cntrl:]\"]*" c == null then fail "${who}: kernel command line has a control character or '\"': ${c}"
    else if match ".*(\\{\\{|\\$\\{).*" c != null then fail "${who}: kernel command line has \"{{\" or \"\${\" (pixiecore/iPXE template syntax): ${c}"
    else if bad != [ ] then fail "${who}: kernel command line sets ${head bad}: provd appends nixos.install= and provd.* itself"
    else if stringLength c > 1536 then fail "${who}: kernel command line is longer than 1536 characters"
    else c;

  # ---- the installer, evaluated once, shared by every node
  installerBoot =
    let
      cfg = installer.config or (fail "installer has no .config: pass an evaluated NixOS system (nixpkgs.lib.nixosSystem { ... })");
      build = cfg.system.build;
      kernel = "${build.kernel}/${cfg.system.boot.loader.kernelFile}";
      initrd = "${build.netbootRamdisk}/initrd";
      init = "${build.toplevel}/init";
    in
    {
      kernel = checkBootFile "installer kernel" kernel;
      initrd = [ (checkBootFile "installer initrd" initrd) ];
      cmdline = checkCmdline "installer"
        (joinWords ([ "init=${init}" ] ++ map str (cfg.boot.kernelParams or [ ]) ++ words extraCmdline));
    };

  # ---- the images, each evaluated once, shared by the stateless nodes naming it
  isName = v: isString v && match "[A-Za-z0-9][A-Za-z0-9._-]{0,62}" v != null;
  mkImage = iname: v:
    let
      who = "image \"${iname}\"";
      build = v.config.system.build or { };
      cfg = v.config;
      # nix/image.nix's system.build.provdImage; else a netboot.nix system's own files; else a
      # set already made
      raw =
        if !isAttrs v then fail "${who} is a ${typeOf v}, not an evaluated NixOS system or an image set"
        else if build ? provdImage then build.provdImage
        else if v ? config then
          if build ? netbootRamdisk && build ? kernel && build ? toplevel then {
            kernel = "${build.kernel}/${cfg.system.boot.loader.kernelFile}";
            initrd = [ "${build.netbootRamdisk}/initrd" ];
            init = "${build.toplevel}/init";
            toplevel = "${build.toplevel}";
            cmdline = joinWords (map str (cfg.boot.kernelParams or [ ]));
          }
          else fail "${who}: its system has neither config.system.build.provdImage nor the netboot files (system.build.netbootRamdisk): import provd's nix/image.nix in it"
        else v;
      known = [ "kernel" "initrd" "init" "toplevel" "cmdline" ];
      unknown = filter (k: !elem k known) (attrNames raw);
      kernel = checkBootFile "${who}: kernel" "${raw.kernel or (fail "${who} has no kernel")}";
      initrd = map (f: checkBootFile "${who}: initrd" "${f}") (toList (raw.initrd or (fail "${who} has no initrd")));
      init = "${raw.init or (fail "${who} has no init")}";
      toplevel = "${raw.toplevel or (fail "${who} has no toplevel")}";
      cmdline0 = raw.cmdline or "";
      cmdline = checkCmdline who (if isList cmdline0 then joinWords (map str cmdline0) else str cmdline0);
    in
    if !isName iname then fail "image name \"${iname}\" is not valid (1-63 of A-Z a-z 0-9 . _ -, starting with a letter or digit)"
    else if unknown != [ ] then fail "${who} has unknown attribute ${head unknown} (an image set has kernel, initrd, init, toplevel, cmdline)"
    # provd appends the node's overlay as one more initrd (at most 16 in all)
    else if initrd == [ ] || length initrd > 15 then fail "${who} must have 1 to 15 initrds (provd adds the overlay)"
    else if !isStorePath init then fail "${who}: init \"${init}\" is not a /nix/store path"
    else if !isStorePath toplevel then fail "${who}: toplevel \"${toplevel}\" is not a /nix/store path"
    else if any (w: match "init=.*" w != null) (words cmdline) then fail "${who}: kernel command line sets init=: provd appends the image's init= itself"
    else { inherit kernel initrd init toplevel; } // (if cmdline != "" then { inherit cmdline; } else { });

  imageEntries =
    if !isAttrs images then fail "images is a ${typeOf images}, not an attribute set of name -> image"
    else if length (attrNames images) > 1024 then fail "more than 1024 images"
    else mapAttrs mkImage images;

  # ---- a stateless node's per-node overlay files (overlay.files)
  overlayFile = name: i: f:
    let
      who = "node \"${name}\": overlay.files[${toString i}]";
      path = f.path or (fail "${who} has no path");
      source = f.source or (fail "${who} (${str path}) has no source");
      mode = f.mode or "0600";
      uid = f.uid or null;
      gid = f.gid or null;
      unknown = filter (k: !elem k [ "path" "source" "mode" "uid" "gid" ]) (attrNames f);
      isId = x: isInt x && x >= 0 && x <= 2147483647;
    in
    if !isAttrs f then fail "${who} is a ${typeOf f}, not { path; source; mode?; uid?; gid?; }"
    else if unknown != [ ] then fail "${who} has unknown attribute ${head unknown} (path, source, mode, uid, gid)"
    else if !isString path || !isCleanPath path then fail "${who}: path \"${str path}\" is not an absolute clean path"
    else if path == "/etc/hostname" || match "/var/lib/provd-node(/.*)?" path != null || match "/etc/provd(/.*)?" path != null
    then fail "${who}: path ${path} is one provd writes itself (/etc/hostname, /var/lib/provd-node/, /etc/provd/)"
    else if elem path [ "/etc" "/var" "/var/lib" ] then fail "${who}: path ${path} is a directory of the files provd writes itself"
    else if isPath source then fail "${who} (${path}): source is a Nix path literal, which would copy the file (a secret) into the world-readable Nix store; give its path on the boot host as a string: \"/var/lib/provd/secrets/...\""
    else if !isString source then fail "${who} (${path}): source is a ${typeOf source}, not a path string"
    else if builtins.hasContext source || match "${builtins.storeDir}/.*" source != null || match "/nix/store/.*" source != null
    then fail "${who} (${path}): source \"${source}\" is in the Nix store, which is world-readable: keep per-node secrets outside it (a path string such as \"/var/lib/provd/secrets/${name}/...\")"
    else if !isCleanPath source then fail "${who} (${path}): source \"${source}\" is not an absolute clean path"
    # 1-5 octal digits of at most 07777, as provd reads it
    else if !isString mode || match "[0-7]{1,4}|0[0-7]{4}" mode == null then fail "${who} (${path}): mode ${str mode} is not an octal string such as \"0600\" (at most 07777)"
    else if uid != null && !isId uid then fail "${who} (${path}): uid ${str uid} is not an integer 0..2147483647"
    else if gid != null && !isId gid then fail "${who} (${path}): gid ${str gid} is not an integer 0..2147483647"
    else { inherit path source mode; }
      // (if uid != null then { inherit uid; } else { })
      // (if gid != null then { inherit gid; } else { });

  overlayOf = name: n:
    let
      o = pick n [ "overlay" ] { };
      files0 = o.files or [ ];
      files = genList (i: overlayFile name i (builtins.elemAt files0 i)) (length files0);
      dups = filter (g: length g > 1) (builtins.attrValues (groupBy (f: f.path) files));
      # a path inside another: a file cannot also be a directory
      under = a: b: let p = "${a.path}/"; in substring 0 (stringLength p) b.path == p;
      nested = concatMap (a: map (b: { inherit a b; }) (filter (under a) files)) files;
    in
    if !isAttrs o then fail "node \"${name}\": overlay is a ${typeOf o}, not { files = [ ... ]; }"
    else if attrNames o != [ ] && attrNames o != [ "files" ] then fail "node \"${name}\": overlay has attributes other than files"
    else if !isList files0 then fail "node \"${name}\": overlay.files is a ${typeOf files0}, not a list"
    else if length files > 64 then fail "node \"${name}\": more than 64 overlay files"
    else if dups != [ ] then fail "node \"${name}\": overlay file path ${(head (head dups)).path} appears more than once"
    else if nested != [ ] then fail "node \"${name}\": overlay file path ${(head nested).b.path} is inside overlay file path ${(head nested).a.path}"
    else files;

  # ---- one node of the list, validated and translated
  nodeName = i: n:
    let v = if isAttrs n then pick n [ "hostname" "hostName" "name" ] null else null; in
    if !isAttrs n then fail "nodes[${toString i}] is a ${typeOf n}, not an attribute set"
    else if v == null then fail "nodes[${toString i}] has no hostname (or hostName, name)"
    else if !isString v || match "[A-Za-z0-9][A-Za-z0-9._-]{0,62}" v == null
    then fail "nodes[${toString i}]: \"${str v}\" is not a valid node name (1-63 of A-Z a-z 0-9 . _ -, starting with a letter or digit)"
    else v;

  bmcOf = name: n:
    let
      raw = pick n [ "bmc" "ipmi" "bmcAddress" "ipmiAddress" ] null;
      attrs = if isString raw then { host = raw; } else raw;
      host0 = if isAttrs attrs then pick attrs [ "host" "address" "ip" "hostname" ] null else null;
      host = if isString host0 then head (split "/" host0) else host0;
      port = pick attrs [ "port" ] null;
      user = pick attrs [ "user" "username" ] bmcUser;
      pwFile = pick attrs [ "passwordFile" "password_file" ] (if bmcPasswordFile == null then null else bmcPasswordFile name);
      workarounds = pick attrs [ "workarounds" ] bmcWorkarounds;
      cipher = pick attrs [ "cipherSuite" "cipher_suite" ] null;
      bootMode = pick attrs [ "bootMode" "boot_mode" ] null;
      console = pick attrs [ "console" ] null;
    in
    if raw == null then null
    else if !isAttrs attrs then fail "node \"${name}\": bmc is a ${typeOf raw}, not a host string or attribute set"
    else if !isString host || match "[^[:space:][:cntrl:]]+" host == null then fail "node \"${name}\": bmc has no valid host (host, address or ip)"
    else if port != null && !(isInt port && port >= 1 && port <= 65535) then fail "node \"${name}\": bmc port ${str port} is not 1-65535"
    else if user != null && !isString user then fail "node \"${name}\": bmc user is not a string"
    else if pwFile != null && !(isString pwFile && isCleanPath pwFile) then fail "node \"${name}\": bmc password file \"${str pwFile}\" is not an absolute clean path"
    else if !(isList workarounds && all (w: isString w && match "[a-z0-9]+" w != null) workarounds) then fail "node \"${name}\": bmc workarounds must be a list of FreeIPMI workaround names"
    else if cipher != null && !(isInt cipher && cipher >= 1 && cipher <= 17) then fail "node \"${name}\": bmc cipher suite ${str cipher} is not 1-17"
    else if bootMode != null && bootMode != "legacy" && bootMode != "efi" then fail "node \"${name}\": bmc boot mode \"${str bootMode}\" is not legacy or efi"
    else if console != null && !(elem console [ "ipmiconsole" "ipmitool" "none" ]) then fail "node \"${name}\": bmc console \"${str console}\" is not ipmiconsole, ipmitool or none"
    else
      { inherit host; }
      // (if workarounds != [ ] then { inherit workarounds; } else { })
      // (if cipher != null then { cipher_suite = cipher; } else { })
      // (if bootMode != null then { boot_mode = bootMode; } else { })
      // (if console != null then { inherit console; } else { })
      // (if port != null then { inherit port; } else { })
      // (if user != null then { inherit user; } else { })
      // (if pwFile != null then { password_file = pwFile; } else { });

  mkNode = i: n:
    let
      name = nodeName i n;
      mode = pick n [ "mode" ] "install";
    in
    if mode == "stateless" then mkStatelessNode name n
    else if mode != "install" then fail "node \"${name}\": mode \"${str mode}\" is not \"install\" or \"stateless\""
    else if hasAttr "image" n || hasAttr "overlay" n then fail "node \"${name}\" installs to disk (mode \"install\", the default): image and overlay are for stateless nodes (mode = \"stateless\")"
    else if installer == null then fail "node \"${name}\" installs to disk (mode \"install\", the default), but no installer is given: pass the netboot installer (nix/installer.nix)"
    else mkInstallNode name n;

  # MACs, BMC and rack: every node
  common = name: n:
    let
      macs = map (normaliseMac name) (toList (pick n [ "mac" "macs" "macAddress" "macAddresses" ] [ ]));
      bmc = bmcOf name n;
      rack = pick n [ "rack" ] null;
    in
    if macs == [ ] then fail "node \"${name}\" has no MAC (mac, macs, macAddress)"
    else if length macs > 16 then fail "node \"${name}\" has more than 16 MACs"
    else
      { mac = macs; }
      // (if bmc != null then { inherit bmc; } else { })
      // (if rack != null && schemaHasRack then { rack = str rack; } else { });

  mkStatelessNode = name: n:
    let
      image = pick n [ "image" ] (fail "node \"${name}\" is stateless but names no image (image = \"<name in images>\")");
      files = overlayOf name n;
      notHere = filter (k: hasAttr k n) [ "cmdline" "nixosConfiguration" ];
      c = common name n;
    in
    builtins.seq c (
    if !isString image then fail "node \"${name}\": image is a ${typeOf image}, not an image name"
    else if !hasAttr image imageEntries then fail "node \"${name}\": image \"${image}\" is not in images (${concatStringsSep ", " (attrNames imageEntries)})"
    else if notHere != [ ] then fail "node \"${name}\": a stateless node boots its image; ${head notHere} is not allowed (kernel parameters go in the image's boot.kernelParams)"
    else
      { inherit name; mode = "stateless"; inherit image; }
      // c
      // (if files != [ ] then { overlay = { inherit files; }; } else { }));

  mkInstallNode = name: n:
    let
      confName = pick n [ "nixosConfiguration" ] name;
      system =
        if hasAttr confName nixosConfigurations then nixosConfigurations.${confName}
        else fail "node \"${name}\" is not in nixosConfigurations (no attribute \"${confName}\")";
      toplevel0 = system.config.system.build.toplevel or (fail "node \"${name}\": nixosConfigurations.${confName} has no config.system.build.toplevel");
      toplevel = strip "${toplevel0}";
      install = strip "${installScript confName system}";
      extra = words (concatStringsSep " " (map str (toList (pick n [ "cmdline" ] [ ]))));
      cmdline = if extra == [ ] then installerBoot.cmdline
        else checkCmdline "node \"${name}\"" (joinWords ([ installerBoot.cmdline ] ++ extra));
      c = common name n;
    in
    builtins.seq c (
    if !isStorePath toplevel then fail "node \"${name}\": toplevel \"${toplevel}\" is not a /nix/store path"
    else if !isStorePath install then fail "node \"${name}\": install script \"${install}\" is not a /nix/store path"
    else
      {
        inherit name;
        inherit (c) mac;
        boot = installerBoot // { inherit cmdline; };
        system = { inherit toplevel install; };
      }
      // removeAttrs c [ "mac" ]);

  # ---- the whole list; names and MACs unique across it
  nodeList = if isList nodes then nodes else fail "nodes is a ${typeOf nodes}, not a list";
  built = genList (i: mkNode i (builtins.elemAt nodeList i)) (length nodeList);

  dupNames = filter (g: length g > 1) (builtins.attrValues (groupBy (n: n.name) built));
  macOwners = concatMap (n: map (m: { inherit m; inherit (n) name; }) n.mac) built;
  dupMacs = filter (g: length g > 1 && any (o: o.name != (head g).name) g)
    (builtins.attrValues (groupBy (o: o.m) macOwners));
  dupMacsInNode = filter (g: length g > 1) (builtins.attrValues (groupBy (o: "${o.name} ${o.m}") macOwners));
in
if length nodeList > 100000 then fail "more than 100000 nodes"
else if dupNames != [ ] then fail "node name \"${(head (head dupNames)).name}\" appears more than once"
else if dupMacs != [ ] then
  let g = head dupMacs; in
  fail "MAC ${(head g).m} is used by node \"${(head g).name}\" and by node \"${(head (filter (o: o.name != (head g).name) g)).name}\""
else if dupMacsInNode != [ ] then
  let o = head (head dupMacsInNode); in
  fail "node \"${o.name}\" lists MAC ${o.m} more than once"
else { version = 1; nodes = built; }
  // (if imageEntries != { } then { images = imageEntries; } else { })
