"""The worker's observations to the inventory: their health, their API shape, and the HTTP sink.

:class:`HttpObservationSink` is an :class:`~sitescout.probes.worker.scheduler.ObservationSink`:
it maps worker observations to the API's shape (:func:`api_observation`, with the health
inventory/health.py gives them) and POSTs them in batches.  Connection errors, timeouts, 5xx
and a refused token raise :class:`~sitescout.probes.worker.scheduler.SinkUnavailable` (the
queue keeps them and retries); items the API rejects as invalid (400/422) are dropped one by
one, counted and logged, so a bad item never blocks the queue.

The rest of the link: targets from ``/sd/prometheus`` and their cache
(:mod:`sitescout.probes.worker.inventory_targets`), the crash-proof queue
(:mod:`sitescout.probes.worker.spool`), the HTTP request itself
(:mod:`sitescout.probes.worker.inventory_http`).  Delivery is at least once: a batch
whose answer is lost (or whose worker died before noting it delivered) is sent again; the
inventory stores an observation with the same device, kind and time only once, so the
effect is exactly once.  The token is never logged or shown in a repr.
"""

from __future__ import annotations

import json
import logging
import math
import re
from datetime import datetime, timezone
from typing import Any

from sitescout.inventory import health
from sitescout.probes.worker.inventory_http import OBSERVATIONS_PATH, Answer, check_url, error_text, request
from sitescout.probes.worker.scheduler import SinkUnavailable

__all__ = [
    "HttpObservationSink",
    "api_observation",
    "observation_health",
    "observation_verdicts",
]

log = logging.getLogger(__name__)

#: Answers that mean "the items are wrong" (drop them), not "try again later".
_REJECTED = frozenset({400, 422})
#: An item the API names in its error: ``observations[3].device_id: …``.
_ITEM_RE = re.compile(r"observations\[(\d+)\]")


def observation_health(obs: dict[str, Any]) -> str:
    """Map one worker observation to the inventory's health (ok, warning, problem) by inventory/health.py."""
    return health.level_of(observation_verdicts(obs))


def observation_verdicts(obs: dict[str, Any]) -> list[health.Verdict]:
    """Return the unhealthy verdicts (codes and parameters) of one worker observation."""
    kind = str(obs.get("kind") or "probe")
    if obs.get("profile"):
        kind = f"{kind}:{obs['profile']}"
    return health.observation_verdicts(kind, dict(obs.get("values") or {}), up=obs.get("up"))


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
    verdicts = observation_verdicts(obs)
    if verdicts:
        values.setdefault("verdicts", [v.to_dict() for v in verdicts])
    return {"device_id": device_id, "kind": kind, "health": health.level_of(verdicts), "observed_at": observed_at,
            "values": _finite(values), "reason": str(obs.get("reason") or "")}


# ---------------------------------------------------------------------------
# Observations.


class HttpObservationSink:
    """POST observation batches to the inventory's ``/api/v1/observations``."""

    def __init__(self, url: str, token: str, *, device_ids: dict[tuple[str, str], int] | None = None,
                 timeout_s: float = 10.0) -> None:
        self.url = check_url(url)
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
            message = error_text(answer)
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

    def _post_once(self, rows: list[dict[str, Any]]) -> Answer:
        body = json.dumps(rows, ensure_ascii=False, allow_nan=False).encode("utf-8")
        try:
            return request(self.url + OBSERVATIONS_PATH, self._token, self.timeout_s, body)
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
