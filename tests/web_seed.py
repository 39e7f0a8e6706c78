"""Seed an inventory for the web tests: a commune of villages, plus a site whose camera stream is frozen."""

from __future__ import annotations

import base64
from importlib import resources
from typing import Any

from sitescout.inventory import store
from sitescout.inventory.db import Database
from sitescout.inventory.models import Commune, Device, Region, Site
from sitescout.inventory.search import fold

#: (name, kind, latitude, longitude): illustrative coordinates, marked as demo data.
VILLAGES = [
    ("Thôn Đồng Bùa", "village_hall", 22.3541, 104.9612),
    ("Hướng Đạo", "village_hall", 22.3619, 104.9735),
    ("Chợ Xã Tùng Bá", "market", 22.3490, 104.9801),
    ("Trường Tiểu học Bản Khoẻn", "school", 22.3702, 104.9550),
    ("Trạm Y tế Xã", "health_station", 22.3455, 104.9688),
    ("Ngã ba Nà Sài", "crossroads", 22.3588, 104.9879),
    ("Thôn Nà Lầu", "village_hall", 22.3755, 104.9690),
    ("Thôn Khuổi Hốc", "village_hall", 22.3401, 104.9555),
    ("Thôn Lùng Khúy", "village_hall", 22.3666, 104.9921),
    ("Thôn Tả Lủng", "village_hall", 22.3820, 104.9790),
    ("Thôn Mỏ Neo", "village_hall", 22.3350, 104.9740),
    ("Thôn Phìn Hồ", "village_hall", 22.3610, 104.9450),
    ("Thôn Sủng Trái", "village_hall", 22.3890, 104.9600),
    ("Trụ sở UBND xã", "commune_office", 22.3530, 104.9720),
]
FROZEN_SITE = "Thôn Đồng Bùa"
FROZEN_ENDPOINT = "urn:uuid:5f1c0a7e-0000-4000-8000-00000000f00d"


def _jpeg_base64() -> str:
    data = resources.files("sitescout.infra.lab").joinpath("data/mjpeg-normal-160x120-01.jpg").read_bytes()
    return base64.b64encode(data).decode()


def frozen_survey(site: str = FROZEN_SITE) -> dict[str, Any]:
    """Return a survey document whose one camera has a frozen stream (and a snapshot)."""
    return {
        "site": site, "started_at": "2026-03-01T08:00:00+00:00", "finished_at": "2026-03-01T08:01:30+00:00",
        "networks": ["198.51.100.0/24"],
        "hosts": [{
            "ip": "198.51.100.21", "mac": "00:12:34:56:78:9a", "vendor": "Hikvision", "open_ports": [80, 554],
            "kind": "camera",
            "link": {"sent": 20, "received": 20, "loss_ratio": 0.0, "rtt_min_ms": 0.4, "rtt_avg_ms": 0.9,
                     "rtt_max_ms": 2.1, "jitter_ms": 0.2},
            "onvif": {"endpoint": FROZEN_ENDPOINT, "xaddrs": ["http://198.51.100.21/onvif/device_service"],
                      "scopes": [], "manufacturer": "Hikvision", "model": "DS-2CD1023", "firmware": "V5.5.0",
                      "serial": "DS1023-0001", "hardware_id": "88", "clock_offset_s": 2.0, "auth": "ok",
                      "profiles": [{"token": "p0", "name": "main", "encoding": "H264", "width": 1280, "height": 720,
                                    "fps_limit": 25.0, "bitrate_kbps": 2048,
                                    "stream_uri": "rtsp://198.51.100.21:554/main", "snapshot_uri": None}]},
            "streams": [{"uri": "rtsp://198.51.100.21:554/main", "profile": "main", "up": True, "open_s": 0.3,
                         "fps": 25.0, "width": 1280, "height": 720, "frozen": True, "black": False,
                         "sharpness": 80.0, "bitrate_kbps": 30.0, "error": None}],
            "snapshot": {"jpeg_base64": _jpeg_base64(), "source": "stream"},
            "errors": [],
        }],
    }


def seed_commune(database: Database) -> dict[str, int]:
    """Create the commune's sites with a camera and a switch each, healthy; return site ids by name."""
    ids: dict[str, int] = {}
    with database.session() as session:
        region = Region(name="Tỉnh Hà Giang (demo)", name_folded=fold("Tỉnh Hà Giang (demo)"))
        commune = Commune(region=region, name="Xã Tùng Bá (demo)", name_folded=fold("Xã Tùng Bá (demo)"), is_demo=True)
        session.add_all([region, commune])
        for n, (name, kind, lat, lon) in enumerate(VILLAGES):
            site = Site(commune=commune, name=name, name_folded=fold(name), kind=kind, latitude=lat, longitude=lon,
                        is_demo=True, address=f"{name}, Xã Tùng Bá", contact="")
            session.add(site)
            camera = Device(site=site, kind="camera", name=f"cam-{n:02d}", ip=f"198.51.100.{20 + n}",
                            onvif_endpoint=FROZEN_ENDPOINT if name == FROZEN_SITE else None)
            switch = Device(site=site, kind="switch", name=f"sw-{n:02d}", ip=f"198.51.100.{100 + n}")
            session.add_all([camera, switch])
            session.flush()
            ids[name] = site.id
            if name != FROZEN_SITE:
                store.record_observations(session, [
                    {"device_id": camera.id, "kind": "stream", "health": "ok",
                     "observed_at": f"2026-03-01T0{h}:00:00+00:00", "values": {"fps": 24.0 + h / 10, "up": True}}
                    for h in range(1, 4)
                ] + [{"device_id": switch.id, "kind": "link", "health": "ok",
                      "values": {"rtt_avg_ms": 1.5, "loss_ratio": 0.0}}])
        session.flush()
        store.ingest_survey(session, frozen_survey(), site_id=ids[FROZEN_SITE])
        store.create_user(session, "viewer", "viewer-password", "viewer")
        store.create_user(session, "editor", "editor-password", "editor")
    return ids
