# tests/nix/sample.nix — entry point for tests/integration/nix.sh:
#   nix-instantiate --eval --strict --json tests/nix/sample.nix \
#     --argstr bootRoot DIR [--argstr variant NAME]
# variant: good (the node list in nodes.nix), dup-mac, dup-name, missing-config,
# no-install-script, bad-mac, bad-cmdline, scale (5000 generated nodes).
{ bootRoot, variant ? "good" }:
let
  nixosConfigurations = import ./configurations.nix;
  nodes = import ./nodes.nix;
  installer = import ./installer.nix { inherit bootRoot; };
  generate = args: import ../../nix/inventory.nix ({ inherit nixosConfigurations installer; } // args);
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
}.${variant}
