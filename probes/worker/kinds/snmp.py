"""The ``snmp`` kind: a switch's or router's ports (IF-MIB) and PoE (POWER-ETHERNET-MIB), read over SNMP.

A target gets an SNMP job when it has ``snmp`` (targets file) or is a switch or router of the
inventory (its ``__meta_sitescout_snmp_*`` labels).  Each probe reads the system group and the
ifTable/ifXTable and PoE columns it exports (status, speed, 64-bit octet counters, errors, discards,
PoE state, draw and budget), walked together, and nothing else (:data:`MONITORING_SECTIONS`,
``CollectSettings.monitoring``), with :func:`~sitescout.probes.snmp.collect.collect_device`.
With SNMPv2c that runs in the worker itself, on a thread of its own (``CollectSettings.v2c_client="native"``:
the pure-Python client of :mod:`sitescout.probes.snmp.v2c`, which keeps no process-wide state), so the event
loop never waits on an agent: a hung agent is a request timeout within the probe's budget, an OID loop or
a million rows end at the walk's order check and row cap (docs/snmp.md, "The worker's snmp kind").
With v3 users the collection runs in a new interpreter (``python -m sitescout.probes.snmp``, the
request and its credentials on stdin, never argv), killed at ``timeout_s``: net-snmp carries v3, and
its state is process-wide.

The worker's SNMP credentials (``[snmp]`` of ``--credentials``) go only to a target configured
with ``snmp``, at its own address and port; an error text never carries them (:func:`_scrub`).
``/probe`` module: ``snmp`` (target ``IP`` or ``IP:PORT``); credentials only for a configured
target (:mod:`sitescout.probes.worker.probe_scope`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from sitescout.probes.snmp.client import SnmpCredentials
from sitescout.probes.snmp.collect import CollectSettings, collect_device
from sitescout.probes.snmp.models import DeviceSnapshot
from sitescout.probes.worker import metric_defs as md
from sitescout.probes.worker.jobs import Family, Gauge, Kind, ProbeContext, ProbeJob, ProbeResult
from sitescout.probes.worker.probe_request import ProbeRequestError, check_ip, shown
from sitescout.probes.worker.records import SnmpTarget, Target

if TYPE_CHECKING:
    from sitescout.probes.worker.store import StoreSnapshot

__all__ = [
    "DEFAULT_SNMP_SETTINGS",
    "KIND",
    "MAX_PORTS",
    "PortReading",
    "PseReading",
    "SnmpResult",
    "SnmpSettings",
    "probe_snmp",
]

log = logging.getLogger(__name__)

#: Seconds of a probe's budget kept for the v3 child process's start (about 0.2 s measured) and its answer.
_START_S = 1.0
#: Seconds of a v2c probe's budget kept for ending its thread and making the result.
_END_S = 0.25
#: What the monitoring probe reads after the system group (``CollectSettings.sections``): no ENTITY, FDB, LLDP or
#: ARP table, which the survey reads and the series here do not use.
MONITORING_SECTIONS = ("interfaces", "poe")
#: Ports exported per device at most (a 4-unit stack has ~250): a hostile agent's table cannot flood Prometheus.
MAX_PORTS = 1024


@dataclass(frozen=True)
class SnmpSettings:
    """SNMP probe every `interval_s`: each device read within `timeout_s`, each request within `request_timeout_s`."""

    batched: ClassVar[bool] = False
    interval_s: float = 60.0
    #: The whole probe; the collection process is killed there.
    timeout_s: float = 10.0
    request_timeout_s: float = 1.0
    #: Varbinds read per table walk at most (a hostile agent's million-row table is cut here).
    max_rows: int = 5000
    concurrency: int = 4

    @property
    def budget_s(self) -> float:
        """Return the hard limit of one probe."""
        return self.timeout_s


DEFAULT_SNMP_SETTINGS = SnmpSettings()


def check_snmp(settings: SnmpSettings) -> str | None:
    """Return why the request timeout leaves no room in the probe's budget, or None."""
    if settings.timeout_s < settings.request_timeout_s + _START_S + 0.5:
        return (f"timeout_s ({settings.timeout_s:g}) must be at least request_timeout_s + "
                f"{_START_S + 0.5:g} ({settings.request_timeout_s + _START_S + 0.5:g})")
    if not 10 <= settings.max_rows <= 1_000_000:
        return f"max_rows must be between 10 and 1000000, not {settings.max_rows}"
    return None


