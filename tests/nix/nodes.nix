# tests/nix/nodes.nix — a node list as the seed clusters write theirs: hostname plus
# addresses, in a few spellings (hostname/hostName/name, mac/macs/macAddress,
# bmc/ipmi/ipmiAddress as a string or an attribute set); unknown attributes are ignored.
[
  { hostname = "node-01"; ip = "10.0.0.1"; mac = "52:54:00:00:00:01"; bmc = "127.0.0.11"; }
  { hostName = "node-02"; addresses = [ "10.0.0.2" ]; macs = [ "52-54-00-00-00-02" "5254.0000.0102" ];
    ipmi = { address = "10.1.0.2/16"; username = "admin"; port = 6230; workarounds = [ "opensesspriv" "solpayloadsize" ]; cipherSuite = 17; bootMode = "efi"; console = "ipmitool"; }; }
  { name = "node-03"; macAddress = "52540000000A"; ipmiAddress = "10.1.0.3"; rack = "r07"; }
  { hostname = "gpu-01"; mac = [ "52:54:00:00:01:01" ]; nixosConfiguration = "gpu"; cmdline = "nomodeset"; }
]
