"""/sd/prometheus by part: ?shard=K/N (the worker's own rule), ?commune=, ETag/304, gzip, and a real Prometheus."""

from __future__ import annotations

import gzip
import json
import shutil
import socket
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml

from sitescout.infra.lab.netns import stop_process_group
from sitescout.inventory import sd_targets, store
from sitescout.inventory.db import open_database
from sitescout.inventory.models import Commune, Device, Region, Site
from sitescout.inventory.search import fold
from sitescout.inventory.shards import ShardError, parse_shard, shard_of
from sitescout.probes.worker.inventory_targets import targets_from_groups
from sitescout.probes.worker.records import Target, in_shard
from sitescout.web import create_app

from browser_support import serve_app
from support import wait_for

#: commune -> sites; "Nhà văn hoá" is in both communes with a "cam-1" each: one name, two devices.
COMMUNES = {"Xã Hướng Đạo": ["Nhà văn hoá", "Thôn Đồng Bùa", "Chợ Hướng Đạo"],
            "Xã Đạo Viện": ["Nhà văn hoá", "Thôn Làng Mới"]}
DEVICES_PER_SITE = 6


@pytest.fixture()
def database(tmp_path: Path) -> Any:
    db = open_database(f"sqlite:///{tmp_path / 'inventory.sqlite3'}")
    with db.session() as session:
        region = Region(name="Tuyên Quang", name_folded=fold("Tuyên Quang"))
        n = 0
        for commune_name, sites in COMMUNES.items():
            commune = Commune(name=commune_name, name_folded=fold(commune_name), region=region)
            session.add(commune)
            for site_name in sites:
                site = Site(name=site_name, commune=commune, latitude=21.5, longitude=105.3)
                for d in range(1, DEVICES_PER_SITE + 1):
                    n += 1
                    site.devices.append(Device(name=f"cam-{d}", kind="camera", ip=f"127.0.{n // 250}.{n % 250 + 1}"))
                session.add(site)
    yield db
    db.close()


@pytest.fixture()
def app(database: Any) -> Any:
    return create_app({"DATABASE": database, "TESTING": True, "SECRET_KEY": "test-key-" + "x" * 32,
                       "SD_CACHE_SECONDS": 30})


@pytest.fixture()
def worker(database: Any) -> dict[str, str]:
    with database.session() as session:
        return {"Authorization": f"Bearer {store.create_token(session, 'worker')}"}


def _groups(client: Any, headers: dict[str, str], query: str = "") -> list[dict[str, Any]]:
    answer = client.get(f"/sd/prometheus{query}", headers=headers)
    assert answer.status_code == 200, answer.text
    return json.loads(answer.data)


def _ids(groups: list[dict[str, Any]]) -> set[int]:
    return {int(g["labels"]["__meta_sitescout_device_id"]) for g in groups}


def test_shard_of_is_the_workers_rule_bit_for_bit() -> None:
    keys = [(f"Thôn {s}", f"cam-{d}") for s in range(200) for d in range(10)]
    for n in (1, 2, 3, 7, 10):
        for site, device in keys:
            owners = [k for k in range(1, n + 1) if in_shard(Target(site, device, "127.0.0.1"), (k, n))]
            assert owners == [shard_of((site, device), n)]
    counts = [sum(shard_of(k, 4) == s for k in keys) for s in (1, 2, 3, 4)]
    assert min(counts) > 0.2 * len(keys), counts  # a hash spreads: no shard nearly empty


def test_parse_shard_refuses_what_is_not_k_of_n() -> None:
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "a/b", "1", "1/2/3", "-1/2", "1/100001"):
        with pytest.raises(ShardError):
            parse_shard(bad)


def test_shards_partition_the_targets_as_the_worker_assigns_them(app: Any, worker: dict[str, str]) -> None:
    client = app.test_client()
    whole = _groups(client, worker)
    assert len(whole) == DEVICES_PER_SITE * sum(len(s) for s in COMMUNES.values())
    # The worker's own view of the whole answer: its (site, device) identities and --shard K/N.
    targets, ids = targets_from_groups(whole)
    for n in (2, 3):
        parts = [_groups(client, worker, f"?shard={k}/{n}") for k in range(1, n + 1)]
        assert sum(len(p) for p in parts) == len(whole)
        assert set().union(*(_ids(p) for p in parts)) == _ids(whole)
        for k, part in enumerate(parts, start=1):
            mine = {ids[t.key] for t in targets if in_shard(t, (k, n))}
            assert _ids(part) == mine, f"shard {k}/{n} differs from the worker's --shard {k}/{n}"
            # A worker reading only its part names each device as it would from the whole answer.
            part_targets, _ = targets_from_groups(part)
            assert {t.key for t in part_targets} <= {t.key for t in targets}
            assert all(in_shard(t, (k, n)) for t in part_targets)
    assert _groups(client, worker, "?shard=1/1") == whole


