"""A large inventory for the web benchmarks: N sites in 100 communes, M devices, health for every device."""

from __future__ import annotations

import random
from datetime import datetime, timezone

from sqlalchemy import insert

from sitescout.inventory.db import Database
from sitescout.inventory.models import Commune, Device, DeviceHealth, Region, Site
from sitescout.inventory.search import fold

HEALTHS = ("ok",) * 90 + ("warning",) * 6 + ("problem",) * 3 + ("unknown",)


def seed_large(database: Database, sites: int, devices: int, seed: int = 5) -> None:
    """Bulk-insert `sites` sites and `devices` devices (spread evenly), each device with a health."""
    rng = random.Random(seed)
    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    with database.session() as session:
        conn = session.connection()
        conn.execute(insert(Region), [{"id": 1, "name": "Tỉnh Thử Nghiệm", "name_folded": fold("Tỉnh Thử Nghiệm")}])
        conn.execute(insert(Commune), [
            {"id": c + 1, "region_id": 1, "name": f"Xã Hướng Đạo {c}", "name_folded": f"xa huong dao {c}",
             "is_demo": True}
            for c in range(100)
        ])
        conn.execute(insert(Site), [
            {"id": s + 1, "commune_id": s % 100 + 1, "name": f"Thôn Đồng Bùa {s}", "name_folded": f"thon dong bua {s}",
             "kind": "village_hall", "status": "active", "latitude": 21.0 + rng.random() * 2,
             "longitude": 104.0 + rng.random() * 2, "address": "", "contact": "", "is_demo": True,
             "created_at": now, "updated_at": now}
            for s in range(sites)
        ])
        rows = []
        health = []
        for d in range(devices):
            rows.append({"id": d + 1, "site_id": d % sites + 1, "kind": "camera" if d % 3 else "switch",
                         "name": f"dev-{d}", "ip": f"127.{d >> 16 & 255}.{d >> 8 & 255}.{d & 255}",
                         "status": "active", "notes": "", "created_at": now, "updated_at": now})
            health.append({"device_id": d + 1, "health": rng.choice(HEALTHS), "observed_at": now, "reason": ""})
        for start in range(0, devices, 20000):
            conn.execute(insert(Device), rows[start:start + 20000])
            conn.execute(insert(DeviceHealth), health[start:start + 20000])
