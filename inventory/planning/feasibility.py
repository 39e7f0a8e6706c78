"""Network and power feasibility of candidate camera mounts, from survey data (pure functions).

Rules (research: planning-anchors.md §4):

- copper: a 100 m channel is a 90 m permanent link plus 10 m of patch cords
  (ANSI/TIA-568); a cable route over 90 m needs an extender, fibre or a radio link;
- radio: keep 60 % of the first Fresnel zone clear, ``r = 17.32·sqrt(d1·d2/(d·f))``
  (m; km, GHz), above the earth bulge ``d1·d2/(2·k·R)`` with k = 4/3; plan on the
  measured iperf throughput, else half the PHY rate;
- uplink: cameras fit while ``Σ b·(1 + o) ≤ U·u_max``, u_max = 0.7 (planning choice),
  o = 0.1 (≈ 7 % reverse TCP per freedomvms.com plus RTP/IP headers; research range
  0.07–0.2); bitrates measured on the survey for the same model win over the
  catalogue's, which win over the planning table;
- PoE: 802.3af delivers 12.95 W, 802.3at 25.5 W at the device; a switch's budget is
  shared by its ports.

A mount's problems come back as human-readable reasons; an infeasible mount or
pose never reaches the optimiser.  Shared limits (uplink headroom, PoE budget, a
radio link's capacity) become `resources` the optimiser respects jointly.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PERMANENT_LINK_MAX_M",
    "CHANNEL_MAX_M",
    "UTILISATION_MAX",
    "OVERHEAD",
    "POE_CLASS_W",
    "Reason",
    "Bridge",
    "Mount",
    "CameraModel",
    "Uplink",
    "Switch",
    "PoseCheck",
    "MountCheck",
    "fresnel_radius_m",
    "earth_bulge_m",
    "bridge_reasons",
    "cable_reasons",
    "planning_bitrate_kbps",
    "bitrate_kbps",
    "measured_bitrates_from_survey",
    "uplink_headroom_kbps",
    "max_cameras_on_uplink",
    "check_mount",
    "resource_capacities",
]

PERMANENT_LINK_MAX_M = 90.0
CHANNEL_MAX_M = 100.0
UTILISATION_MAX = 0.7
OVERHEAD = 0.1
FRESNEL_CLEAR_FRACTION = 0.6
EARTH_RADIUS_M = 6_371_000.0
K_FACTOR = 4.0 / 3.0
#: Power at the device per PoE standard (W).
POE_CLASS_W = {"802.3af": 12.95, "802.3at": 25.5, "802.3bt": 71.3}

#: Planning bitrates (kb/s) by (megapixel class, codec) at 25–30 fps and at 15 fps
#: (Uniview-style disk calculator table, AlexeyFin/maxnetMain script/hdd_data.js).
_TABLE_KBPS = {
    (2, "h264"): (4096, 2048), (2, "h265"): (2048, 1024),
    (4, "h264"): (8192, 4096), (4, "h265"): (4096, 2048),
    (8, "h264"): (16384, 8192), (8, "h265"): (8192, 4096),
}
_CLASS_PIXELS = {2: 1920 * 1080, 4: 2560 * 1440, 8: 3840 * 2160}



class Reason(str):
    """Why a mount or a model cannot be used: English text (it is a str) keeping a code and parameters.

    Readers in another language render ``code`` with ``params`` (see web/plan_words.py); the text
    is the English rendering, kept for the CLI, logs and existing callers.
    """

    code: str
    params: dict[str, Any]

    def __new__(cls, code: str, text: str, **params: Any) -> Reason:
        obj = super().__new__(cls, text)
        obj.code = code
        obj.params = params
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reason, (self.code, str(self), self.params))

    def to_dict(self) -> dict[str, Any]:
        """Return the code and parameters as plain JSON values."""
        return {"code": self.code, **{k: (round(v, 2) if isinstance(v, float) else v) for k, v in self.params.items()}}


def _reason(code: str, text: str, params: dict[str, Any]) -> Reason:
    return Reason(code, text, **params)


@dataclass(frozen=True)
class Bridge:
    """A point-to-point radio link from the mount to a point on the wired network."""

    distance_m: float
    freq_ghz: float = 5.8
    height_m: float = 6.0  # antenna height above ground at the mount
    peer_height_m: float = 6.0
    capacity_kbps: float = 50_000.0  # measured (iperf), else half the PHY rate
    obstructions: tuple[tuple[float, float], ...] = ()  # (distance from the mount m, height m)


@dataclass(frozen=True)
class Mount:
    """A candidate place for cameras: pole or wall, with its power and network."""

    id: str
    x: float
    y: float
    height_m: float
    power: str = "poe"  # "poe" | "mains" | "none"
    cable_m: float | None = None  # cable route to the switch; None when no route exists
    patch_m: float = 5.0
    switch: str | None = None
    uplink: str | None = None
    bridge: Bridge | None = None
    headings_deg: tuple[float, ...] | None = None
    max_cameras: int = 1
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class CameraModel:
    """A camera in the catalogue."""

    model: str
    width_px: int
    height_px: int
    hfov_deg: tuple[float, ...]  # one value, or the zoom steps of a varifocal lens
    codec: str = "h265"
    fps: float = 15.0
    price: float = 0.0
    power_w: float = 6.0
    bitrate_kbps: float | None = None  # datasheet / configured value at this codec and fps


@dataclass(frozen=True)
class Uplink:
    """A site's way out; `stream="sub"` when a local recorder keeps the main stream."""

    id: str
    capacity_kbps: float
    existing_kbps: float = 0.0
    stream: str = "main"
    substream_kbps: float = 512.0
    #: Measured share of the capacity in use (0..1) when the uplink comes from a survey; None when typed.
    utilisation: float | None = None


