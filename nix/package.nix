# nix/package.nix — provd built with meson, the same build as CI (meson.build), for
# `pkgs.callPackage ./package.nix { }`.
#
# doCheck runs the unit suite only (`meson test --suite unit`: Check, pure modules).  The
# integration suite starts provd on loopback and drives it with curl, jq, python3-jsonschema,
# ipmi_sim, QEMU...: it needs tools and (for e2e) network booting that the Nix build sandbox
# does not give, so it is not run here; CI runs it (scripts/test).
#
# NOT built here: these machines have no nixpkgs.  CI calls it with lib.callPackageWith on
# stand-in packages and checks inputs, meson flags and the source filter
# (tests/integration/nix-module.sh).
{ lib
, stdenv
, meson
, ninja
, pkg-config
, python3
, libmicrohttpd
, jansson
, sqlite
, libsodium
, libinih
, check
, curl
, systemd
, freeipmi
, libpcap
, libarchive
  # libpq (provd's PostgreSQL state store): nixpkgs' own package from NixOS 25.05 on, the
  # postgresql package's library before
, libpq ? null
, postgresql ? null
  # the source tree; the default is this repository without build directories and VCS files
, src ? null
}:

stdenv.mkDerivation {
  pname = "provd";
  version = "0.1.0"; # keep in step with project() in meson.build

  src =
    if src != null then src
    else
      lib.cleanSourceWith {
        src = ../.;
        # drop local build trees (build, build-asan, ...) and editor/VCS files
        filter = path: type:
          lib.cleanSourceFilter path type
          && !(type == "directory" && lib.hasPrefix "build" (baseNameOf path));
      };

  # python3: daemon/meson.build runs scripts/embed.py (status page compiled into provd)
  nativeBuildInputs = [ meson ninja pkg-config python3 ];

  # curl, systemd (libsystemd: sd_notify, socket activation, journal), freeipmi and libpcap
  # are the dependencies of the systemd integration, BMC and discovery work, libarchive writes
  # stateless nodes' overlays (cpio), libpq connects to a PostgreSQL state store; meson finds
  # them with pkg-config.
  buildInputs = [
    libmicrohttpd
    jansson
    sqlite
    libsodium
    libinih
    check
    curl
    systemd
    freeipmi
    libpcap
    libarchive
    (if libpq != null then libpq else postgresql)
  ];

  mesonFlags = [
    "-Dtests=enabled"
    "-De2e=false"
    "-Dfuzz=false"
    # meson.build makes warnings errors (werror=true, as in CI).  nixpkgs' hardening flags
    # (_FORTIFY_SOURCE=3, -Wformat-security, ...) and other compiler versions add warnings
    # CI never sees; a distribution build should not fail on them.
    "-Dwerror=false"
  ];

  doCheck = true;
  checkPhase = ''
    runHook preCheck
    meson test --no-rebuild --print-errorlogs --suite unit
    runHook postCheck
  '';

  # The installer scripts (installer/) ship with the daemon for reference; nix/installer.nix
  # packages them separately so the netboot image does not pull in the daemon.
  postInstall = ''
    install -Dm0755 "$src/installer/provd-report.sh" $out/share/provd/installer/provd-report.sh
    install -Dm0755 "$src/installer/provd-autoinstall.sh" $out/share/provd/installer/provd-autoinstall.sh
    install -Dm0755 "$src/installer/provd-node-report.sh" $out/share/provd/installer/provd-node-report.sh
    install -Dm0644 "$src/api/inventory.schema.json" $out/share/provd/inventory.schema.json
  '';

  meta = {
    description = "PXE netboot provisioning daemon for NixOS clusters (pixiecore boot API, iPXE, provision state)";
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = "provd";
  };
}
