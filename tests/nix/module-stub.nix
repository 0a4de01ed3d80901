# tests/nix/module-stub.nix — a SMOKE CHECK of nix/module.nix's own logic with a crude
# stand-in for nixpkgs' lib and pkgs (no nixpkgs on these machines).  It is NOT the NixOS
# module system: no option merging, no types, no priorities beyond mkDefault.  What it
# checks: listen parsing, the rendered [serve] keys, LoadCredential=, capabilities and
# address families, the pixiecore settings and the assertions.  What it cannot check: that
# nixpkgs' lib, types and services options are used correctly.
#   nix-instantiate --eval --strict --json tests/nix/module-stub.nix --argstr bootRoot DIR -A full
{ bootRoot }:
let
  inherit (builtins) filter concatStringsSep attrNames hasAttr substring stringLength;
  hasPrefix = p: s: substring 0 (stringLength p) s == p;
  unmk = v: if builtins.isAttrs v && v ? _mkIf then (if v.cond then unmk v.val else null)
    else if builtins.isAttrs v && v ? _mkDefault then unmk v.val
    else if builtins.isAttrs v && !(v ? outPath) then builtins.mapAttrs (_: unmk) v
    else if builtins.isList v then map unmk v else v;
  ty = { check = _: true; };
  lib = rec {
    mkOption = o: o // { _opt = true; };
    mkEnableOption = d: mkOption { default = false; };
    mkIf = cond: val: { _mkIf = true; inherit cond val; };
    mkDefault = val: { _mkDefault = true; inherit val; };
    mkForce = x: x;
    types = { str = ty; int = ty; bool = ty; path = ty; package = ty; port = ty; anything = ty; lines = ty;
      nullOr = _: ty; either = _: _: ty; attrsOf = _: ty; listOf = _: ty; enum = _: ty; oneOf = _: ty;
      strMatching = _: ty; submodule = _: ty; ints = { positive = ty; unsigned = ty; }; };
    optional = c: x: if c then [ x ] else [ ];
    optionals = c: x: if c then x else [ ];
    optionalAttrs = c: x: if c then x else { };
    literalExpression = x: x; literalMD = x: x;
    escapeShellArg = x: "'${x}'";
    optionalString = c: x: if c then x else "";
    toInt = builtins.fromJSON;
    inherit hasPrefix filter;
    removePrefix = p: s: substring (stringLength p) (stringLength s) s;
    filterAttrs = f: a: builtins.listToAttrs (map (n: { name = n; value = a.${n}; }) (filter (n: f n a.${n}) (attrNames a)));
    mapAttrsToList = f: a: map (n: f n a.${n}) (attrNames a);
    mapAttrs = builtins.mapAttrs;
    attrValues = builtins.attrValues;
    concatMap = builtins.concatMap;
    concatMapStringsSep = sep: f: l: concatStringsSep sep (map f l);
    inherit concatStringsSep;
    getVersion = x: (builtins.parseDrvName (x.name or x)).version;
    versionAtLeast = a: b: builtins.compareVersions a b >= 0;
    generators.toINI = _: sections: concatStringsSep "" (map (s: "[${s}]\n" + concatStringsSep "" (map (k: "${k}=${toString sections.${s}.${k}}\n") (attrNames sections.${s}))) (attrNames sections));
  };
  pkgs = { writeText = n: t: { outPath = "/nix/store/x-${n}"; text = t; }; coreutils = "/nix/store/coreutils"; callPackage = _: _: "/nix/store/provd";
    ipxe = "/nix/store/ipxe"; dnsmasq = "/nix/store/dnsmasq";
    runCommand = n: _: script: { outPath = "/nix/store/x-${n}"; inherit script; }; };
  defaults = opts: builtins.mapAttrs (n: v: if v ? _opt then (v.default or null) else defaults v) opts;
  merge = a: b: a // builtins.mapAttrs (n: v: if builtins.isAttrs v && hasAttr n a && builtins.isAttrs a.${n} && !(v ? outPath) then merge a.${n} v else v) b;
  eval = user:
    let
      m = import ../../nix/module.nix { inherit lib pkgs config; };
      cfg0 = merge (defaults m.options.services.provd) user;
      # settings: defaults from the module's own config block, user settings win
      config = { services.provd = cfg0 // { settings = (unmk m.config.val.services.provd.settings) // (user.settings or { }); };
        # what the module reads of nixpkgs' services.postgresql
        services.postgresql = { package = { name = "postgresql-15.5"; }; settings.port = 5432; }; systemd.services = { }; };
      c = unmk m.config;
    in c;
  # the rendered provd.ini's text
  withIni = c: c // { ini = c.environment.etc."provd/provd.ini".source.text; };
in
builtins.mapAttrs (_: withIni) {
  full = eval { enable = true; inventory = import ./sample.nix { inherit bootRoot; };
    bmcPasswordFiles = { node-01 = "/s/1"; node-02 = "/s/2"; node-03 = "/s/3"; }; apiTokensFile = "/s/tok";
    discoveryInterface = "eth0"; installDeadline = 3600; bmcTimeout = 5; bmcRetries = 1; pixiecore.enable = true; openFirewall = true; listen = "[::]:8080"; settings = { threads = 4; }; };
  # the DHCP front end: dnsmasq instead of pixiecore
  dnsmasq = eval { enable = true; inventory = import ./sample.nix { inherit bootRoot; }; bmcPasswordFiles = { node-01 = "/s/1"; node-02 = "/s/2"; node-03 = "/s/3"; };
    publicUrl = "http://10.0.0.5:8080"; openFirewall = true; dnsmasq = { enable = true; proxySubnet = "10.0.0.0/24"; interface = "eth0"; }; };
  dnsmasq-and-pixiecore = eval { enable = true; inventory = import ./sample.nix { inherit bootRoot; }; bmcPasswordFiles = { node-01 = "/s/1"; node-02 = "/s/2"; node-03 = "/s/3"; };
    publicUrl = "http://10.0.0.5:8080"; pixiecore.enable = true; dnsmasq = { enable = true; proxySubnet = "10.0.0.0/24"; }; };
  basic = eval { enable = true; inventory = import ./sample.nix { inherit bootRoot; }; bmcPasswordFiles = { node-01 = "/s/1"; }; listen = "0.0.0.0:80"; };
}