class PortReading(NamedTuple):
    """One interface as read: its labels, states, speed and counters (absent counters are left out)."""

    if_index: int
    name: str
    admin_up: bool
    oper_up: bool
    speed_bps: float
    is_uplink: bool
    counters: dict[str, int]
    #: A camera is cabled here (the target's ``camera_ports``).
    is_camera: bool = False


class PoeReading(NamedTuple):
    """One PoE port: its interface (or group.index when unmapped), delivering, and its draw when known."""

    name: str
    if_index: str
    delivering: bool
    power_w: float | None


class PseReading(NamedTuple):
    """One power source (pethMainPseTable row): budget and consumption in watts."""

    group: str
    budget_w: float | None
    consumption_w: float | None


@dataclass
class SnmpResult(ProbeResult):
    """A probe result with the ports and PoE read (kept for /metrics; the observation carries a summary)."""

    ports: tuple[PortReading, ...] = ()
    poe: tuple[PoeReading, ...] = ()
    pses: tuple[PseReading, ...] = ()


def _credentials_dict(creds: SnmpCredentials) -> dict[str, Any]:
    return {"communities": [c.community for c in creds.communities], "max_attempts": creds.max_attempts,
            "v3": [{"username": u.username, "auth_key": u.auth_key, "priv_key": u.priv_key,
                    "auth_protocol": u.auth_protocol, "priv_protocol": u.priv_protocol} for u in creds.v3_users]}


def _secrets(creds: SnmpCredentials) -> list[str]:
    out = [c.community for c in creds.communities]
    for u in creds.v3_users:
        out += [u.auth_key, u.priv_key]
    return sorted((s for s in out if s), key=len, reverse=True)


def _scrub(text: str, creds: SnmpCredentials) -> str:
    """Return `text` with every community and key replaced by ``***`` (defence in depth)."""
    for secret in _secrets(creds):
        text = text.replace(secret, "***")
    return text


def _snapshot_dict(snap: DeviceSnapshot) -> dict[str, Any]:
    """Return what :func:`_result` reads of a snapshot, as the v3 child's JSON has it (its error kind by value).

    The records' own attribute dicts, not copies (``dataclasses.asdict`` deep-copied them: 1.5 ms a probe).
    """
    return {"interfaces": {i: vars(iface) for i, iface in snap.interfaces.items()},
            "poe_ports": [vars(p) for p in snap.poe_ports], "poe_budgets": [vars(b) for b in snap.poe_budgets],
            "system": vars(snap.system), "truncated": snap.truncated, "error": snap.error,
            "error_kind": snap.error_kind.value if snap.error_kind is not None else None}


