"""Clean stored URIs: no userinfo anywhere, and a device's URIs on the device's own address.

Before this revision only ``CameraDetails`` refused a URI with ``user:password@``; survey
documents, snapshots, observations, candidates and findings could keep one, and a camera's
ONVIF endpoint or stream URI could point at another host (the worker then sent the camera's
password there).  This revision removes userinfo from every stored text and JSON value that can
hold a URI, and re-bases the URIs of devices, cameras and candidates onto their own address
(path, query and port kept), as ingestion now does.  Self-contained on purpose: a migration
must not change meaning when the application code does.  Data only; nothing to downgrade.

Revision ID: 0005_uri_userinfo
Revises: 0004_fieldcli
Create Date: 2026-12-06
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from alembic import op

revision = '0005_uri_userinfo'
down_revision = '0004_fieldcli'
branch_labels = None
depends_on = None

#: "scheme://user:pass@" anywhere in a text.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#@\"'<>]*@")
_BATCH = 500


def strip_text(text: Any) -> Any:
    """Return `text` with the userinfo of every URI in it removed (non-text unchanged)."""
    if not isinstance(text, str) or "@" not in text or "://" not in text:
        return text
    return _USERINFO.sub(r"\1", text)


def strip_json(value: Any) -> Any:
    """Return a JSON value with `strip_text` applied to every text in it."""
    if isinstance(value, dict):
        return {k: strip_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_json(v) for v in value]
    return strip_text(value)


def rebase(uri: Any, ip: str | None) -> Any:
    """Return a URI (without userinfo) re-based onto `ip` when its host is another; unparsable ones unchanged."""
    uri = strip_text(uri)
    if not isinstance(uri, str) or not ip or "//" not in uri:
        return uri
    try:
        parts = urlsplit(uri.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return uri
    if not host:
        return uri
    try:
        if ipaddress.ip_address(host.split("%", 1)[0]) == ipaddress.ip_address(ip):
            return uri
    except ValueError:
        pass  # a host name is not the device's address: re-based like any other host
    netloc = (f"[{ip}]" if ":" in ip else ip) + (f":{port}" if port is not None else "")
    return urlunsplit(parts._replace(netloc=netloc))


def rebase_profiles(profiles: Any, ip: str | None) -> Any:
    """Return a list of ONVIF profiles whose stream and snapshot URIs are re-based onto `ip`."""
    if not isinstance(profiles, list):
        return strip_json(profiles)
    out = []
    for profile in profiles:
        if isinstance(profile, dict):
            profile = {k: (rebase(v, ip) if k in ("stream_uri", "snapshot_uri") else strip_json(v))
                       for k, v in profile.items()}
        out.append(strip_json(profile))
    return out


def rebase_identity(identity: Any, ip: str | None) -> Any:
    """Return a candidate's identity whose ONVIF URIs are re-based onto its address."""
    identity = strip_json(identity)
    onvif = identity.get("onvif") if isinstance(identity, dict) else None
    if not isinstance(onvif, dict):
        return identity
    onvif = dict(onvif)
    if isinstance(onvif.get("endpoint"), str) and "//" in onvif["endpoint"]:
        onvif["endpoint"] = rebase(onvif["endpoint"], ip)
    if isinstance(onvif.get("xaddrs"), list):
        onvif["xaddrs"] = [rebase(x, ip) for x in onvif["xaddrs"]]
    if "profiles" in onvif:
        onvif["profiles"] = rebase_profiles(onvif["profiles"], ip)
    return {**identity, "onvif": onvif}


def _maybe(column: Any) -> Any:
    """Rows whose value (as text) may hold a userinfo: the cheap filter before Python looks."""
    return sa.cast(column, sa.Text).like("%@%")


def _update_json(conn: Any, table: sa.Table, key: str, column: str, fix: Any, where: Any = None) -> None:
    """Rewrite `column` of each row of `table` through `fix`, a batch of rows at a time, only where it changed."""
    col = table.c[column]
    ids = [r[0] for r in conn.execute(sa.select(table.c[key]).where(where if where is not None else _maybe(col))
                                      .order_by(table.c[key]))]
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start:start + _BATCH]
        for row_id, value in conn.execute(sa.select(table.c[key], col).where(table.c[key].in_(chunk))):
            fixed = fix(value)
            if fixed != value:
                conn.execute(table.update().where(table.c[key] == row_id).values({column: fixed}))