def test_a_name_two_communes_share_is_two_identities_in_every_part(app: Any, worker: dict[str, str]) -> None:
    client = app.test_client()
    whole = _groups(client, worker)
    shared = [g["labels"]["device"] for g in whole if g["labels"]["site"] == "Nhà văn hoá"]
    assert len(shared) == 2 * DEVICES_PER_SITE and len(set(shared)) == len(shared)
    renamed = [name for name in shared if " #" in name]
    assert len(renamed) == DEVICES_PER_SITE  # the second of each pair, "cam-1 #<its id>"
    for commune in COMMUNES:
        part = _groups(client, worker, "?commune=" + urllib.parse.quote(commune))
        for group in part:
            same = next(g for g in whole if g["labels"]["__meta_sitescout_device_id"]
                        == group["labels"]["__meta_sitescout_device_id"])
            assert group["labels"] == same["labels"]


def test_commune_by_id_or_by_name_without_diacritics(app: Any, database: Any, worker: dict[str, str]) -> None:
    client = app.test_client()
    with database.session() as session:
        [(commune_id, _, _)] = store.find_communes(session, "Xã Đạo Viện")
    by_id = _groups(client, worker, f"?commune={commune_id}")
    by_name = _groups(client, worker, "?commune=xa%20dao%20vien")
    assert by_id == by_name and len(by_id) == 2 * DEVICES_PER_SITE
    assert {g["labels"]["commune"] for g in by_id} == {"Xã Đạo Viện"}
    both = _groups(client, worker, f"?commune={commune_id}&shard=1/2") + \
        _groups(client, worker, f"?commune={commune_id}&shard=2/2")
    assert _ids(both) == _ids(by_id) and len(both) == len(by_id)
    missing = client.get("/sd/prometheus?commune=Xã%20Không%20Có", headers=worker)
    assert missing.status_code == 404 and missing.get_json()["code"] == "no_commune_named"
    for bad in ("?shard=3/2", "?shard=x", "?shard=0/4"):
        answer = client.get(f"/sd/prometheus{bad}", headers=worker)
        assert answer.status_code == 400 and "K/N" in answer.get_json()["error"]


def test_a_name_two_regions_share_asks_for_the_id(app: Any, database: Any, worker: dict[str, str]) -> None:
    with database.session() as session:
        other = Region(name="Vĩnh Phúc", name_folded=fold("Vĩnh Phúc"))
        session.add(Commune(name="Xã Đạo Viện", name_folded=fold("Xã Đạo Viện"), region=other))
    answer = app.test_client().get("/sd/prometheus?commune=Xã%20Đạo%20Viện", headers=worker)
    assert answer.status_code == 400 and "id" in answer.get_json()["error"]


