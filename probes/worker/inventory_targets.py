"""Targets from the inventory's ``/sd/prometheus``, and the last good answer kept on disk.

- :class:`InventoryTargetSource` is a :class:`~sitescout.probes.worker.scheduler.TargetSource`: it
  fetches the inventory's http_sd groups (in a background thread, every
  ``refresh_s``, so the worker's loop never waits on the network) and turns them
  into targets: each device's address, kind and ONVIF endpoint, a camera's streams
  (``__meta_sitescout_stream_<n>_*``: URI, profile, expected fps and size from its
  surveyed profiles), a switch's or router's SNMP port, uplinks and camera ports
  (``__meta_sitescout_snmp_*``: :func:`snmp_from_labels`) and the sites' coordinates.  An ONVIF
  endpoint or stream URI whose host is not the device's address is re-based onto it, with a warning (a camera's
  password goes only to the camera's own address: ``sitescout.device_uris``).  An unreachable inventory or a
  garbage answer is a failed reload: the worker keeps the last good targets and shows
  ``sitescout_config_last_reload_successful 0``, exactly as for a bad file.
- :class:`TargetsCache` keeps the last good answer on disk, so a worker restarted
  while the inventory is down starts from it (and keeps asking the inventory).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import re
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sitescout.device_uris import UriCode, bind_to_device
from sitescout.probes.worker.records import SiteInfo, SnmpTarget, StreamTarget, Target, TargetsError
from sitescout.probes.worker.inventory_http import SD_PATH, check_url, error_text, request
from sitescout.probes.worker.targets import Defaults, TargetsConfig

__all__ = [
    "InventoryError",
    "InventoryTargetSource",
    "TargetsCache",
    "sites_from_groups",
    "snmp_from_labels",
    "streams_from_labels",
    "targets_from_groups",
]

log = logging.getLogger(__name__)


class InventoryError(TargetsError):
    """The inventory could not give targets; ``str()`` is ``inventory URL: message``."""

    def __init__(self, url: str, message: str, *, status: int | None = None) -> None:
        self.path, self.line, self.message, self.status = url, 0, message, status
        ValueError.__init__(self, f"inventory {url}: {message}")


# ---------------------------------------------------------------------------
# Targets.


def _label(labels: dict[str, Any], key: str, where: str) -> str:
    value = labels.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: label {key!r} missing or empty")
    return value.strip()


def _bound(uri: str, ip: str, schemes: tuple[str, ...], what: str) -> str | None:
    """Return `uri` bound to the device at `ip` (re-based with a warning), or None when unusable."""
    bound = bind_to_device(uri, ip, schemes)
    if bound.uri is not None and UriCode.REBASED in bound.codes:
        log.warning("%s: host %s is not the device's address %s; re-based onto %s (credentials go only to the "
                    "device's own address)", what, bound.params["host"], ip, ip)
    return None if UriCode.USERINFO_REMOVED in bound.codes else bound.uri


def _onvif_url(labels: dict[str, Any], ip: str, where: str = "") -> str:
    endpoint = labels.get("__meta_sitescout_onvif_endpoint")
    if isinstance(endpoint, str) and endpoint.strip().lower().startswith(("http://", "https://")):
        bound = _bound(endpoint, ip, ("http", "https"), f"{where} ONVIF endpoint")
        if bound is not None:
            return bound
    host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}/onvif/device_service"


_STREAM_LABEL_RE = re.compile(
    r"__meta_sitescout_stream_(\d{1,3})_(uri|profile|expected_fps|expected_width|expected_height)"
)
_STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")


def _number(text: Any, kind: type, lo: float, hi: float) -> Any:
    try:
        value = kind(str(text))
    except (TypeError, ValueError):
        return None
    return value if lo < value <= hi else None


def streams_from_labels(labels: dict[str, Any], where: str = "", ip: str | None = None) -> tuple[StreamTarget, ...]:
    """Return a camera's streams from its ``__meta_sitescout_stream_<n>_*`` labels, in order of n.

    A stream whose URI is not a credential-free rtsp/http URL is skipped with a warning (the URI is not
    logged); with `ip`, a URI on another host is re-based onto it (warned); a malformed expectation is
    dropped (the stream is still checked, without it).
    """
    fields: dict[int, dict[str, Any]] = {}
    for key, value in labels.items():
        match = _STREAM_LABEL_RE.fullmatch(key)
        if match:
            fields.setdefault(int(match.group(1)), {})[match.group(2)] = value
    streams: list[StreamTarget] = []
    profiles: set[str] = set()
    for n in sorted(fields):
        raw = fields[n]
        uri = str(raw.get("uri") or "").strip()
        try:
            parts = urlsplit(uri)
            usable = parts.scheme.lower() in _STREAM_SCHEMES and bool(parts.hostname) and "@" not in parts.netloc
        except ValueError:
            usable = False
        if not usable:
            log.warning("%s: stream %d is not a credential-free rtsp/http URL; skipped", where, n)
            continue
        if ip is not None:
            uri = _bound(uri, ip, _STREAM_SCHEMES, f"{where} stream {n}") or ""
            if not uri or uri in {s.uri for s in streams}:
                continue  # re-basing made it a stream already listed
        profile = str(raw.get("profile") or "").strip() or f"stream{n}"
        if profile in profiles:  # one series per (device, profile): keep both apart
            profile = f"{profile} #{n}"
        profiles.add(profile)
        streams.append(StreamTarget(uri, profile, _number(raw.get("expected_fps"), float, 0, 240),
                                    _number(raw.get("expected_width"), int, 0, 16384),
                                    _number(raw.get("expected_height"), int, 0, 16384)))
    return tuple(streams)


#: A switch's or router's SNMP settings (labels of the inventory's /sd/prometheus).
SNMP_PORT_LABEL = "__meta_sitescout_snmp_port"
SNMP_UPLINKS_LABEL = "__meta_sitescout_snmp_uplinks"
SNMP_CAMERA_PORTS_LABEL = "__meta_sitescout_snmp_camera_ports"


def _port_names(value: Any) -> tuple[str, ...]:
    """Return the comma-separated port names of a label, in order, without blanks or repeats."""
    if not isinstance(value, str):
        return ()
    return tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))


def snmp_from_labels(labels: dict[str, Any], where: str = "") -> SnmpTarget | None:
    """Return how a switch or router is read over SNMP, from its ``__meta_sitescout_snmp_*`` labels.

    No port label: SNMP on 161 (what an inventory without SNMP settings means). ``""``: not read
    over SNMP. A number from 1 to 65535: that port. Anything else: not read over SNMP, with a
    warning (one badly typed device never takes the others off the watch). ``…_uplinks`` and
    ``…_camera_ports`` are comma-separated ifNames.
    """
    port = 161
    if SNMP_PORT_LABEL in labels:
        raw = labels[SNMP_PORT_LABEL]
        text = raw.strip() if isinstance(raw, str) else str(raw) if isinstance(raw, int) else None
        if text == "":
            return None
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses (one label must not stop every target)
        if text is None or not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
            log.warning("%s: %s %r is not a port from 1 to 65535; not read over SNMP", where, SNMP_PORT_LABEL,
                        str(raw)[:40])
            return None
        port = int(text)
    return SnmpTarget(port, _port_names(labels.get(SNMP_UPLINKS_LABEL)),
                      _port_names(labels.get(SNMP_CAMERA_PORTS_LABEL)))


def sites_from_groups(groups: Any) -> tuple[SiteInfo, ...]:
    """Return each site's coordinates from the groups' ``__meta_sitescout_site_latitude/longitude`` labels."""
    sites: dict[str, SiteInfo] = {}
    for group in groups if isinstance(groups, list) else []:
        labels = group.get("labels") if isinstance(group, dict) else None
        if not isinstance(labels, dict) or not isinstance(labels.get("site"), str):
            continue
        lat = _number(labels.get("__meta_sitescout_site_latitude"), float, -90.000001, 90)
        lon = _number(labels.get("__meta_sitescout_site_longitude"), float, -180.000001, 180)
        name = labels["site"].strip()
        if lat is not None and lon is not None and name and name not in sites:
            sites[name] = SiteInfo(name, lat, lon)
    return tuple(sites.values())


def targets_from_groups(groups: Any, source: str = "inventory") -> tuple[list[Target], dict[tuple[str, str], int]]:
    """Turn http_sd groups into targets and a map (site, device) -> inventory device id.

    Raises:
        ValueError: the answer is not a list of groups with ``targets`` and the labels the worker needs.
    """
    if not isinstance(groups, list):
        raise ValueError(f"expected a list of target groups, not {type(groups).__name__}")
    targets: list[Target] = []
    ids: dict[tuple[str, str], int] = {}
    for n, group in enumerate(groups):
        where = f"group {n}"
        if not isinstance(group, dict) or not isinstance(group.get("targets"), list) \
                or not isinstance(group.get("labels"), dict):
            raise ValueError(f"{where}: expected {{targets: [...], labels: {{...}}}}")
        labels = group["labels"]
        site, device = _label(labels, "site", where), _label(labels, "device", where)
        id_text = _label(labels, "__meta_sitescout_device_id", where)
        if not id_text.isdigit():
            raise ValueError(f"{where}: __meta_sitescout_device_id must be a number, not {id_text!r}")
        device_id = int(id_text)
        if (site, device) in ids:  # two devices of one site share a name: keep both apart
            device = f"{device} #{device_id}"
        is_camera = labels.get("kind") == "camera"
        for address in group["targets"]:
            try:
                ip = str(ipaddress.ip_address(str(address).strip()))
            except ValueError:  # one badly typed device must not take every other one off the watch
                log.warning("%s/%s: address %r is not an IP address; device skipped", site, device, address)
                continue
            streams = streams_from_labels(labels, f"{site}/{device}", ip) if is_camera else ()
            network = labels.get("kind") in ("switch", "router")
            snmp = snmp_from_labels(labels, f"{site}/{device}") if network else None
            targets.append(Target(site=site, device=device, ip=ip,
                                  kind="camera" if is_camera else str(labels["kind"]) if network else "host",
                                  onvif=_onvif_url(labels, ip, f"{site}/{device}") if is_camera else None,
                                  streams=streams, snmp=snmp))
            ids[(site, device)] = device_id
            break  # the inventory gives one address per device
    return targets, ids


class InventoryTargetSource:
    """Targets from the inventory's ``/sd/prometheus``, refreshed every `refresh_s` in a background thread.

    With `cache`, every answer that differs from the last one is written to that file (atomically,
    mode 0600); a worker that starts while the inventory is unreachable starts from it, and its first
    reload reports the inventory failure (``sitescout_config_last_reload_successful 0``) until the
    inventory answers again.
    """

    def __init__(self, url: str, token: str, *, timeout_s: float = 10.0, refresh_s: float = 60.0,
                 defaults: Defaults | None = None, sites: tuple[SiteInfo, ...] = (),
                 cache: str | Path | None = None) -> None:
        self.url = check_url(url)
        self.name = f"inventory {self.url}"
        self._token = token
        self.timeout_s = timeout_s
        self.refresh_s = refresh_s
        self.defaults = defaults or Defaults()
        #: Coordinates from the worker's settings; they win over the inventory's for the same site.
        self.sites = sites
        self.cache = TargetsCache(cache, self.url) if cache is not None else None
        #: When the targets in use came from the cache: the time they were fetched (else None).
        self.started_from_cache: str | None = None
        #: (site, device) -> inventory device id, for the observation sink.
        self.device_ids: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._pending: TargetsConfig | InventoryError | None = None
        self._delivered: object = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"InventoryTargetSource({self.url!r}, refresh_s={self.refresh_s:g})"

    def fetch(self) -> tuple[TargetsConfig, dict[tuple[str, str], int]]:
        """Ask the inventory for its targets now (and cache the answer).

        Raises:
            InventoryError: unreachable, the token refused (``status`` 401/403), or an answer that is not targets.
        """
        url = self.url + SD_PATH
        try:
            answer = request(url, self._token, self.timeout_s)
        except (OSError, ValueError) as err:  # URLError, timeouts, refused connections, bad URLs
            reason = getattr(err, "reason", err)
            raise InventoryError(self.url, f"unreachable: {reason}") from None
        if answer.status in (401, 403):
            raise InventoryError(self.url, f"token not accepted ({answer.status}: {error_text(answer)}); "
                                           "check --token-file", status=answer.status)
        if answer.status != 200:
            raise InventoryError(self.url, f"{SD_PATH} answered {answer.status}: {error_text(answer)}",
                                 status=answer.status)
        try:
            groups = json.loads(answer.body)
            config, ids = self._config(groups)
        except ValueError as err:  # JSONDecodeError is a ValueError too
            raise InventoryError(self.url, f"{SD_PATH} did not answer target groups: {err}") from None
        if self.cache is not None:
            self.cache.save(groups)
        return config, ids

    def _config(self, groups: Any) -> tuple[TargetsConfig, dict[tuple[str, str], int]]:
        targets, ids = targets_from_groups(groups)
        mine = {site.name for site in self.sites}
        sites = self.sites + tuple(s for s in sites_from_groups(groups) if s.name not in mine)
        return TargetsConfig(defaults=self.defaults, targets=tuple(targets), source=self.name, sites=sites), ids

    def load(self) -> TargetsConfig:
        """Return the latest fetched targets (fetching now if none is waiting); raise InventoryError on failure.

        The first load falls back to the cache when the inventory is unreachable or answers garbage
        (not when it refuses the token: retrying will not fix that).
        """
        first = self._delivered is None
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is None:
            try:
                config, ids = self.fetch()
            except InventoryError as err:
                pending = err
            else:
                self.device_ids.update(ids)
                pending = config
        if first and isinstance(pending, InventoryError) and pending.status not in (401, 403) \
                and self.cache is not None:
            cached = self._load_cache(pending)
            if isinstance(cached, TargetsConfig):
                return cached
            pending = cached
        self._start()
        self._delivered = _fingerprint(pending)
        if isinstance(pending, TargetsConfig):
            self.started_from_cache = None
        if isinstance(pending, InventoryError):
            raise pending
        return pending

    def _load_cache(self, err: InventoryError) -> TargetsConfig | InventoryError:
        """Start from the cached targets, or return the error to raise (naming the cache) when there are none."""
        assert self.cache is not None
        cached = self.cache.load()
        config = None
        if cached is not None:
            groups, fetched_at = cached
            try:
                config, ids = self._config(groups)
            except ValueError as bad:
                log.warning("%s: cached targets unusable (%s); not starting from them", self.cache.path, bad)
        if config is None:
            return InventoryError(self.url, f"{err.message}; no usable cached targets in {self.cache.path}",
                                  status=err.status)
        self.device_ids.update(ids)
        self.started_from_cache = fetched_at
        log.warning("%s; starting from the %d target(s) cached in %s (fetched %s); asking the inventory again "
                    "every %g s", err, len(config.targets), self.cache.path, fetched_at, self.refresh_s)
        self._delivered = _fingerprint(config)
        with self._lock:  # the worker's next poll records the failed reload (config_last_reload_successful 0)
            if self._pending is None:
                self._pending = err
        self._start()
        return config

    def changed(self) -> bool:
        """Say whether a background fetch brought something different from what was last loaded."""
        with self._lock:
            if self._pending is not None and _fingerprint(self._pending) == self._delivered:
                self._pending = None  # nothing new: a manual reload fetches afresh
            return self._pending is not None

    def close(self) -> None:
        """Stop the background refresh."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 1.0)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._refresh_loop, name="inventory-targets", daemon=True)
            self._thread.start()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_s):
            result: TargetsConfig | InventoryError
            try:
                result, ids = self.fetch()
            except InventoryError as err:
                result = err
            else:
                # Ids of removed devices stay: their last observations may still be queued.
                self.device_ids.update(ids)
                if self.started_from_cache is not None:
                    log.warning("inventory %s answers again: %d target(s)", self.url, len(result.targets))
                    self.started_from_cache = None
            with self._lock:
                self._pending = result