@dataclass(frozen=True)
class Switch:
    """A PoE switch with a shared power budget."""

    id: str
    poe_budget_w: float
    used_w: float = 0.0
    port_max_w: float = POE_CLASS_W["802.3at"]
    #: Free ports with PoE and all free ports, when a survey read them (network_facts); None: not known.
    free_poe_ports: tuple[str, ...] | None = None
    free_ports: tuple[str, ...] | None = None
    #: Where the budget came from: "typed", "survey" (network_facts) or "none".
    source: str = "typed"


def fresnel_radius_m(distance_km: float, freq_ghz: float, d1_km: float | None = None) -> float:
    """Return the first Fresnel zone radius (m) at `d1_km` from one end (mid-path by default)."""
    if distance_km <= 0 or freq_ghz <= 0:
        raise ValueError("distance and frequency must be positive")
    d1 = distance_km / 2.0 if d1_km is None else d1_km
    d2 = distance_km - d1
    if d1 <= 0 or d2 <= 0:
        return 0.0
    return 17.32 * math.sqrt(d1 * d2 / (distance_km * freq_ghz))


def earth_bulge_m(distance_km: float, d1_km: float | None = None, k: float = K_FACTOR) -> float:
    """Return the earth bulge (m) at `d1_km` along a path (mid-path by default)."""
    d1 = distance_km / 2.0 if d1_km is None else d1_km
    d2 = distance_km - d1
    return max(0.0, d1 * 1000.0 * d2 * 1000.0 / (2.0 * k * EARTH_RADIUS_M))


def bridge_reasons(bridge: Bridge) -> list[Reason]:
    """Return why a radio link lacks 60 % first-Fresnel clearance (empty when clear)."""
    d_km = bridge.distance_m / 1000.0
    if d_km <= 0:
        return [Reason("radio_no_length", "radio link has no length")]
    # The ground itself is an obstruction of height 0 everywhere; mid-path is the worst point.
    checks = [(bridge.distance_m / 2.0, 0.0, "the ground")]
    checks += [(d, h, f"an obstruction {h:g} m high at {d:g} m") for d, h in bridge.obstructions]
    reasons: list[Reason] = []
    for d1_m, obstacle_h, what in checks:
        if not 0 < d1_m < bridge.distance_m:
            continue
        frac = d1_m / bridge.distance_m
        los = bridge.height_m + (bridge.peer_height_m - bridge.height_m) * frac
        need = obstacle_h + earth_bulge_m(d_km, d1_m / 1000.0) + FRESNEL_CLEAR_FRACTION * fresnel_radius_m(
            d_km, bridge.freq_ghz, d1_m / 1000.0)
        if los < need:
            reasons.append(Reason(
                "radio_clearance", f"radio link at {bridge.freq_ghz:g} GHz over {bridge.distance_m:.0f} m: line of "
                f"sight {los:.1f} m above {what} needs {need:.1f} m (60 % of the first Fresnel zone "
                f"plus earth bulge); raise the antennas or move the link", freq_ghz=bridge.freq_ghz,
                distance_m=bridge.distance_m, los_m=los, need_m=need, obstacle_h_m=obstacle_h, at_m=d1_m))
    return reasons


