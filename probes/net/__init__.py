"""Network probes: ICMP, link quality, host sweep, ports, local interfaces, OUI vendors."""
