"""Seed an inventory for the web tests: the demo commune, plus a site whose camera stream is frozen."""

from __future__ import annotations

import base64
from importlib import resources
from typing import Any

from sitescout.inventory import store
from sitescout.inventory.db import Database
from sqlalchemy import select

from sitescout.inventory.demo_data import seed_demo
from sitescout.inventory.models import Commune, Device, Site
from sitescout.inventory.search import fold

#: The extra site of the browser tests: its camera's stream is frozen (a survey says so).
FROZEN_SITE = "Thôn Nà Khà"
#: A demo village site with healthy devices and a history of observations.
HD = "Nhà văn hóa Thôn Hướng Đạo"
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
    """Seed the demo commune (inventory.demo_data), healthy, plus FROZEN_SITE; return site ids by name."""
    with database.session() as session:
        seed = seed_demo(session)
        commune = session.get(Commune, seed.commune_id)
        frozen = Site(commune=commune, name=FROZEN_SITE, name_folded=fold(FROZEN_SITE), kind="village_hall",
                      latitude=21.7100, longitude=105.3000, is_demo=True, address="", contact="")
        session.add(frozen)
        session.add(Device(site=frozen, kind="camera", name="Camera cổng", ip="127.77.99.1",
                           onvif_endpoint=FROZEN_ENDPOINT))
        session.flush()
        observations = []
        for device_id in seed.device_ids:
            for hour in range(1, 4):
                observations.append({"device_id": device_id, "kind": "stream", "health": "ok",
                                     "observed_at": f"2026-03-01T0{hour}:00:00+00:00",
                                     "values": {"fps": 24.0 + hour / 10, "rtt_avg_ms": 1.0 + hour / 10}})
        store.record_observations(session, observations)
        store.ingest_survey(session, frozen_survey(), site_id=frozen.id)
        store.create_user(session, "viewer", "viewer-password", "viewer")
        store.create_user(session, "editor", "editor-password", "editor")
        return {s.name: s.id for s in session.scalars(select(Site))}


def large_survey(site: str, n_hosts: int = 3000) -> dict[str, Any]:
    """Return a survey of `n_hosts` hosts (one camera in ten, with a profile and a stream; no snapshots)."""
    hosts = []
    for i in range(n_hosts):
        ip = f"10.0.{i // 250}.{i % 250 + 1}"  # data only: nothing is ever sent to these
        host: dict[str, Any] = {
            "ip": ip, "mac": f"00:16:3e:{i // 65536 % 256:02x}:{i // 256 % 256:02x}:{i % 256:02x}",
            "vendor": "Generic", "open_ports": [22, 80, 443], "kind": "host",
            "link": {"sent": 20, "received": 19, "loss_ratio": 0.05, "rtt_min_ms": 0.4, "rtt_avg_ms": 1.2,
                     "rtt_max_ms": 9.5, "jitter_ms": 0.8},
            "onvif": None, "streams": [], "errors": [],
        }
        if i % 10 == 0:
            uri = f"rtsp://{ip}:554/main"
            host.update(kind="camera", open_ports=[80, 554], onvif={
                "endpoint": f"urn:uuid:00000000-0000-4000-8000-{i:012d}", "xaddrs": [f"http://{ip}/onvif/device_service"],
                "scopes": [], "manufacturer": "Hikvision", "model": "DS-2CD1023", "firmware": "V5.5.0",
                "serial": f"SN{i:08d}", "hardware_id": "88", "clock_offset_s": 40.0, "auth": "ok",
                "profiles": [{"token": "p0", "name": "main", "encoding": "H264", "width": 1920, "height": 1080,
                              "fps_limit": 25.0, "bitrate_kbps": 4096, "stream_uri": uri, "snapshot_uri": None}]},
                streams=[{"uri": uri, "profile": "main", "up": True, "open_s": 0.4, "fps": 12.0, "width": 1920,
                          "height": 1080, "frozen": False, "black": False, "sharpness": 80.0,
                          "bitrate_kbps": 3000.0, "error": None}])
        hosts.append(host)
    return {"site": site, "started_at": "2026-03-03T08:00:00+00:00", "finished_at": "2026-03-03T09:00:00+00:00",
            "networks": ["10.0.0.0/16"], "hosts": hosts}