def cable_reasons(mount: Mount) -> tuple[str | None, list[Reason]]:
    """Return the mount's link kind ("ethernet" | "bridge" | None) and why it has none."""
    if mount.cable_m is not None and mount.cable_m <= PERMANENT_LINK_MAX_M \
            and mount.cable_m + mount.patch_m <= CHANNEL_MAX_M:
        return "ethernet", []
    if mount.cable_m is None:
        cable = Reason("no_cable_route", "no cable route to a switch")
    elif mount.cable_m > PERMANENT_LINK_MAX_M:
        cable = Reason("cable_too_long", f"cable route {mount.cable_m:.0f} m exceeds the {PERMANENT_LINK_MAX_M:.0f} m "
                       f"permanent link ({CHANNEL_MAX_M:.0f} m channel); add a PoE extender or switch, fibre, or a "
                       "radio link", cable_m=mount.cable_m, max_m=PERMANENT_LINK_MAX_M)
    else:
        cable = Reason("channel_too_long", f"cable {mount.cable_m:.0f} m plus {mount.patch_m:.0f} m of patch cords "
                       f"exceeds the {CHANNEL_MAX_M:.0f} m channel; shorten the patch cords or add a switch",
                       cable_m=mount.cable_m, patch_m=mount.patch_m, max_m=CHANNEL_MAX_M)
    if mount.bridge is None:
        return None, [cable]
    radio = bridge_reasons(mount.bridge)
    return (None, [cable, *radio]) if radio else ("bridge", [])


def planning_bitrate_kbps(width_px: int, height_px: int, codec: str = "h265", fps: float = 15.0) -> float:
    """Return the planning-table bitrate (kb/s) for a resolution, codec and frame rate."""
    codec = codec.lower().replace(".", "").replace("hevc", "h265").replace("avc", "h264")
    if codec not in ("h264", "h265"):
        codec = "h264"  # MJPEG and others: no table row; H.264 is the cautious stand-in
    pixels = width_px * height_px
    cls = 2 if pixels <= 2.5e6 else 4 if pixels <= 5.5e6 else 8
    fast, slow = _TABLE_KBPS[(cls, codec)]
    if fps >= 25:
        rate = fast * fps / 30.0 if fps > 30 else fast
    elif fps <= 15:
        rate = slow * fps / 15.0
    else:
        rate = slow + (fast - slow) * (fps - 15.0) / 10.0
    # Scale by pixels outside the table's range (below 2 MP, above 8 MP).
    ref = _CLASS_PIXELS[cls]
    if (cls == 2 and pixels < ref) or (cls == 8 and pixels > ref):
        rate *= pixels / ref
    return float(rate)


def bitrate_kbps(model: CameraModel, measured: dict[str, float] | None = None) -> tuple[float, str]:
    """Return a model's planning bitrate and where it came from: survey, catalogue or table."""
    if measured and measured.get(model.model):
        return float(measured[model.model]), "measured"
    if model.bitrate_kbps:
        return float(model.bitrate_kbps), "catalogue"
    return planning_bitrate_kbps(model.width_px, model.height_px, model.codec, model.fps), "table"


def measured_bitrates_from_survey(doc: dict[str, Any]) -> dict[str, float]:
    """Return the median measured main-stream bitrate (kb/s) per camera model in a survey document."""
    per_model: dict[str, list[float]] = {}
    for host in doc.get("hosts", []):
        model = (host.get("onvif") or {}).get("model")
        streams = [s for s in host.get("streams", []) if s.get("up") and s.get("bitrate_kbps")]
        if not model or not streams:
            continue
        main = max(streams, key=lambda s: (s.get("width") or 0) * (s.get("height") or 0))
        per_model.setdefault(model, []).append(float(main["bitrate_kbps"]))
    return {model: statistics.median(values) for model, values in per_model.items()}