async def _collect_in_thread(ip: str, creds: SnmpCredentials, settings: CollectSettings,
                             limit_s: float) -> dict[str, Any] | None:
    """Collect one v2c device on a thread of its own; its snapshot as a dict, or None past `limit_s`.

    The collection ends by itself at ``settings.budget_s`` (every request waits at most what is left
    of it), so a probe abandoned at `limit_s` or cancelled (the scheduler's bound, shutdown) leaves a
    thread that ends within its budget: a daemon thread, never waited for at the worker's exit.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[DeviceSnapshot] = loop.create_future()

    def settle(snap: DeviceSnapshot | None, error: Exception | None) -> None:
        if done.done():  # abandoned at limit_s
            return
        if error is not None:
            done.set_exception(error)
        elif snap is not None:
            done.set_result(snap)

    def run() -> None:
        snap, error = None, None
        try:
            snap = collect_device(ip, creds, settings)
        except Exception as err:  # a bug (device trouble is in the snapshot): carried to the probe
            error = err
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (the worker stopped): nobody waits
            loop.call_soon_threadsafe(settle, snap, error)

    threading.Thread(target=run, name=f"snmp {ip}", daemon=True).start()
    try:
        snap = await asyncio.wait_for(done, limit_s)
    except TimeoutError:
        return None
    return _snapshot_dict(snap)


async def _run_interpreter(request: dict[str, Any], limit_s: float) -> dict[str, Any] | None:
    """Run one collection in a new interpreter within `limit_s`; None when it did not answer (it is killed)."""
    env = {**os.environ, "MIBS": os.environ.get("MIBS", "")}  # Debian ships no MIBs: never try to load one
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sitescout.probes.snmp", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(json.dumps(request).encode("utf-8")), limit_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    except asyncio.CancelledError:  # the scheduler's own bound, or shutdown: never leave the process behind
        proc.kill()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"the SNMP collection process ended with status {proc.returncode}")
    return dict(json.loads(out))


async def probe_snmp(jobs: Sequence[ProbeJob], settings: SnmpSettings, ctx: ProbeContext) -> list[ProbeResult]:
    """Read each device's uptime, interfaces and PoE over SNMP within `timeout_s` (v2c on a thread, v3 in a process)."""
    return [await _probe_one(job, settings, ctx.snmp_credentials) for job in jobs]


async def _probe_one(job: ProbeJob, settings: SnmpSettings, creds: SnmpCredentials) -> ProbeResult:
    started = time.monotonic()
    target = job.target
    if target.snmp is None:  # pragma: no cover - plan() gives jobs to SNMP targets only
        return ProbeResult(job, False, "malformed", "not an SNMP target", 0.0)
    creds = creds.for_device(target.ip)  # [[snmp.scope]]: only the credentials for this device's address
    if not creds.candidates():
        return ProbeResult(job, False, "auth", "auth: no SNMP credentials for this device (the [snmp] table of "
                                               "--credentials, and only for a configured SNMP target)", 0.0)
    if creds.v3_users:
        budget = max(settings.timeout_s - _START_S, 0.3)
        request = {"devices": [target.ip], "credentials": _credentials_dict(creds),
                   "settings": {"budget_s": budget, "timeout_s": min(settings.request_timeout_s, budget),
                                "max_rows": settings.max_rows, "port": target.snmp.port,
                                "sections": list(MONITORING_SECTIONS), "monitoring": True}}
        answer = await _run_interpreter(request, settings.timeout_s)
        snap = answer["devices"][target.ip] if answer is not None else None
        what = "the SNMP collection process"
    else:
        budget = max(settings.timeout_s - _END_S, 0.3)
        collect = CollectSettings(budget_s=budget, timeout_s=min(settings.request_timeout_s, budget),
                                  max_rows=settings.max_rows, port=target.snmp.port, sections=MONITORING_SECTIONS,
                                  monitoring=True, v2c_client="native")
        snap = await _collect_in_thread(target.ip, creds, collect, settings.timeout_s)
        what = "the SNMP collection"
    elapsed = time.monotonic() - started
    if snap is None:
        detail = f"timeout: no answer from {what} within {settings.timeout_s:g} s" + (
            "; process killed" if creds.v3_users else "")
        log.info("%s/%s: snmp: %s", target.site, target.device, detail)
        return ProbeResult(job, False, "timeout", detail, elapsed)
    return _result(job, snap, elapsed, creds)


