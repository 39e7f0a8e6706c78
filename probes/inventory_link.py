"""The worker's link to the inventory over HTTP: targets from ``/sd/prometheus``, observations to the API.

- :class:`InventoryTargetSource` is a :class:`~sitescout.probes.worker.TargetSource`: it
  fetches the inventory's http_sd groups (in a background thread, every
  ``refresh_s``, so the worker's loop never waits on the network) and turns them
  into targets: each device's address, kind and ONVIF endpoint, a camera's streams
  (``__meta_sitescout_stream_<n>_*``: URI, profile, expected fps and size from its
  surveyed profiles) and the sites' coordinates.  An unreachable inventory or a
  garbage answer is a failed reload: the worker keeps the last good targets and shows
  ``sitescout_config_last_reload_successful 0``, exactly as for a bad file.
- :class:`TargetsCache` keeps the last good answer on disk, so a worker restarted
  while the inventory is down starts from it (and keeps asking the inventory).
- :class:`HttpObservationSink` is an :class:`~sitescout.probes.worker.ObservationSink`:
  it maps worker observations to the API's shape and POSTs them in batches.
  Connection errors, timeouts, 5xx and a refused token raise
  :class:`SinkUnavailable` (the queue keeps them and retries); items the API
  rejects as invalid (400/422) are dropped one by one, counted and logged, so a
  bad item never blocks the queue.

- :class:`SpooledObservationQueue` is an :class:`~sitescout.probes.worker.ObservationQueue`
  that survives a crash: each queued observation is appended to a spool file the
  moment it is queued, and the number delivered is kept beside it, so a worker
  killed with SIGKILL (or losing power after the flush's fsync) sends on restart
  whatever had not been delivered.

Delivery is at least once: a batch whose answer is lost (or whose worker died
before noting it delivered) is sent again; the inventory stores an observation
with the same device, kind and time only once, so the effect is exactly once.
The token is sent as ``Authorization: Bearer`` and never logged or shown in a repr.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import math
import os
import re
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sitescout.probes.targets import Defaults, SiteInfo, StreamTarget, Target, TargetsConfig, TargetsError
from sitescout.probes.registry import ProbeResult
from sitescout.probes.worker import ObservationQueue, ObservationSink, SinkUnavailable

__all__ = [
    "InventoryError",
    "InventoryTargetSource",
    "TargetsCache",
    "HttpObservationSink",
    "SpooledObservationQueue",
    "observation_health",
    "api_observation",
    "targets_from_groups",
    "sites_from_groups",
    "streams_from_labels",
]

log = logging.getLogger(__name__)

_SD_PATH = "/sd/prometheus"
_OBSERVATIONS_PATH = "/api/v1/observations"
#: Answers that mean "the items are wrong" (drop them), not "try again later".
_REJECTED = frozenset({400, 422})
#: An item the API names in its error: ``observations[3].device_id: …``.
_ITEM_RE = re.compile(r"observations\[(\d+)\]")


class InventoryError(TargetsError):
    """The inventory could not give targets; ``str()`` is ``inventory URL: message``."""

    def __init__(self, url: str, message: str, *, status: int | None = None) -> None:
        self.path, self.line, self.message, self.status = url, 0, message, status
        ValueError.__init__(self, f"inventory {url}: {message}")


def observation_health(obs: dict[str, Any]) -> str:
    """Map one worker observation to the inventory's health (ok, warning, problem)."""
    if not obs.get("up"):
        return "problem"
    values = obs.get("values") or {}
    if obs.get("kind") == "stream" and (values.get("frozen") or values.get("black")):
        return "problem"
    if obs.get("kind") == "link" and (values.get("loss_ratio") or 0.0) > 0.05:
        return "warning"
    return "ok"