def uplink_headroom_kbps(uplink: Uplink, utilisation: float = UTILISATION_MAX, overhead: float = OVERHEAD) -> float:
    """Return the stream bitrate (kb/s, before overhead) the uplink can still take."""
    return uplink.capacity_kbps * utilisation / (1.0 + overhead) - uplink.existing_kbps


def max_cameras_on_uplink(capacity_kbps: float, stream_kbps: float, utilisation: float = UTILISATION_MAX,
                          overhead: float = OVERHEAD) -> int:
    """Return N_max = floor(U·u_max / (b·(1 + o)))."""
    return math.floor(capacity_kbps * utilisation / (stream_kbps * (1.0 + overhead)) + 1e-9)


@dataclass(frozen=True)
class PoseCheck:
    """A model at a mount: what it consumes of shared limits, or why it cannot go there."""

    model: str
    bitrate_kbps: float
    bitrate_source: str
    resources: dict[str, float] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()

    @property
    def is_feasible(self) -> bool:
        """Return whether the model may be proposed at the mount."""
        return not self.reasons


@dataclass(frozen=True)
class MountCheck:
    """A mount's verdict: its link, the models that fit and every reason against it."""

    mount_id: str
    link: str | None
    reasons: tuple[Reason, ...]
    poses: tuple[PoseCheck, ...]

    @property
    def is_feasible(self) -> bool:
        """Return whether any model may be proposed at the mount."""
        return not self.reasons and any(p.is_feasible for p in self.poses)

    def all_reasons(self) -> list[Reason]:
        """Return the mount's reasons, or the distinct reasons of its models when all fail."""
        if self.reasons:
            return list(self.reasons)
        seen: dict[str, Reason] = {}
        for pose in self.poses:
            for reason in pose.reasons:
                text = f"{pose.model}: {reason}"
                code, params = getattr(reason, "code", "other"), getattr(reason, "params", {})
                seen.setdefault(text, Reason(code, text, model=pose.model, **params))
        return list(seen.values()) if not self.is_feasible else []


