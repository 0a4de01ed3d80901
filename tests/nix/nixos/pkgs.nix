# tests/nix/nixos/pkgs.nix — stand-ins for the nixpkgs packages and builders that provd's
# nix/ uses (there is no nixpkgs package set on these machines; tests/integration/nix-module.sh).
#
# - A package is a set shaped like a derivation (lib.isDerivation, so types.package takes it)
#   whose outPath is ROOT/pkgs/<name>: the test makes there what a unit runs (bin/provd is
#   this build's provd, bin/dnsmasq the system's dnsmasq, ...).
# - writeText / writeShellScript write the file for real (builtins.toFile: the store path
#   is the content's hash, as writeText's is), so a rendered unit names a config file that
#   exists and that provd reads.  writeShellScript prepends the shebang as nixpkgs' does.
# - runCommand records its script (`standIn.script`); its outPath is ROOT/built/<name>, where
#   the test runs the script when it needs the output (with $out set to that path).
# - stdenv.mkDerivation records its arguments (`drvAttrs`, as on a real derivation) and
#   returns the package ROOT/pkgs/<pname>; callPackage is lib.callPackageWith over this set.
{ lib, root }:

let
  pkg = name:
    let self = { type = "derivation"; inherit name; outPath = "${root}/pkgs/${name}"; outputs = [ "out" ]; out = self; };
    in self;

  built = name: kind: script: extra:
    let self = { type = "derivation"; inherit name; outPath = "${root}/built/${name}"; outputs = [ "out" ]; out = self; standIn = { inherit kind script; } // extra; };
    in self;

  self = {
    inherit lib;

    writeText = name: text: builtins.toFile name text;
    writeShellScript = name: text: builtins.toFile name ''
      #!/bin/bash
      ${text}
    '';
    runCommand = name: env: script: built name "runCommand" script { inherit env; };
    runtimeShell = "/bin/bash";

    stdenv.mkDerivation = attrs:
      let drv = {
        type = "derivation";
        name = "${attrs.pname}-${attrs.version}";
        inherit (attrs) pname version;
        meta = attrs.meta or { };
        outPath = "${root}/pkgs/${attrs.pname}";
        outputs = [ "out" ];
        out = drv;
        drvAttrs = attrs;
      };
      in drv;

    callPackage = lib.callPackageWith self;

    buildPackages = self;
    xorg.lndir = pkg "lndir";
    # tests/nix/nixos/postgresql.nix (its default, and one too old for provd)
    postgresql_15 = pkg "postgresql-15.5";
    postgresql_12 = pkg "postgresql-12.17";
  }
  // lib.genAttrs [
    # nix/module.nix, nixpkgs' pixiecore module
    "coreutils" "ipxe" "dnsmasq" "pixiecore"
    # the systemd options (default PATH of every service, systemd.package)
    "findutils" "gnugrep" "gnused" "systemd"
    # nix/installer.nix, nix/install-script.nix
    "nix" "nixos-install" "curl" "iproute2" "gawk" "util-linux" "parted" "gptfdisk" "e2fsprogs" "dosfstools"
    # nix/package.nix
    "meson" "ninja" "pkg-config" "python3" "libmicrohttpd" "jansson" "sqlite" "libsodium"
    "libinih" "check" "freeipmi" "libpcap" "libarchive" "libpq"
  ] pkg;
in
self
