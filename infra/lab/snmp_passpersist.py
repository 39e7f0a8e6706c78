"""snmpd ``pass_persist`` extension for lab switches: BRIDGE/Q-BRIDGE, POWER-ETHERNET, HPE PoE, ENTITY.

Debian's snmpd (net-snmp) implements IF-MIB, IP-MIB and the system group but
not a switch's forwarding table, PoE or ENTITY-MIB.  This script serves them
from the namespace's real state, the way a switch's agent would:

- ``--mib bridge``: BRIDGE-MIB (dot1dBase, dot1dBasePortTable, dot1dTpFdbTable)
  and Q-BRIDGE-MIB (dot1qTpFdbTable) read from ``bridge -j fdb show`` and
  ``ip -j link`` of the namespace.  Each Linux bridge listed in the state file
  is one VLAN of the switch; bridge ports are numbered 1.. in ifIndex order.
- ``--mib poe``: POWER-ETHERNET-MIB pethPsePortTable and pethMainPseTable
  (group 1, pethPsePortIndex = the port's ifIndex, as HPE does).
- ``--mib hpicfpoe``: HP-ICF-POE-MIB hpicfPoePethPsePortPower (milliwatts).
- ``--mib entity``: ENTITY-MIB entPhysicalTable (one chassis entry).

PoE draw and identity come from the state file the lab writes (its ground
truth); it is re-read when it changes.  Protocol (snmpd.conf(5), "pass_persist"):
``PING`` → ``PONG``; ``get``/``getnext`` + OID → OID, type, value or ``NONE``.

Run by snmpd only::

    pass_persist .1.3.6.1.2.1.17 python3 -m sitescout.infra.lab.snmp_passpersist --state S --mib bridge
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["MIB_ROOTS", "build_table", "main"]

OID = tuple[int, ...]
Row = tuple[OID, str, str]  # oid, pass_persist type, value text

BRIDGE = (1, 3, 6, 1, 2, 1, 17)
PETH = (1, 3, 6, 1, 2, 1, 105)
HPICF_POE = (1, 3, 6, 1, 4, 1, 11, 2, 14, 11, 1, 9)
ENTITY = (1, 3, 6, 1, 2, 1, 47)

#: The subtree each ``--mib`` serves (the OID to register in snmpd.conf).
MIB_ROOTS: dict[str, OID] = {"bridge": BRIDGE, "poe": PETH, "hpicfpoe": HPICF_POE, "entity": ENTITY}

_CACHE_S = 0.5  # snmpd asks once per varbind: re-read the bridge at most this often


def _run_json(argv: list[str]) -> Any:
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    return json.loads(cp.stdout or "[]")


def _octets(data: bytes) -> tuple[str, str]:
    return "octet", " ".join(f"{b:02x}" for b in data)


def _mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def _string(text: str) -> tuple[str, str]:
    return "string", text.replace("\n", " ")


def _bridge_rows(state: dict[str, Any]) -> Iterable[Row]:
    vlans: dict[str, int] = state.get("vlans", {})
    links = _run_json(["ip", "-j", "link", "show"])
    ports = sorted((lk for lk in links if lk.get("master") in vlans), key=lambda lk: lk["ifindex"])
    base_port = {lk["ifname"]: n for n, lk in enumerate(ports, start=1)}
    bridges = [lk for lk in links if lk["ifname"] in vlans]
    if bridges:
        yield BRIDGE + (1, 1, 0), *_octets(_mac_bytes(bridges[0]["address"]))
    yield BRIDGE + (1, 2, 0), "integer", str(len(ports))
    yield BRIDGE + (1, 3, 0), "integer", "2"  # transparent-only
    for lk in ports:
        n = base_port[lk["ifname"]]
        yield BRIDGE + (1, 4, 1, 1, n), "integer", str(n)
        yield BRIDGE + (1, 4, 1, 2, n), "integer", str(lk["ifindex"])
    fdb = _run_json(["bridge", "-j", "fdb", "show"])
    learned: dict[tuple[int, bytes], tuple[int, int]] = {}
    for entry in fdb:
        master, port = entry.get("master"), base_port.get(entry.get("ifname", ""))
        mac = entry.get("mac", "")
        if master not in vlans or port is None or "self" in entry.get("flags", []):
            continue
        raw = _mac_bytes(mac)
        if raw[0] & 1:  # group addresses are not forwarding entries
            continue
        status = 4 if entry.get("state") == "permanent" else 3  # self(4) / learned(3)
        learned[(vlans[master], raw)] = (port, status)
    for (vlan, raw), (port, status) in learned.items():
        mac_index = tuple(raw)
        # dot1dTpFdbTable (one forwarding database: the first VLAN wins a duplicate MAC)
        yield BRIDGE + (4, 3, 1, 1) + mac_index, *_octets(raw)
        yield BRIDGE + (4, 3, 1, 2) + mac_index, "integer", str(port)
        yield BRIDGE + (4, 3, 1, 3) + mac_index, "integer", str(status)
        # Q-BRIDGE dot1qTpFdbTable, indexed by dot1qFdbId (= the VLAN id here) and MAC
        yield BRIDGE + (7, 1, 2, 2, 1, 2, vlan) + mac_index, "integer", str(port)
        yield BRIDGE + (7, 1, 2, 2, 1, 3, vlan) + mac_index, "integer", str(status)


def _poe_ports(state: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    links = {lk["ifname"]: lk["ifindex"] for lk in _run_json(["ip", "-j", "link", "show"])}
    poe = state.get("poe") or {}
    out = [(links[name], port) for name, port in poe.get("ports", {}).items() if name in links]
    return sorted(out, key=lambda item: item[0])


def _poe_rows(state: dict[str, Any]) -> Iterable[Row]:
    poe = state.get("poe")
    if not poe:
        return
    ports = _poe_ports(state)
    columns: list[tuple[int, Callable[[dict[str, Any]], tuple[str, str]]]] = [
        (3, lambda p: ("integer", "1" if p.get("enabled", True) else "2")),  # AdminEnable
        (6, lambda p: ("integer", "3" if p.get("mw", 0) > 0 else "2")),  # deliveringPower / searching
        (7, lambda p: ("integer", str(p.get("priority", 3)))),  # low(3)
        (10, lambda p: ("integer", str(p.get("class", 0) + 1))),  # class0(1) .. class4(5)
    ]
    for col, value in columns:
        for ifindex, port in ports:
            yield PETH + (1, 1, 1, col, 1, ifindex), *value(port)
    used_w = round(sum(p.get("mw", 0) for _, p in ports) / 1000)
    yield PETH + (1, 3, 1, 2, 1), "gauge", str(poe["budget_w"])  # pethMainPsePower (W)
    yield PETH + (1, 3, 1, 3, 1), "integer", "1"  # on(1)
    yield PETH + (1, 3, 1, 4, 1), "gauge", str(used_w)  # pethMainPseConsumptionPower (W)
    yield PETH + (1, 3, 1, 5, 1), "integer", str(poe.get("threshold_pct", 80))


def _hpicf_rows(state: dict[str, Any]) -> Iterable[Row]:
    for ifindex, port in _poe_ports(state):
        # hpicfPoePethPsePortPower, milliwatts, index (group, port) like pethPsePortTable
        yield HPICF_POE + (1, 1, 1, 3, 1, ifindex), "integer", str(port.get("mw", 0))


def _entity_rows(state: dict[str, Any]) -> Iterable[Row]:
    ent = state.get("entity")
    if not ent:
        return
    base = ENTITY + (1, 1, 1, 1)
    fields = [(2, ent.get("descr", "")), (7, ent.get("name", "")), (8, ent.get("hardware_rev", "")),
              (9, ent.get("firmware", "")), (10, ent.get("software", "")), (11, ent.get("serial", "")),
              (12, ent.get("manufacturer", "")), (13, ent.get("model", ""))]
    rows: list[Row] = [(base + (5, 1), "integer", "3")]  # entPhysicalClass chassis(3)
    rows += [(base + (col, 1), *_string(text)) for col, text in fields]
    yield from rows


_BUILDERS: dict[str, Callable[[dict[str, Any]], Iterable[Row]]] = {
    "bridge": _bridge_rows, "poe": _poe_rows, "hpicfpoe": _hpicf_rows, "entity": _entity_rows,
}


def build_table(mib: str, state: dict[str, Any]) -> list[Row]:
    """Return the rows ``mib`` serves for ``state``, sorted by OID."""
    return sorted(_BUILDERS[mib](state), key=lambda row: row[0])


def _parse_oid(text: str) -> OID:
    return tuple(int(x) for x in text.strip().strip(".").split(".") if x)


def _fmt(oid: OID) -> str:
    return "." + ".".join(map(str, oid))


class _Server:
    """The table of one MIB, rebuilt from the namespace when older than `_CACHE_S` or the state changed."""

    def __init__(self, mib: str, state_path: Path) -> None:
        self.mib, self.state_path = mib, state_path
        self.rows: list[Row] = []
        self.oids: list[OID] = []
        self.built_at = 0.0
        self.state_mtime = -1.0

    def _refresh(self) -> None:
        try:
            mtime = self.state_path.stat().st_mtime
        except OSError:
            mtime = -1.0
        if time.monotonic() - self.built_at < _CACHE_S and mtime == self.state_mtime:
            return
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            state = {}
        self.rows = build_table(self.mib, state)
        self.oids = [row[0] for row in self.rows]
        self.built_at, self.state_mtime = time.monotonic(), mtime

    def answer(self, op: str, oid: OID) -> list[str]:
        self._refresh()
        if op == "get":
            i = bisect.bisect_left(self.oids, oid)
            found = i < len(self.oids) and self.oids[i] == oid
        else:
            i = bisect.bisect_right(self.oids, oid)
            found = i < len(self.oids)
        if not found:
            return ["NONE"]
        row_oid, kind, value = self.rows[i]
        return [_fmt(row_oid), kind, value]


def main(argv: list[str] | None = None) -> int:
    """Serve snmpd's pass_persist protocol on stdin/stdout until snmpd closes the pipe."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", required=True, type=Path, help="the lab's JSON state file")
    parser.add_argument("--mib", required=True, choices=sorted(MIB_ROOTS))
    args = parser.parse_args(argv)
    server = _Server(args.mib, args.state)
    inp, out = sys.stdin, sys.stdout
    while True:
        line = inp.readline()
        if not line:
            return 0
        cmd = line.strip().lower()
        if cmd == "ping":
            out.write("PONG\n")
        elif cmd in ("get", "getnext"):
            oid_text = inp.readline()
            try:
                reply = server.answer(cmd, _parse_oid(oid_text))
            except (ValueError, OSError, subprocess.SubprocessError, KeyError) as err:
                print(f"pass_persist {args.mib}: {err}", file=sys.stderr)
                reply = ["NONE"]
            out.write("\n".join(reply) + "\n")
        elif cmd == "set":
            inp.readline()
            inp.readline()
            out.write("not-writable\n")
        elif cmd == "":
            continue
        else:
            out.write("NONE\n")
        out.flush()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