def check_mount(
    mount: Mount,
    models: list[CameraModel],
    *,
    uplinks: dict[str, Uplink] | None = None,
    switches: dict[str, Switch] | None = None,
    measured: dict[str, float] | None = None,
    utilisation: float = UTILISATION_MAX,
    overhead: float = OVERHEAD,
) -> MountCheck:
    """Return whether and with which models a mount can be used, and what each model consumes."""
    uplinks, switches = uplinks or {}, switches or {}
    reasons: list[Reason] = []
    if mount.power == "none":
        reasons.append(Reason("no_power", "no power at the mount; bring mains or a PoE cable"))
    link, link_reasons = cable_reasons(mount)
    reasons += link_reasons
    uplink = uplinks.get(mount.uplink) if mount.uplink else None
    if mount.uplink and uplink is None:
        reasons.append(Reason("unknown_uplink", f"unknown uplink {mount.uplink!r}", uplink=mount.uplink))
    switch = switches.get(mount.switch) if mount.switch else None
    if mount.power == "poe" and link == "ethernet" and switch is None:
        reasons.append(Reason("poe_without_switch", "PoE mount without a known switch; name its switch"))
    ports = _port_resources(mount, link, switch, reasons)
    poses = []
    for model in models:
        rate, source = bitrate_kbps(model, measured)
        pose_reasons: list[str] = []
        resources: dict[str, float] = dict(ports)
        if uplink is not None:
            load = uplink.substream_kbps if uplink.stream == "sub" else rate
            headroom = uplink_headroom_kbps(uplink, utilisation, overhead)
            if load > headroom and uplink.utilisation is not None:
                pose_reasons.append(Reason(
                    "uplink_busy", f"uplink {uplink.id} runs at {uplink.utilisation:.0%} of "
                    f"{uplink.capacity_kbps / 1000:g} Mb/s: {max(headroom, 0):.0f} kb/s of headroom, the stream "
                    f"needs {load:.0f} kb/s", uplink=uplink.id, speed_mbps=uplink.capacity_kbps / 1000.0,
                    utilisation_pct=uplink.utilisation * 100.0, headroom_kbps=max(headroom, 0.0), need_kbps=load))
            elif load > headroom:
                pose_reasons.append(Reason(
                    "uplink_headroom", f"uplink {uplink.id} has {max(headroom, 0):.0f} kb/s of headroom "
                    f"(capacity × {utilisation:g} / {1 + overhead:g} − existing), the stream needs {load:.0f} kb/s",
                    uplink=uplink.id, headroom_kbps=max(headroom, 0.0), need_kbps=load))
            resources[f"uplink:{uplink.id}"] = load
        if link == "bridge" and mount.bridge is not None:
            radio = mount.bridge.capacity_kbps * utilisation / (1.0 + overhead)
            if rate > radio:
                pose_reasons.append(Reason("radio_capacity", f"radio link carries {radio:.0f} kb/s, the stream "
                                           f"needs {rate:.0f} kb/s", capacity_kbps=radio, need_kbps=rate))
            resources[f"bridge:{mount.id}"] = rate
        if mount.power == "poe" and switch is not None and link == "ethernet":
            if model.power_w > switch.port_max_w:
                pose_reasons.append(Reason("port_power", f"draws {model.power_w:g} W, the switch port gives "
                                           f"{switch.port_max_w:g} W", power_w=model.power_w,
                                           port_w=switch.port_max_w))
            elif model.power_w > switch.poe_budget_w - switch.used_w:
                pose_reasons.append(
                    Reason(
                        "poe_budget",
                        f"switch {switch.id} has {switch.poe_budget_w - switch.used_w:g} "
                        f"W of PoE budget left, the camera draws {model.power_w:g} W",
                        switch=switch.id,
                        left_w=switch.poe_budget_w - switch.used_w,
                        power_w=model.power_w,
                    )
                )
            resources[f"poe:{switch.id}"] = model.power_w
        poses.append(PoseCheck(model.model, rate, source, resources, tuple(pose_reasons)))
    return MountCheck(mount.id, link, tuple(reasons), tuple(poses))


def _port_resources(mount: Mount, link: str | None, switch: Switch | None, reasons: list[Reason]) -> dict[str, float]:
    """Return the switch ports a camera at the mount takes (surveyed switches only); no port left is a reason."""
    if link != "ethernet" or switch is None or switch.free_ports is None:
        return {}
    if mount.power == "poe":
        if not switch.free_poe_ports:
            reasons.append(Reason("no_free_poe_port", f"switch {switch.id} has no free PoE port", switch=switch.id))
        return {f"poe_ports:{switch.id}": 1.0, f"ports:{switch.id}": 1.0}
    if not switch.free_ports:
        reasons.append(Reason("no_free_port", f"switch {switch.id} has no free port", switch=switch.id))
    return {f"ports:{switch.id}": 1.0}


def resource_capacities(
    mounts: list[Mount],
    uplinks: dict[str, Uplink],
    switches: dict[str, Switch],
    *,
    utilisation: float = UTILISATION_MAX,
    overhead: float = OVERHEAD,
) -> dict[str, float]:
    """Return the capacity of every shared limit named in `PoseCheck.resources`."""
    caps = {f"uplink:{u.id}": uplink_headroom_kbps(u, utilisation, overhead) for u in uplinks.values()}
    caps.update({f"poe:{s.id}": s.poe_budget_w - s.used_w for s in switches.values()})
    caps.update({f"poe_ports:{s.id}": float(len(s.free_poe_ports or ())) for s in switches.values()
                 if s.free_ports is not None})
    caps.update({f"ports:{s.id}": float(len(s.free_ports or ())) for s in switches.values()
                 if s.free_ports is not None})
    for mount in mounts:
        if mount.bridge is not None:
            caps[f"bridge:{mount.id}"] = mount.bridge.capacity_kbps * utilisation / (1.0 + overhead)
    return caps
