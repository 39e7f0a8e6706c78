"""The demo commune: fourteen villages with illustrative coordinates, their sites and devices.

Everything is marked ``is_demo``.  Coordinates are illustrative (one hilly area in the
north of Viet Nam), not surveyed positions.  Device addresses are loopback only
(127.77.<village>.<n>), so a worker probing the demo never sends a packet off this machine;
``sitescout demo`` points some cameras at its simulated ones with ``attach_addresses``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitescout.inventory.choices import DeviceKind, SiteKind, Status
from sitescout.inventory.models import CameraDetails, Commune, Device, Region, Site
from sitescout.inventory.search import fold

__all__ = ["DEMO_REGION", "DEMO_COMMUNE", "VILLAGES", "DemoSeed", "seed_demo", "attach_addresses"]

DEMO_REGION = "Tuyên Quang (demo)"
DEMO_COMMUNE = "Xã Hướng Đạo (demo)"

#: (village, latitude, longitude) — illustrative positions a few kilometres apart.
VILLAGES: tuple[tuple[str, float, float], ...] = (
    ("Thôn Đồng Bùa", 21.7312, 105.3128),
    ("Thôn Hướng Đạo", 21.7265, 105.3247),
    ("Thôn Cầu Trâm", 21.7398, 105.3341),
    ("Thôn Làng Ngòi", 21.7187, 105.3036),
    ("Thôn Đồng Chùa", 21.7451, 105.3172),
    ("Thôn Khuôn Thống", 21.7124, 105.3289),
    ("Thôn Đèo Trám", 21.7533, 105.3058),
    ("Thôn Bãi Đình", 21.7046, 105.3155),
    ("Thôn Cây Quéo", 21.7362, 105.2961),
    ("Thôn Nà Bó", 21.7589, 105.3286),
    ("Thôn Phúc Ninh", 21.7215, 105.3402),
    ("Thôn Lũng Cẩu", 21.7478, 105.3419),
    ("Thôn Đồng Cả", 21.6992, 105.3331),
    ("Thôn Tân Lập", 21.7641, 105.3167),
)

#: Extra sites of the commune: (name, kind, village index whose position it sits near).
EXTRA_SITES: tuple[tuple[str, SiteKind, int], ...] = (
    ("UBND xã Hướng Đạo", SiteKind.COMMUNE_OFFICE, 1),
    ("Chợ Hướng Đạo", SiteKind.MARKET, 1),
    ("Trường Tiểu học Hướng Đạo", SiteKind.SCHOOL, 2),
    ("Trạm Y tế xã", SiteKind.HEALTH_STATION, 1),
    ("Ngã ba Đồng Bùa", SiteKind.CROSSROADS, 0),
)


@dataclass
class DemoSeed:
    """Ids of what seed_demo created."""

    commune_id: int
    site_ids: list[int] = field(default_factory=list)
    camera_ids: list[int] = field(default_factory=list)
    device_ids: list[int] = field(default_factory=list)


def _camera(site: Site, name: str, ip: str, heading: float, lat: float, lon: float) -> Device:
    device = Device(name=name, kind=DeviceKind.CAMERA.value, ip=ip, status=Status.ACTIVE.value)
    device.camera = CameraDetails(mount_latitude=lat, mount_longitude=lon, height_m=4.5, heading_deg=heading,
                                  hfov_deg=90.0, profiles=[], stream_uris=[])
    site.devices.append(device)
    return device


def _village_site(commune: Commune, v: int, name: str, lat: float, lon: float) -> Site:
    site = Site(name=f"Nhà văn hóa {name}", kind=SiteKind.VILLAGE_HALL.value, latitude=lat, longitude=lon,
                address=f"{name}, {DEMO_COMMUNE}", contact="Trưởng thôn (demo)", is_demo=True)
    commune.sites.append(site)
    base = f"127.77.{v + 1}"
    _camera(site, "Camera cổng", f"{base}.11", 180.0, lat - 0.0002, lon)
    _camera(site, "Camera sân", f"{base}.12", 45.0, lat + 0.0002, lon + 0.0002)
    site.devices.append(Device(name="Switch PoE", kind=DeviceKind.SWITCH.value, ip=f"{base}.2"))
    site.devices.append(Device(name="Uplink", kind=DeviceKind.ROUTER.value, ip=f"{base}.1"))
    site.devices.append(Device(name="Loa truyền thanh", kind=DeviceKind.LOUDSPEAKER.value, ip=f"{base}.20"))
    return site


def seed_demo(session: Session) -> DemoSeed:
    """Create the demo commune (once; a second call returns what exists) and return its ids."""
    existing = session.scalar(
        select(Commune).join(Region).where(Commune.name == DEMO_COMMUNE, Region.name == DEMO_REGION)
    )
    if existing is None:
        region = session.scalar(select(Region).where(Region.name == DEMO_REGION)) or Region(
            name=DEMO_REGION, name_folded=fold(DEMO_REGION))
        commune = Commune(name=DEMO_COMMUNE, name_folded=fold(DEMO_COMMUNE), region=region, is_demo=True)
        session.add(commune)
        for v, (name, lat, lon) in enumerate(VILLAGES):
            _village_site(commune, v, name, lat, lon)
        for n, (name, kind, near) in enumerate(EXTRA_SITES):
            angle = n * 2 * math.pi / len(EXTRA_SITES)
            lat = VILLAGES[near][1] + 0.0015 * math.sin(angle)
            lon = VILLAGES[near][2] + 0.0015 * math.cos(angle)
            site = Site(name=name, kind=kind.value, latitude=round(lat, 5), longitude=round(lon, 5),
                        address=DEMO_COMMUNE, contact="", is_demo=True)
            commune.sites.append(site)
            _camera(site, "Camera", f"127.77.100.{n + 11}", 90.0, site.latitude or lat, site.longitude or lon)
        session.flush()
        existing = commune
    seed = DemoSeed(commune_id=existing.id)
    for site in sorted(existing.sites, key=lambda s: s.id):
        seed.site_ids.append(site.id)
        for device in sorted(site.devices, key=lambda d: d.id):
            seed.device_ids.append(device.id)
            if device.kind == DeviceKind.CAMERA.value:
                seed.camera_ids.append(device.id)
    return seed


def attach_addresses(
    session: Session, addresses: dict[int, str], *, stream_uris: dict[int, list[str]] | None = None
) -> None:
    """Point demo devices at simulated peers (loopback addresses only), optionally with their stream URIs."""
    for device_id, ip in addresses.items():
        if not ip.startswith("127."):
            raise ValueError(f"demo device {device_id}: {ip} is not a loopback address; the demo stays on this machine")
        device = session.get(Device, device_id)
        if device is None or not device.site.is_demo:
            raise ValueError(f"device {device_id} is not a demo device")
        device.ip = ip
        if stream_uris and device_id in stream_uris and device.camera is not None:
            device.camera.stream_uris = list(stream_uris[device_id])
    session.flush()
