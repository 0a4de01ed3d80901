# tests/nix/sample.nix — entry point for tests/integration/nix.sh:
#   nix-instantiate --eval --strict --json tests/nix/sample.nix \
#     --argstr bootRoot DIR [--argstr variant NAME]
# variant: good (the node list in nodes.nix), dup-mac, dup-name, missing-config,
# no-install-script, bad-mac, bad-cmdline, scale (5000 generated nodes); stateless nodes:
# stateless (install and stateless nodes, images.nix), stateless-only (no installer, no
# nixosConfigurations), stateless-scale (1000 nodes of one image), and the failing variants
# below it.  `secrets`: a directory outside the store holding the per-node files.
{ bootRoot, variant ? "good", secrets ? "/var/lib/provd/secrets" }:
let
  nixosConfigurations = import ./configurations.nix;
  nodes = import ./nodes.nix;
  installer = import ./installer.nix { inherit bootRoot; };
  images = import ./images.nix { inherit bootRoot; };
  generate = args: import ../../nix/inventory.nix ({ inherit nixosConfigurations installer; } // args);

  # stateless nodes: c001 with SSH host keys from the secrets directory, c002 with none,
  # g001 on the gpu image, l001 on the login image (its files by URL)
  key = node: file: extra: { path = "/etc/ssh/${file}"; source = "${secrets}/${node}/${file}"; } // extra;
  c001 = { hostname = "c001"; mac = "52:54:00:00:10:01"; mode = "stateless"; image = "compute"; bmc = "10.1.1.1"; rack = "r01";
    overlay.files = [
      (key "c001" "ssh_host_ed25519_key" { })
      (key "c001" "ssh_host_ed25519_key.pub" { mode = "0644"; })
      { path = "/etc/munge/munge.key"; source = "${secrets}/munge.key"; mode = "0400"; uid = 997; gid = 997; }
    ]; };
  c002 = { hostname = "c002"; mac = "52:54:00:00:10:02"; mode = "stateless"; image = "compute"; };
  statelessNodes = [
    c001
    c002
    { hostname = "g001"; macs = [ "52-54-00-00-20-01" ]; mode = "stateless"; image = "gpu"; }
    { hostname = "l001"; mac = "52:54:00:00:30:01"; mode = "stateless"; image = "login"; }
  ];
  stateless = args: generate ({ inherit images; nodes = [ (n 0) ] ++ statelessNodes; } // args);
  # c001 with one overlay file changed
  withFile = f: stateless { nodes = [ (c001 // { overlay.files = [ f ]; }) ]; };
  withNode = x: stateless { nodes = [ (c002 // x) ]; };
  n = i: builtins.elemAt nodes i;

  hex2 = i: builtins.substring (builtins.stringLength (toString (100 + i)) - 2) 2 (toString (100 + i));
  scaleNodes = builtins.genList (i: {
    hostname = "n${toString i}";
    mac = "02:00:00:00:${hex2 (i / 100)}:${hex2 (i - (i / 100) * 100)}";
    bmc = "10.2.${toString (i / 250)}.${toString (i - (i / 250) * 250 + 1)}";
  }) 5000;
  scaleConfigs = builtins.listToAttrs (map (x: {
    name = x.hostname;
    value.config.system.build = {
      toplevel = "/nix/store/99999999999999999999999999999999-nixos-system-${x.hostname}";
      provdInstallScript = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-install-${x.hostname}";
    };
  }) scaleNodes);
in
{
  good = generate { inherit nodes; bmcUser = "root"; };
  # node-03 reuses node-01's MAC in another spelling
  dup-mac = generate { nodes = [ (n 0) (n 1) ((n 2) // { macAddress = "5254.0000.0001"; }) ]; };
  dup-name = generate { nodes = [ (n 0) (n 1) ((n 2) // { name = "node-01"; }) ]; };
  # a node with no configuration of its name
  missing-config = generate { nodes = nodes ++ [ { hostname = "node-99"; mac = "52:54:00:00:00:99"; } ]; };
  no-install-script = generate { nodes = [ (n 0) { hostname = "bare"; mac = "52:54:00:00:00:88"; } ]; };
  bad-mac = generate { nodes = [ (n 0) ((n 1) // { macs = [ "52:54:00:00:02" ]; }) ]; };
  bad-cmdline = generate { nodes = [ ((n 0) // { cmdline = "provd.token=x"; }) ]; };
  scale = generate {
    nodes = scaleNodes;
    nixosConfigurations = scaleConfigs;
  };

  stateless = stateless { };
  stateless-only = import ../../nix/inventory.nix { inherit images; nodes = statelessNodes; };
  stateless-scale = import ../../nix/inventory.nix {
    inherit images;
    nodes = builtins.genList (i: {
      hostname = "c${toString (10000 + i)}";
      mac = "02:00:00:01:${hex2 (i / 100)}:${hex2 (i - (i / 100) * 100)}";
      mode = "stateless";
      image = "compute";
      overlay.files = [ { path = "/etc/ssh/ssh_host_ed25519_key"; source = "${secrets}/c${toString (10000 + i)}/ssh_host_ed25519_key"; } ];
    }) 1000;
  };
  # secrets that would end up in the Nix store: a string under /nix/store, a path literal, a
  # string with store context
  overlay-store-source = withFile { path = "/etc/ssh/ssh_host_ed25519_key"; source = "/nix/store/dddddddddddddddddddddddddddddddd-keys/c001"; };
  overlay-path-literal = withFile { path = "/etc/ssh/ssh_host_ed25519_key"; source = ./nodes.nix; };
  overlay-store-context = withFile { path = "/etc/ssh/ssh_host_ed25519_key"; source = "${builtins.toFile "c001-key" "not a secret"}"; };
  overlay-relative-source = withFile { path = "/etc/ssh/ssh_host_ed25519_key"; source = "secrets/c001/key"; };
  overlay-reserved-path = withFile { path = "/var/lib/provd-node/credential"; source = "${secrets}/c001/credential"; };
  overlay-hostname = withFile { path = "/etc/hostname"; source = "${secrets}/c001/hostname"; };
  overlay-bad-mode = withFile { path = "/etc/ssh/ssh_host_ed25519_key"; source = "${secrets}/c001/k"; mode = 384; };
  overlay-big-mode = withFile { path = "/etc/ssh/ssh_host_ed25519_key"; source = "${secrets}/c001/k"; mode = "17777"; };
  overlay-bad-uid = withFile { path = "/etc/ssh/ssh_host_ed25519_key"; source = "${secrets}/c001/k"; uid = -1; };
  overlay-dir-path = withFile { path = "/var/lib"; source = "${secrets}/c001/k"; };
  overlay-nested-path = stateless { nodes = [ (c001 // { overlay.files = [ (key "c001" "k" { }) (key "c001" "k/x" { }) ]; }) ]; };
  overlay-dup-path = stateless { nodes = [ (c001 // { overlay.files = [ (key "c001" "k" { }) (key "c001" "k" { mode = "0644"; }) ]; }) ]; };
  overlay-too-many = stateless { nodes = [ (c001 // { overlay.files = builtins.genList (i: key "c001" "k${toString i}" { }) 65; }) ]; };
  stateless-no-image = stateless { nodes = [ (removeAttrs c002 [ "image" ]) ]; };
  stateless-unknown-image = withNode { image = "storage"; };
  stateless-cmdline = withNode { cmdline = "quiet"; };
  stateless-bad-mode = withNode { mode = "diskless"; };
  install-with-image = generate { nodes = [ ((n 0) // { image = "compute"; }) ]; inherit images; };
  install-without-installer = import ../../nix/inventory.nix { inherit images nixosConfigurations; nodes = [ (n 0) c002 ]; };
  image-init-in-cmdline = stateless { images = images // { compute = images.login // { cmdline = "init=/bin/sh"; }; }; };
  image-store-init = stateless { images = images // { login = images.login // { init = "/sbin/init"; }; }; };
  image-not-netboot = stateless { images = images // { gpu = { config.system.build.toplevel = "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-nixos-system-gpu"; }; }; };
  image-dup-mac = stateless { nodes = [ (n 0) (c002 // { mac = "52-54-00-00-00-01"; }) ]; };
}.${variant}
