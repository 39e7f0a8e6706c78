"""The whole product on loopback, for `sitescout demo`: inventory, worker, exporter and web UI.

The composition root is the only place where probes/, inventory/ and web/ meet:
the demo seeds the demo commune, points some of its cameras at the simulated
ones, stores the survey, runs a worker on those cameras whose results become
inventory observations (so the map's colours are live), and serves the web UI
and the worker's metrics.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from sitescout.console import say
from sitescout.demo_layout import ONVIF_PORT, SURVEYED_SITE
from sitescout.i18n import _
from sitescout.probes.worker.inventory_link import observation_health

__all__ = ["run_product", "InventorySink", "observation_health"]

log = logging.getLogger(__name__)

#: Probe intervals of the demo's worker: short, so the map changes while you watch.
DEMO_INTERVALS = {"link": 10, "stream": 30, "onvif": 60}


class InventorySink:
    """Deliver worker observations straight into the inventory (in-process)."""

    def __init__(self, database: Any, device_ids: dict[tuple[str, str], int]) -> None:
        self.database = database
        self.device_ids = device_ids

    def send(self, batch: list[dict[str, Any]]) -> None:
        """Store one batch as observations; observations of unknown devices are dropped with a log line."""
        from datetime import datetime, timezone

        from sitescout.inventory.store import record_observations

        rows = []
        for obs in batch:
            device_id = self.device_ids.get((obs.get("site", ""), obs.get("device", "")))
            if device_id is None:
                log.debug("observation for unknown device %s/%s dropped", obs.get("site"), obs.get("device"))
                continue
            at = datetime.fromtimestamp(obs["observed_at"], timezone.utc).isoformat() if obs.get(
                "observed_at") else None
            kind = obs.get("kind", "probe")
            if obs.get("profile"):  # each stream of a camera is its own kind of observation
                kind = f"{kind}:{obs['profile']}"
            rows.append({"device_id": device_id, "kind": kind, "health": observation_health(obs),
                         "observed_at": at, "values": obs.get("values") or {}, "reason": obs.get("reason") or ""})
        if rows:
            with self.database.session() as session:
                record_observations(session, rows)


def _attach(database: Any, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Point demo cameras at the simulated ones; return worker targets (one per attached camera)."""
    from sitescout.inventory.demo_data import attach_addresses, seed_demo
    from sitescout.inventory.models import Device

    cameras = [h for h in doc["hosts"] if h["kind"] == "camera" and h.get("onvif")]
    targets = []
    with database.session() as session:
        seed = seed_demo(session)
        devices = [session.get(Device, i) for i in seed.camera_ids]
        # The surveyed village hall's cameras first, then one camera of each other village.
        own = [d for d in devices if d.site.name == SURVEYED_SITE]
        others = [d for d in devices if d.site.name != SURVEYED_SITE and d.name == "Camera sân"
                  and d.site.name.startswith("Nhà văn hóa")]
        slots = own + others
        addresses, streams = {}, {}
        for host, device in zip(cameras, slots):
            profiles = host["onvif"]["profiles"]
            addresses[device.id] = host["ip"]
            streams[device.id] = sorted({p["stream_uri"] for p in profiles if p.get("stream_uri")})
            seen: set[str] = set()
            stream_targets = []
            for p in profiles:
                uri = p.get("stream_uri")
                if not uri or uri in seen:
                    continue
                seen.add(uri)
                stream_targets.append({"uri": uri, "profile": p["token"], "expected_fps": p.get("fps_limit"),
                                       "expected_width": p.get("width") or None,
                                       "expected_height": p.get("height") or None})
            target = {"site": device.site.name, "device": f"{device.name} #{device.id}", "ip": host["ip"],
                      "kind": "camera", "onvif": f"http://{host['ip']}:{ONVIF_PORT}/onvif/device_service"}
            if stream_targets:
                target["streams"] = [{k: v for k, v in s.items() if v is not None} for s in stream_targets]
            targets.append({"target": target, "device_id": device.id,
                            "site": (device.site.name, device.site.latitude, device.site.longitude)})
        attach_addresses(session, addresses, stream_uris=streams)
    return targets


def _ingest(database: Any, doc: dict[str, Any]) -> str:
    from sitescout.inventory.store import ingest_survey

    with database.session() as session:
        result = ingest_survey(session, doc)
    return _("survey stored: {matched} devices matched, {candidates} candidates to accept, "
             "{findings} findings").format(matched=len(result.matched), candidates=len(result.candidates),
                                           findings=len(result.findings))


def _plan(database: Any) -> Any:
    """Save the demo village's camera plans (drawn, optimised, one the plan of record): see demo_plan."""
    from sitescout.demo_plan import seed_demo_plan

    with database.session() as session:
        return seed_demo_plan(session)


def _demo_basemap(database: Any, workdir: Path, out: Any) -> Path:
    """Return the demo commune's drawn basemap (drawn on the first demo, then kept in the user's cache)."""
    from sitescout.demo_basemap import demo_basemap_file, demo_places

    with database.session() as session:
        places = demo_places(session)
    say("sitescout demo: " + _("map background: a drawn demo basemap of the demo commune (not a real map)"), out)
    return demo_basemap_file(places, workdir)