def _finite(value: Any) -> Any:
    """Replace NaN and infinities (not JSON) with None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def api_observation(obs: dict[str, Any], device_id: int) -> dict[str, Any]:
    """Return a worker observation in the shape of ``POST /api/v1/observations``."""
    kind = str(obs.get("kind") or "probe")
    if obs.get("profile"):  # each stream of a camera is its own kind of observation
        kind = f"{kind}:{obs['profile']}"
    at = obs.get("observed_at")
    observed_at = datetime.fromtimestamp(float(at), timezone.utc).isoformat() if at else None
    values = dict(obs.get("values") or {})
    if obs.get("duration_s") is not None:
        values.setdefault("duration_s", obs["duration_s"])
    if obs.get("info"):
        values.setdefault("info", dict(obs["info"]))
    return {"device_id": device_id, "kind": kind, "health": observation_health(obs), "observed_at": observed_at,
            "values": _finite(values), "reason": str(obs.get("reason") or "")}


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--inventory must be an http:// or https:// URL, not {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("--inventory must not carry a user or password; give the token with --token-file")
    return url.rstrip("/")


@dataclass
class _Answer:
    status: int
    body: bytes


def _request(url: str, token: str, timeout_s: float, data: bytes | None = None) -> _Answer:
    """Make one HTTP request; any status is an answer, no answer raises OSError."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": "sitescout-worker"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 - scheme checked
            return _Answer(resp.status, resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return _Answer(err.code, err.read())


def _error_text(answer: _Answer) -> str:
    try:
        doc = json.loads(answer.body)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        return doc["error"]
    return answer.body[:200].decode("utf-8", "replace").strip() or "(no message)"


# ---------------------------------------------------------------------------
# Targets.


def _label(labels: dict[str, Any], key: str, where: str) -> str:
    value = labels.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: label {key!r} missing or empty")
    return value.strip()


def _onvif_url(labels: dict[str, Any], ip: str) -> str:
    endpoint = labels.get("__meta_sitescout_onvif_endpoint")
    if isinstance(endpoint, str) and endpoint.strip():
        parts = urlsplit(endpoint.strip())
        if parts.scheme in ("http", "https") and parts.hostname and parts.username is None and parts.password is None:
            return endpoint.strip()
    host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}/onvif/device_service"


_STREAM_LABEL_RE = re.compile(r"__meta_sitescout_stream_(\d{1,3})_(uri|profile|expected_fps|expected_width|expected_height)")
_STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")


def _number(text: Any, kind: type, lo: float, hi: float) -> Any:
    try:
        value = kind(str(text))
    except (TypeError, ValueError):
        return None
    return value if lo < value <= hi else None