def upgrade() -> None:
    conn = op.get_bind()
    meta = sa.MetaData()
    devices = sa.Table('devices', meta, sa.Column('id', sa.Integer, primary_key=True), sa.Column('ip', sa.String),
                       sa.Column('onvif_endpoint', sa.String))
    cameras = sa.Table('camera_details', meta, sa.Column('device_id', sa.Integer, primary_key=True),
                       sa.Column('profiles', sa.JSON), sa.Column('stream_uris', sa.JSON))
    surveys = sa.Table('surveys', meta, sa.Column('id', sa.Integer, primary_key=True), sa.Column('document', sa.JSON))
    snapshots = sa.Table('survey_snapshots', meta, sa.Column('id', sa.Integer, primary_key=True),
                         sa.Column('uri', sa.Text))
    observations = sa.Table('observations', meta, sa.Column('id', sa.Integer, primary_key=True),
                            sa.Column('values', sa.JSON))
    candidates = sa.Table('candidates', meta, sa.Column('id', sa.Integer, primary_key=True), sa.Column('ip', sa.String),
                          sa.Column('identity', sa.JSON))
    findings = sa.Table('findings', meta, sa.Column('id', sa.Integer, primary_key=True),
                        sa.Column('inventory_value', sa.Text), sa.Column('observed_value', sa.Text),
                        sa.Column('message', sa.Text))
    health = sa.Table('device_health', meta, sa.Column('device_id', sa.Integer, primary_key=True),
                      sa.Column('reason', sa.Text))

    # Devices: the ONVIF endpoint (when a URL) on the device's address; a clash with another device's
    # endpoint leaves it empty (the worker then uses http://IP/onvif/device_service).
    taken = {r[0] for r in conn.execute(sa.select(devices.c.onvif_endpoint).where(devices.c.onvif_endpoint.is_not(None)))}
    for dev_id, ip, endpoint in list(conn.execute(sa.select(devices.c.id, devices.c.ip, devices.c.onvif_endpoint)
                                                   .where(devices.c.onvif_endpoint.like('%//%')))):
        fixed = rebase(endpoint, ip)
        if fixed != endpoint:
            fixed = None if fixed in taken else fixed
            taken.add(fixed)
            conn.execute(devices.update().where(devices.c.id == dev_id).values(onvif_endpoint=fixed))

    # Cameras: every stream and snapshot URI on the device's address.
    rows = list(conn.execute(sa.select(cameras.c.device_id, devices.c.ip, cameras.c.profiles, cameras.c.stream_uris)
                             .join(devices, devices.c.id == cameras.c.device_id)))
    for dev_id, ip, profiles, uris in rows:
        new_profiles = rebase_profiles(profiles, ip)
        new_uris = list(dict.fromkeys(rebase(u, ip) for u in uris)) if isinstance(uris, list) else uris
        if new_profiles != profiles or new_uris != uris:
            conn.execute(cameras.update().where(cameras.c.device_id == dev_id)
                         .values(profiles=new_profiles, stream_uris=new_uris))

    # Candidates: accepting one copies its ONVIF URIs into a camera record.
    for cand_id, ip, identity in list(conn.execute(sa.select(candidates.c.id, candidates.c.ip, candidates.c.identity))):
        fixed = rebase_identity(identity, ip)
        if fixed != identity:
            conn.execute(candidates.update().where(candidates.c.id == cand_id).values(identity=fixed))

    # Everything else keeps its meaning; only userinfo goes.
    _update_json(conn, surveys, 'id', 'document', strip_json)
    _update_json(conn, observations, 'id', 'values', strip_json)
    _update_json(conn, snapshots, 'id', 'uri', strip_text)
    for column in ('inventory_value', 'observed_value', 'message'):
        _update_json(conn, findings, 'id', column, strip_text)
    _update_json(conn, health, 'device_id', 'reason', strip_text)


def downgrade() -> None:
    """Nothing to undo: the removed userinfo is gone on purpose."""