def _result(job: ProbeJob, snap: dict[str, Any], elapsed: float, creds: SnmpCredentials) -> SnmpResult:
    """Turn one device snapshot (JSON) into a result: up when everything was read, with the ports and PoE."""
    target = job.target
    uplinks = set(target.snmp.uplinks if target.snmp else ())
    cameras = set(target.snmp.camera_ports if target.snmp else ())
    interfaces = sorted(snap["interfaces"].values(), key=lambda i: i["if_index"])
    ports = tuple(_port(i, uplinks, cameras) for i in interfaces[:MAX_PORTS])
    names = {p.if_index: p.name for p in ports}
    poe = tuple(PoeReading(names.get(p["if_index"], f"{p['group']}.{p['index']}"),
                           str(p["if_index"] if p["if_index"] is not None else p["index"]), bool(p["delivering"]),
                           p["power_mw"] / 1000.0 if isinstance(p["power_mw"], int) else None)
                for p in snap["poe_ports"])
    pses = tuple(PseReading(str(b["group"]), _num(b["power_w"]), _num(b["consumption_w"]))
                 for b in snap["poe_budgets"])
    kind = snap["error_kind"]
    up = kind is None
    detail = None
    if not up:
        detail = _scrub(f"{kind}: {snap['error']}", creds)
        if kind == "unreachable":
            n = len(creds.candidates())
            detail += (f" (to {n} credential(s) tried; SNMPv2c cannot tell a wrong community from silence: "
                       "check the community, the agent's address and port)")
        log.info("%s/%s: snmp: %s", target.site, target.device, detail)
    elif snap["truncated"] or len(interfaces) > MAX_PORTS:
        detail = (f"tables cut at max_rows: {', '.join(snap['truncated']) or '-'}; "
                  f"{len(interfaces)} interface(s), {len(ports)} exported")
    ticks = snap["system"]["uptime_ticks"]
    values = {"interfaces": float(len(ports)), "interfaces_up": float(sum(p.oper_up for p in ports)),
              "uplinks_down": float(sum(p.is_uplink and not p.oper_up for p in ports))}
    if isinstance(ticks, int):
        values["uptime_seconds"] = ticks / 100.0
    for key, field in (("poe_budget_watts", "budget_w"), ("poe_consumption_watts", "consumption_w")):
        known = [getattr(p, field) for p in pses if getattr(p, field) is not None]
        if known:
            values[key] = float(sum(known))
    return SnmpResult(job, up, kind if not up else None, detail, elapsed, values=values, ports=ports, poe=poe,
                      pses=pses)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _port(iface: dict[str, Any], uplinks: set[str], cameras: set[str]) -> PortReading:
    name = iface["name"] or iface["descr"] or str(iface["if_index"])
    counters = {key: iface[key] for key, _ in md.INTERFACE_COUNTERS if isinstance(iface.get(key), int)}
    return PortReading(iface["if_index"], name, iface["admin_up"] is True, iface["oper_up"] is True,
                       float(iface["speed_bps"] or 0), name in uplinks, counters, name in cameras)


def plan(target: Target) -> list[ProbeJob]:
    """Return a target's SNMP job: one when it is configured with ``snmp``."""
    return [ProbeJob("snmp", target)] if target.snmp is not None else []


def _port_samples(r: SnmpResult, t: Target) -> Iterator[tuple[str, tuple[str, ...], float]]:
    """Yield (metric name, labels, value) of one device's ports, PoE ports and PSEs."""
    for p in r.ports:
        labels = (t.site, t.device, p.name, str(p.if_index))
        yield md.INTERFACE_UP.name, labels, 1.0 if p.oper_up else 0.0
        yield md.INTERFACE_ADMIN_UP.name, labels, 1.0 if p.admin_up else 0.0
        yield md.INTERFACE_UPLINK.name, labels, 1.0 if p.is_uplink else 0.0
        yield md.INTERFACE_CAMERA.name, labels, 1.0 if p.is_camera else 0.0
        yield md.INTERFACE_SPEED.name, labels, p.speed_bps
        for key, d in md.INTERFACE_COUNTERS:
            if key in p.counters:
                yield d.name, labels, float(p.counters[key])
    for q in r.poe:
        labels = (t.site, t.device, q.name, q.if_index)
        yield md.POE_DELIVERING.name, labels, 1.0 if q.delivering else 0.0
        if q.power_w is not None:
            yield md.POE_POWER.name, labels, q.power_w
    for s in r.pses:
        pse: tuple[str, ...] = (t.site, t.device, s.group)
        if s.budget_w is not None:
            yield md.POE_BUDGET.name, pse, s.budget_w
        if s.consumption_w is not None:
            yield md.POE_CONSUMPTION.name, pse, s.consumption_w