def streams_from_labels(labels: dict[str, Any], where: str = "") -> tuple[StreamTarget, ...]:
    """Return a camera's streams from its ``__meta_sitescout_stream_<n>_*`` labels, in order of n.

    A stream whose URI is not a credential-free rtsp/http URL is skipped with a warning (the URI is not
    logged); a malformed expectation is dropped (the stream is still checked, without it).
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
        profile = str(raw.get("profile") or "").strip() or f"stream{n}"
        if profile in profiles:  # one series per (device, profile): keep both apart
            profile = f"{profile} #{n}"
        profiles.add(profile)
        streams.append(StreamTarget(uri, profile, _number(raw.get("expected_fps"), float, 0, 240),
                                    _number(raw.get("expected_width"), int, 0, 16384),
                                    _number(raw.get("expected_height"), int, 0, 16384)))
    return tuple(streams)


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
            streams = streams_from_labels(labels, f"{site}/{device}") if is_camera else ()
            targets.append(Target(site=site, device=device, ip=ip, kind="camera" if is_camera else "host",
                                  onvif=_onvif_url(labels, ip) if is_camera else None, streams=streams))
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
        self.url = _check_url(url)
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
        url = self.url + _SD_PATH
        try:
            answer = _request(url, self._token, self.timeout_s)
        except (OSError, ValueError) as err:  # URLError, timeouts, refused connections, bad URLs
            reason = getattr(err, "reason", err)
            raise InventoryError(self.url, f"unreachable: {reason}") from None
        if answer.status in (401, 403):
            raise InventoryError(self.url, f"token not accepted ({answer.status}: {_error_text(answer)}); "
                                           "check --token-file", status=answer.status)
        if answer.status != 200:
            raise InventoryError(self.url, f"{_SD_PATH} answered {answer.status}: {_error_text(answer)}",
                                 status=answer.status)
        try:
            groups = json.loads(answer.body)
            config, ids = self._config(groups)
        except ValueError as err:  # JSONDecodeError is a ValueError too
            raise InventoryError(self.url, f"{_SD_PATH} did not answer target groups: {err}") from None
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


# ---------------------------------------------------------------------------
# Observations.


class HttpObservationSink:
    """POST observation batches to the inventory's ``/api/v1/observations``."""

    def __init__(self, url: str, token: str, *, device_ids: dict[tuple[str, str], int] | None = None,
                 timeout_s: float = 10.0) -> None:
        self.url = _check_url(url)
        self._token = token
        self.timeout_s = timeout_s
        #: (site, device) -> inventory device id; usually the target source's map (shared, kept current).
        self.device_ids = device_ids if device_ids is not None else {}
        self.delivered = 0
        self.rejected = 0
        self.unknown = 0

    def __repr__(self) -> str:
        return f"HttpObservationSink({self.url!r})"

    def send(self, batch: list[dict[str, Any]]) -> None:
        """Deliver one batch; raise SinkUnavailable to have it kept and retried."""
        rows = []
        for obs in batch:
            device_id = self.device_ids.get((str(obs.get("site")), str(obs.get("device"))))
            if device_id is None:
                self.unknown += 1
                log.warning("%s/%s: not a device of the inventory; observation dropped", obs.get("site"),
                            obs.get("device"))
                continue
            rows.append(api_observation(obs, device_id))
        if rows:
            self._post(rows)

    def _post(self, rows: list[dict[str, Any]]) -> None:
        """POST rows; on a rejection drop the item the API names (or split the batch) and send the rest."""
        while rows:
            answer = self._post_once(rows)
            if answer.status < 300:
                self.delivered += len(rows)
                return
            message = _error_text(answer)
            if answer.status not in _REJECTED and answer.status != 413:
                raise SinkUnavailable(self._unavailable(answer.status, message))
            match = _ITEM_RE.search(message) if answer.status in _REJECTED else None
            index = int(match.group(1)) if match else -1
            if 0 <= index < len(rows):
                self._drop(rows[index], answer.status, message)
                rows = rows[:index] + rows[index + 1:]
            elif len(rows) == 1:
                self._drop(rows[0], answer.status, message)
                return
            else:  # the API did not say which item: halve until it does, or until one item is left
                half = len(rows) // 2
                self._post(rows[:half])
                rows = rows[half:]

    def _post_once(self, rows: list[dict[str, Any]]) -> _Answer:
        body = json.dumps(rows, ensure_ascii=False, allow_nan=False).encode("utf-8")
        try:
            return _request(self.url + _OBSERVATIONS_PATH, self._token, self.timeout_s, body)
        except (OSError, ValueError) as err:
            raise SinkUnavailable(f"inventory {self.url} unreachable: {getattr(err, 'reason', err)}") from None

    def _unavailable(self, status: int, message: str) -> str:
        if status in (401, 403):
            log.error("inventory %s refused the worker's token (%d: %s); observations kept, check --token-file",
                      self.url, status, message)
        return f"inventory {self.url} answered {status}: {message}"

    def _drop(self, row: dict[str, Any], status: int, message: str) -> None:
        self.rejected += 1
        log.warning("device %s: %s observation rejected by the inventory (%d: %s); dropped", row.get("device_id"),
                    row.get("kind"), status, message)