def test_etag_gives_304_until_a_target_changes(app: Any, database: Any, worker: dict[str, str]) -> None:
    client = app.test_client()
    for query in ("", "?shard=2/3", "?commune=1"):
        first = client.get(f"/sd/prometheus{query}", headers=worker)
        tag = first.headers["ETag"]
        again = client.get(f"/sd/prometheus{query}", headers={**worker, "If-None-Match": tag})
        assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == tag
        zipped = client.get(f"/sd/prometheus{query}", headers={**worker, "Accept-Encoding": "gzip"})
        assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["ETag"] != tag
        assert gzip.decompress(zipped.data) == first.data
        assert client.get(f"/sd/prometheus{query}", headers={
            **worker, "Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]}).status_code == 304
        other = client.get(f"/sd/prometheus{query}", headers={**worker, "If-None-Match": '"something-else"'})
        assert other.status_code == 200 and other.data == first.data
    tag = client.get("/sd/prometheus?shard=1/2", headers=worker).headers["ETag"]
    with database.session() as session:  # behind the app's back: a new answer once the cache expires
        device = session.get(Device, 1)
        device.ip = "127.0.9.9"
    app.extensions["sitescout_sd_cache"].answers.clear()
    changed = client.get("/sd/prometheus?shard=1/2", headers={**worker, "If-None-Match": tag})
    whole = json.loads(client.get("/sd/prometheus", headers=worker).data)
    owner = next(g for g in whole if g["labels"]["__meta_sitescout_device_id"] == "1")
    in_part = shard_of((owner["labels"]["site"], owner["labels"]["device"]), 2) == 1
    assert (changed.status_code == 200) == in_part  # only the part holding the device changed


def test_a_scoped_token_gets_its_sites_part(app: Any, database: Any) -> None:
    with database.session() as session:
        site_ids = [s for s, in session.query(Site.id).order_by(Site.id).limit(2)]
        token = store.create_token(session, "worker", sites=site_ids)
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    scoped = _groups(client, headers)
    assert {int(g["labels"]["__meta_sitescout_site_id"]) for g in scoped} == set(site_ids)
    halves = _groups(client, headers, "?shard=1/2") + _groups(client, headers, "?shard=2/2")
    assert _ids(halves) == _ids(scoped) and len(halves) == len(scoped)


# --- a real Prometheus -------------------------------------------------------------------------------------

PROMETHEUS = shutil.which("prometheus")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _discovered(prom: str) -> dict[str, set[str]]:
    """Return each job's discovered device ids from Prometheus' /api/v1/targets (active and dropped)."""
    import urllib.request

    with urllib.request.urlopen(f"{prom}/api/v1/targets", timeout=5) as answer:
        data = json.loads(answer.read())["data"]
    found: dict[str, set[str]] = {}
    for target in data["activeTargets"]:
        found.setdefault(target["labels"]["job"], set()).add(target["labels"]["device_id"])
    return found


@pytest.mark.skipif(PROMETHEUS is None, reason="needs Debian's prometheus")
def test_each_prometheus_discovers_only_its_shard(app: Any, worker: dict[str, str], tmp_path: Path) -> None:
    whole = _groups(app.test_client(), worker)
    token_file = tmp_path / "sd.token"
    token_file.write_text(worker["Authorization"].split()[1])
    token_file.chmod(0o600)
    with serve_app(app) as base:
        procs, proms = [], []
        try:
            for k in (1, 2):
                port = _free_port()
                job = {"job_name": f"shard-{k}", "scrape_interval": "1m",
                       "http_sd_configs": [{"url": f"{base}/sd/prometheus?shard={k}/2", "refresh_interval": "5s",
                                            "authorization": {"type": "Bearer",
                                                              "credentials_file": str(token_file)}}],
                       "relabel_configs": [{"source_labels": ["__meta_sitescout_device_id"],
                                            "target_label": "device_id"}]}
                cfg = tmp_path / f"prometheus-{k}.yml"
                cfg.write_text(yaml.safe_dump({"global": {"scrape_interval": "1m"}, "scrape_configs": [job]}))
                log = open(tmp_path / f"prometheus-{k}.log", "wb")  # noqa: SIM115 - closed below
                procs.append(subprocess.Popen(
                    [str(PROMETHEUS), f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / f'tsdb-{k}'}",
                     f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True))
                log.close()
                proms.append(f"http://127.0.0.1:{port}")

            def both_discovered() -> list[set[str]] | None:
                try:
                    seen = [_discovered(p).get(f"shard-{k}", set()) for k, p in enumerate(proms, start=1)]
                except OSError:
                    return None
                return seen if all(seen) else None

            seen = wait_for("both Prometheus servers discover their targets", both_discovered, timeout_s=60)
        finally:
            for proc in procs:
                stop_process_group(proc)
    expected = [{g["labels"]["__meta_sitescout_device_id"] for g in whole
                 if shard_of((g["labels"]["site"], g["labels"]["device"]), 2) == k} for k in (1, 2)]
    assert seen == expected
    assert not seen[0] & seen[1] and seen[0] | seen[1] == {g["labels"]["__meta_sitescout_device_id"] for g in whole}


def test_a_shard_read_by_id_chunks_keeps_the_whole_answers_order(app: Any, worker: dict[str, str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    client = app.test_client()
    whole = _groups(client, worker)
    monkeypatch.setattr(sd_targets, "_ID_CHUNK", 4)  # many chunks of the shard's ordered ids
    app.extensions["sitescout_sd_cache"].answers.clear()
    for k in (1, 2):
        part = _groups(client, worker, f"?shard={k}/2")
        expected = [g for g in whole if shard_of((g["labels"]["site"], g["labels"]["device"]), 2) == k]
        assert part == expected