def _print_running(out: Any, web_url: str, secrets_file: str, metrics_url: str, cameras: int,
                   run_for: float | None) -> None:
    """Print what is running and where, last, so it stays on screen under the survey table."""
    state = _("running for {seconds} s").format(seconds=f"{run_for:g}") if run_for else _("running; Ctrl-C to stop")
    lines = [
        "sitescout demo: " + state,
        "  " + _("Web UI:  {url}").format(url=web_url),
        "  " + _("Sign in as admin; the password and API token are in:"),
        "    " + secrets_file,
        "  " + _("Metrics: {url} (the worker probes {cameras} cameras)").format(url=metrics_url, cameras=cameras),
        "  " + _("Requests to the web UI are logged with -v."),
    ]
    for line in lines:
        say(line, out)


def run_product(args: argparse.Namespace, site: Any, workdir: Path, survey: Callable[[], dict[str, Any]],
                out: Any, wait: Callable[[float | None], None]) -> int:
    """Survey, then serve inventory, worker, metrics and web UI until Ctrl-C (or --for seconds)."""
    from werkzeug.serving import make_server

    from sitescout.cmd_serve import freeze_startup_objects
    from sitescout.errors import CommandError
    from sitescout.inventory.db import open_database
    from sitescout.probes.credentials import load_credentials
    from sitescout.probes.worker.exporter import serve_in_background
    from sitescout.probes.worker.jobs import ProbeContext
    from sitescout.probes.worker.scheduler import FileTargetSource, ObservationQueue, Worker
    from sitescout.web import create_app
    from sitescout.web.bootstrap import ensure_admin

    # Werkzeug logs every request at INFO on its own logger: an access log, shown only with -v.
    logging.getLogger("werkzeug").setLevel(logging.INFO if getattr(args, "verbose", 0) else logging.WARNING)
    web_host, web_port = args.listen
    metrics_host, metrics_port = args.metrics_listen
    database = open_database(f"sqlite:///{workdir / 'demo-inventory.sqlite3'}")
    created = ensure_admin(database, workdir)
    app = create_app({"DATABASE": database, "TILES_FILE": str(_demo_basemap(database, workdir, out))})
    freeze_startup_objects()
    try:
        web = make_server(web_host, web_port, app, threaded=True)
    except OSError as err:
        raise CommandError(_("cannot listen on {address}: {reason}; choose another --listen").format(
            address=f"{web_host}:{web_port}", reason=err.strerror)) from err
    web_url = f"http://{web_host}:{web.server_port}/map"
    secrets_file = str(created.path if created else workdir)
    say("sitescout demo: " + _("web UI on {url} (user admin; password and API token in {file})").format(
        url=web_url, file=secrets_file), out)

    doc = survey()
    attached = _attach(database, doc)
    say("sitescout demo: " + _("inventory seeded with the demo commune (14 villages, marked as demo data)")
          + "; " + _ingest(database, doc), out)
    plans = _plan(database)
    say("sitescout demo: " + _("a saved camera plan of {site} on the planning workbench: {url}").format(
        site=SURVEYED_SITE, url=f"http://{web_host}:{web.server_port}/sites/{plans.site_id}/plan"), out)

    targets_file = workdir / "demo-targets.yaml"
    defaults = {kind: {"interval_s": seconds} for kind, seconds in DEMO_INTERVALS.items()}
    sites = {name: {"latitude": lat, "longitude": lon} for name, lat, lon in (a["site"] for a in attached)
             if lat is not None and lon is not None}
    targets_file.write_text(yaml.safe_dump({"defaults": defaults, "sites": sites,
                                            "targets": [a["target"] for a in attached]},
                                           allow_unicode=True, sort_keys=False), encoding="utf-8")
    device_ids = {(a["target"]["site"], a["target"]["device"]): a["device_id"] for a in attached}
    worker = Worker(FileTargetSource(targets_file),
                    ctx=ProbeContext(credentials=load_credentials(site.credentials_file)),
                    queue=ObservationQueue(InventorySink(database, device_ids), flush_interval_s=2.0))
    thread = threading.Thread(target=web.serve_forever, name="web", daemon=True)
    thread.start()
    try:
        with serve_in_background(worker, (metrics_host, metrics_port)) as exporter:
            metrics_url = f"http://{metrics_host}:{exporter.address[1]}/metrics"
            say("sitescout demo: " + _("worker probing {cameras} cameras; metrics on {url}").format(
                cameras=len(attached), url=metrics_url), out)
            _print_running(out, web_url, secrets_file, metrics_url, len(attached), args.run_for)
            wait(args.run_for)
            if worker.queue is not None:
                worker.queue.flush()
    except OSError as err:
        raise CommandError(_("cannot listen on {address}: {reason}; choose another --metrics-listen").format(
            address=f"{metrics_host}:{metrics_port}", reason=err.strerror)) from err
    finally:
        web.shutdown()
        database.close()
    say("sitescout demo: " + _("stopped"), sys.stderr)
    return 0