class SpooledObservationQueue(ObservationQueue):
    """An observation queue kept on disk: ``SPOOL`` holds every queued observation (a JSON line each),
    ``SPOOL.acked`` how many of its lines were delivered (or dropped past `max_pending`).

    On start the undelivered lines are queued again.  A torn last line (the process
    killed in the middle of a write) is cut off.  Once everything is delivered and the
    spool passes `compact_bytes`, it starts afresh.
    """

    def __init__(self, sink: ObservationSink, spool: str | Path, *, batch_size: int = 500,
                 flush_interval_s: float = 5.0, max_pending: int = 100_000, compact_bytes: int = 4 << 20) -> None:
        super().__init__(sink, batch_size=batch_size, flush_interval_s=flush_interval_s, max_pending=max_pending)
        self.spool = Path(spool)
        self.acked_path = self.spool.with_name(self.spool.name + ".acked")
        self.compact_bytes = compact_bytes
        self._lock = threading.Lock()
        self._acked = 0
        self.recovered = 0
        self._recover()

    def __repr__(self) -> str:
        return f"SpooledObservationQueue({str(self.spool)!r}, pending={len(self.pending)})"

    def _recover(self) -> None:
        try:
            data = self.spool.read_bytes()
        except FileNotFoundError:
            data = b""
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) < len(data):  # killed mid-write: that observation was never queued
            log.warning("%s: cut off a torn last line (%d bytes)", self.spool, len(data) - len(complete))
            with open(self.spool, "r+b") as fh:
                fh.truncate(len(complete))
        lines = complete.splitlines()
        acked = self._read_acked()
        if acked > len(lines):  # the spool was compacted after the count was written: all delivered
            acked = len(lines)
        self._acked = acked
        for n, line in enumerate(lines[acked:], start=acked + 1):
            try:
                self._append_pending(json.loads(line))
            except ValueError:
                log.warning("%s:%d: not an observation; skipped", self.spool, n)
                self._append_pending(None)  # a placeholder keeps the acked count in step with the lines
        self.recovered = sum(1 for o in self.pending if o is not None)
        if self.recovered:
            log.info("%s: %d undelivered observation(s) queued again", self.spool, self.recovered)

    def _read_acked(self) -> int:
        try:
            text = self.acked_path.read_text(encoding="ascii").strip()
        except (FileNotFoundError, UnicodeDecodeError):
            return 0
        return int(text) if text.isdigit() else 0

    def _write_acked(self) -> None:
        tmp = self.acked_path.with_name(self.acked_path.name + ".tmp")
        tmp.write_text(f"{self._acked}\n", encoding="ascii")
        os.replace(tmp, self.acked_path)

    def _append_pending(self, obs: dict[str, Any] | None) -> None:
        if len(self.pending) == self.pending.maxlen:  # the oldest falls out: it counts as done
            self.dropped += 1
            self._acked += 1
        self.pending.append(obs)  # type: ignore[arg-type]  # None: an unreadable spool line, skipped

    def put(self, results: Iterable[ProbeResult]) -> None:
        """Queue results as observations, appending them to the spool first (one write)."""
        observations = [r.to_observation() for r in results]
        if not observations:
            return
        text = "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in observations)
        with self._lock:
            with open(self.spool, "a", encoding="utf-8") as fh:
                fh.write(text)
            dropped = self.dropped
            for obs in observations:
                self._append_pending(obs)
            if self.dropped != dropped:
                self._write_acked()

    def flush(self) -> bool:
        """Send what is pending in batches, noting each delivered batch in the acked file."""
        with self._lock:
            self._fsync()
        while True:
            with self._lock:
                batch = [self.pending[i] for i in range(min(self.batch_size, len(self.pending)))]
            if not batch:
                break
            real = [o for o in batch if o is not None]
            try:
                if real:
                    self.sink.send(real)
            except (SinkUnavailable, OSError) as err:
                self.failures += 1
                log.warning("observations: sink unavailable (%s); %d kept in %s", err, len(self.pending), self.spool)
                return False
            with self._lock:
                for obs in batch:  # items dropped past max_pending meanwhile were counted already
                    if self.pending and self.pending[0] is obs:
                        self.pending.popleft()
                        self._acked += 1
                self._write_acked()
            self.sent += len(real)
        self._compact()
        return True

    def _fsync(self) -> None:
        try:
            fd = os.open(self.spool, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _compact(self) -> None:
        with self._lock:
            if self.pending or not self.spool.exists() or self.spool.stat().st_size < self.compact_bytes:
                return
            # Count first, then empty the spool: a crash between the two re-sends lines the
            # inventory already holds (stored once), never skips one.
            self._acked = 0
            self._write_acked()
            with open(self.spool, "w", encoding="utf-8"):
                pass