def _fingerprint(result: TargetsConfig | InventoryError) -> object:
    if isinstance(result, InventoryError):
        return ("error", result.message)
    return ("ok", result.targets, result.sites)


class TargetsCache:
    """The inventory's last good answer on disk: ``{"inventory": URL, "fetched_at": ISO, "groups": [...]}``."""

    def __init__(self, path: str | Path, url: str) -> None:
        self.path = Path(path)
        self.url = url
        self._saved: object = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TargetsCache({str(self.path)!r})"

    def save(self, groups: Any) -> None:
        """Write `groups` if they differ from the last written (temporary file, fsync, rename); log a failure."""
        with self._lock:
            if groups == self._saved:
                return
            doc = {"inventory": self.url, "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "groups": groups}
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)  # mode 0600
                try:
                    with os.fdopen(fd, "w", encoding="utf-8") as fh:
                        json.dump(doc, fh, ensure_ascii=False)
                        fh.flush()
                        os.fsync(fh.fileno())
                    os.replace(tmp, self.path)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
            except OSError as err:
                log.warning("%s: cannot keep the inventory's targets (%s); a restart without the inventory "
                            "will not find them", self.path, err.strerror or err)
                return
            self._saved = groups

    def load(self) -> tuple[Any, str] | None:
        """Return the cached groups and when they were fetched, or None (missing, unreadable, other inventory)."""
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            log.warning("%s: cached targets unreadable (%s)", self.path, getattr(err, "strerror", None) or err)
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
            log.warning("%s: not a targets cache", self.path)
            return None
        if doc.get("inventory") != self.url:
            log.warning("%s: cached from another inventory (%s), not %s; not used", self.path,
                        doc.get("inventory"), self.url)
            return None
        with self._lock:
            self._saved = doc["groups"]
        return doc["groups"], str(doc.get("fetched_at") or "at an unknown time")
