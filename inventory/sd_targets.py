"""What a worker is given to watch: Prometheus http_sd target groups built from the inventory.

One group per monitored device with an IP (:data:`MONITORED` statuses), labelled for Prometheus and carrying
the ``__meta_sitescout_*`` labels a worker builds its targets from; streamed from the database a group at a
time, by site or commune, or one shard of N (docs/scale.md).  A stored stream URI that carries a user or a
password is never handed out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Iterator
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from sitescout.inventory.choices import SNMP_KINDS, Status
from sitescout.inventory.models import CameraDetails, Commune, Device, Site
from sitescout.inventory.network import camera_port_names, uplink_names
from sitescout.inventory.shards import shard_of

__all__ = ["MONITORED", "target_device_ids", "prometheus_targets", "prometheus_targets_json", "camera_streams"]

log = logging.getLogger(__name__)

#: Curated statuses whose devices are expected to answer: they count towards health and are given as targets.
MONITORED = (Status.ACTIVE.value, Status.OFFLINE.value)

def _is_target(sites: Collection[int] | None) -> Any:
    """The rule of what a worker is given as targets: monitored devices with an IP (of `sites`, when given)."""
    rule = and_(Device.status.in_(MONITORED), Device.ip.is_not(None))
    return rule if sites is None else and_(rule, Device.site_id.in_(sorted(set(sites))))


def target_device_ids(
    session: Session, device_ids: Collection[int], *, sites: Collection[int] | None = None
) -> set[int]:
    """Return those of `device_ids` that /sd/prometheus gives as targets (to a token scoped to `sites`)."""
    wanted = sorted({d for d in device_ids if isinstance(d, int) and not isinstance(d, bool)})
    if not wanted:
        return set()
    return set(session.scalars(select(Device.id).where(Device.id.in_(wanted), _is_target(sites))))


def prometheus_targets(session: Session) -> list[dict[str, Any]]:
    """Return Prometheus http_sd groups: one per monitored device with an IP, labelled site/device/kind.

    Besides ``site``, ``device``, ``kind`` and ``commune``, the ``__meta_sitescout_*`` labels carry what a
    worker needs to build full targets (Prometheus drops them after relabelling): site and device ids, the
    ONVIF endpoint, the site's coordinates, and a camera's streams from its stored profiles,
    ``__meta_sitescout_stream_<n>_{uri,profile,expected_fps,expected_width,expected_height}`` (n from 1).
    A switch or router also carries ``__meta_sitescout_snmp_port`` (its SNMP port; "" when it is not read
    over SNMP), ``__meta_sitescout_snmp_uplinks`` (the names of its uplink interfaces, sorted, by commas) and
    ``__meta_sitescout_snmp_camera_ports`` (its interfaces cabled to a camera: the camera-port-down alert).
    """
    return list(_target_groups(session))


def prometheus_targets_json(session: Session, *, sites: Collection[int] | None = None,
                            communes: Collection[int] | None = None, shard: tuple[int, int] | None = None) -> bytes:
    """Return `prometheus_targets` as compact UTF-8 JSON, a group at a time.

    Only the devices of `sites` / of `communes` when given, and only shard K of N (`shard`, the
    worker's ``--shard K/N`` rule, ``inventory.shards.shard_of``) when given.
    For 100,000 devices the list of dicts alone held ~200 MB while json.dumps ran over it (peak 250 MB
    traced); written group by group into one buffer, the peak is about the answer itself (35 MB).
    """
    encode = _COMPACT_JSON.encode
    buf = BytesIO()
    buf.write(b"[")
    for n, group in enumerate(_target_groups(session, sites, communes, shard)):
        if n:
            buf.write(b",")
        buf.write(encode(group).encode())
    buf.write(b"]")
    return buf.getvalue()


_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _shared_names(session: Session) -> dict[tuple[str, str], int]:
    """Return (site name, device name) pairs that several targets share, each with its lowest device id.

    Two communes may each have a "Nhà văn hoá" with a "cam-1": their labels would be one series.  The
    worker names all but the first such device ``"cam-1 #<id>"`` (first in the answer's order: lowest id);
    the answer carries that name itself, so the worker, Prometheus and the shard rule see one identity
    for a device whichever part of the answer (commune, shard, a token's sites) it came from.
    """
    stmt = (
        select(Site.name, Device.name, func.min(Device.id))
        .join(Site, Site.id == Device.site_id)
        .where(_is_target(None))
        .group_by(Site.name, Device.name)
        .having(func.count() > 1)
    )
    return {(site, device): first for site, device, first in session.execute(stmt)}


#: Ids per query when a shard's rows are read by id (SQLite takes at most 32,766 parameters).
_ID_CHUNK = 5000


def _shard_rows(session: Session, stmt: Any, shard: tuple[int, int],
                shared: dict[tuple[str, str], int]) -> Iterator[Any]:
    """Yield the rows of `stmt` in shard K of N, in its order: hash a narrow (id, site, device) list first.

    Reading every full row to keep a tenth of them cost 0.5-0.7x the whole answer; the narrow list is
    hashed, and only the shard's rows are read in full, by id, a chunk at a time.
    """
    keys = stmt.with_only_columns(Device.id, Site.name, Device.name)
    mine = []
    for dev_id, site_name, name in session.connection().execute(keys):
        if shared and shared.get((site_name, name), dev_id) != dev_id:
            name = f"{name} #{dev_id}"
        if shard_of((site_name.strip(), name.strip()), shard[1]) == shard[0]:
            mine.append(dev_id)
    for start in range(0, len(mine), _ID_CHUNK):  # chunks of the ordered ids: their rows come in order
        yield from session.connection().execute(stmt.where(Device.id.in_(mine[start:start + _ID_CHUNK])))


def _target_groups(session: Session, sites: Collection[int] | None = None, communes: Collection[int] | None = None,
                   shard: tuple[int, int] | None = None) -> Iterator[dict[str, Any]]:
    """Yield the http_sd groups of `prometheus_targets` one at a time, rows streamed from the database."""
    stmt = (
        select(Device.id, Device.name, Device.kind, Device.ip, Device.onvif_endpoint, Site.id, Site.name,
               Commune.name, Site.latitude, Site.longitude, CameraDetails.profiles, CameraDetails.stream_uris,
               Device.snmp_port)
        .join(Site, Site.id == Device.site_id)
        .join(Commune, Commune.id == Site.commune_id)
        .outerjoin(CameraDetails, CameraDetails.device_id == Device.id)
        .where(_is_target(sites))
        .order_by(Site.name, Device.name, Device.id)
    )
    if communes is not None:
        stmt = stmt.where(Site.commune_id.in_(sorted(set(communes))))
    # Core rows from the session's connection: the ORM would buffer all 100,000 rows and wrap each one.
    if session.autoflush:
        session.flush()  # as session.execute would: pending changes of this session are part of the answer
    shared = _shared_names(session)
    uplinks = uplink_names(session)  # a few rows: the uplink ports of every switch and router
    camera_ports = camera_port_names(session)  # and its ports cabled to a camera
    rows: Iterable[Any] = session.connection().execute(stmt)
    if shard is not None:
        rows = _shard_rows(session, stmt, shard, shared)
    for (dev_id, name, kind, ip, endpoint, site_id, site_name, commune, lat, lon, profiles, uris, snmp_port) in rows:
        if shared and shared.get((site_name, name), dev_id) != dev_id:
            name = f"{name} #{dev_id}"
        labels = {
            "site": site_name, "device": name, "kind": kind, "commune": commune,
            "__meta_sitescout_site_id": str(site_id), "__meta_sitescout_device_id": str(dev_id),
        }
        if endpoint:
            labels["__meta_sitescout_onvif_endpoint"] = endpoint
        if lat is not None and lon is not None:
            labels["__meta_sitescout_site_latitude"] = str(float(lat))
            labels["__meta_sitescout_site_longitude"] = str(float(lon))
        if profiles or uris:  # most devices are not cameras with stored profiles
            for n, stream in enumerate(camera_streams(profiles, uris, device=dev_id), start=1):
                labels.update({f"__meta_sitescout_stream_{n}_{key}": value for key, value in stream.items()})
        if kind in SNMP_KINDS:  # the worker's snmp kind reads these (docs/snmp.md)
            labels["__meta_sitescout_snmp_port"] = "" if snmp_port is None else str(snmp_port)
            labels["__meta_sitescout_snmp_uplinks"] = ",".join(uplinks.get(dev_id, ()))
            labels["__meta_sitescout_snmp_camera_ports"] = ",".join(camera_ports.get(dev_id, ()))
        yield {"targets": [ip], "labels": labels}


_STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")


def _positive(value: Any, kind: type) -> str | None:
    """Return a positive finite number as label text (``str(kind(value))``), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e9:
        return None
    return str(kind(value))


def camera_streams(profiles: Any, stream_uris: Any, *, device: int | None = None) -> list[dict[str, str]]:
    """Return a camera's distinct streams (uri, profile, expected_fps/width/height as text) from its stored profiles.

    Each distinct URI once, with the first profile that names it (as the survey checks them); URIs listed
    without a profile follow.  A URI that is not rtsp/http or that carries a user or password is left out
    (stored URIs never do; this keeps a hand-edited row from leaking one).
    """
    streams: dict[str, dict[str, str]] = {}

    def add(uri: Any, profile: dict[str, Any]) -> None:
        if not isinstance(uri, str) or not uri.strip() or uri.strip() in streams:
            return
        uri = uri.strip()
        try:
            parts = urlsplit(uri)
            usable = parts.scheme.lower() in _STREAM_SCHEMES and bool(parts.hostname)
        except ValueError:
            usable = False
        if not usable or "@" in parts.netloc:
            log.warning("device %s: a stored stream URI is not a credential-free rtsp/http URI; left out", device)
            return
        stream = {
            "uri": uri,
            "profile": str(profile.get("token") or profile.get("name") or f"stream{len(streams) + 1}"),
        }
        for key, field, kind in (("expected_fps", "fps_limit", float), ("expected_width", "width", int),
                                 ("expected_height", "height", int)):
            text = _positive(profile.get(field), kind)
            if text is not None:
                stream[key] = text
        streams[uri] = stream

    for profile in profiles if isinstance(profiles, list) else []:
        if isinstance(profile, dict):
            add(profile.get("stream_uri"), profile)
    for uri in stream_uris if isinstance(stream_uris, list) else []:
        add(uri, {})
    return list(streams.values())