#: The per-port and PoE families, in /metrics order.
_PORT_DEFS = (md.INTERFACE_UP, md.INTERFACE_ADMIN_UP, md.INTERFACE_UPLINK, md.INTERFACE_CAMERA, md.INTERFACE_SPEED,
              *(d for _, d in md.INTERFACE_COUNTERS), md.POE_DELIVERING, md.POE_POWER, md.POE_BUDGET,
              md.POE_CONSUMPTION)


def families(snap: StoreSnapshot) -> Iterator[Family]:
    """Yield the SNMP families of /metrics: device up and uptime, then every port, PoE port and PSE read."""
    devices = [(t, snap.latest.get(("snmp", t.site, t.device, ""))) for t in snap.targets if t.snmp is not None]
    yield md.SNMP_UP, [((t.site, t.device), 1.0 if r is not None and r.up else 0.0) for t, r in devices], ()
    yield md.SNMP_UPTIME, [((t.site, t.device), r.values["uptime_seconds"]) for t, r in devices
                           if r is not None and "uptime_seconds" in r.values], ()
    rows: dict[str, list[tuple[tuple[str, ...], float]]] = {d.name: [] for d in _PORT_DEFS}
    for t, r in devices:
        if isinstance(r, SnmpResult):
            for name, labels, value in _port_samples(r, t):
                rows[name].append((labels, value))
    for d in _PORT_DEFS:
        yield d, rows[d.name], ()


def build(module: str, target: str, budget_s: float, params: dict[str, str],
          snmp: SnmpSettings) -> tuple[ProbeJob, SnmpSettings]:
    """Return the job and settings of a /probe ``snmp`` request (``IP``, ``IP:PORT`` or ``[IPv6]:PORT``)."""
    host, port = target, 161
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        port_s = rest.removeprefix(":") if rest.startswith(":") else None
    elif target.count(":") == 1:
        host, _, port_s = target.partition(":")
    else:
        port_s = None
    if port_s is not None:
        if not port_s.isdigit() or not 1 <= int(port_s) <= 65535:
            raise ProbeRequestError(f"target: an snmp target is IP or IP:PORT, not {shown(target)}")
        port = int(port_s)
    timeout = max(min(snmp.timeout_s, budget_s - 0.5), snmp.request_timeout_s + _START_S + 0.5)
    settings = dataclasses.replace(snmp, timeout_s=timeout)
    ip = check_ip(host)
    return ProbeJob("snmp", Target("", target, ip, "switch", snmp=SnmpTarget(port))), settings


def gauges(result: ProbeResult) -> Iterator[Gauge]:
    """Yield the SNMP series of a /probe answer: up, uptime, then each port, PoE port and PSE (grouped by metric)."""
    yield md.SNMP_UP, 1.0 if result.up else 0.0, None
    if "uptime_seconds" in result.values:
        yield md.SNMP_UPTIME, result.values["uptime_seconds"], None
    if not isinstance(result, SnmpResult):
        return
    by_name = {d.name: d for d in _PORT_DEFS}
    rows: dict[str, list[Gauge]] = {d.name: [] for d in _PORT_DEFS}
    for name, labels, value in _port_samples(result, result.job.target):
        d = by_name[name]
        rows[name].append((d, value, dict(zip(d.labels[2:], labels[2:]))))
    for d in _PORT_DEFS:
        yield from rows[d.name]


KIND = Kind("snmp", SnmpSettings, DEFAULT_SNMP_SETTINGS, probe_snmp, plan, families, {"snmp": 4}, build, gauges,
            check=check_snmp)
