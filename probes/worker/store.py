"""The worker's results: the latest of every job, RTT and duration histograms, error counters.

:class:`ResultStore` is written by the schedulers and read by the exporter at scrape
time through a :class:`StoreSnapshot` (copied under the store's lock); which jobs a
target has comes from the probe kinds (:func:`plan_jobs`).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sitescout.probes.worker.jobs import REASONS, ProbeJob, ProbeResult
from sitescout.probes.worker.metric_defs import DURATION_BUCKETS, RTT_BUCKETS
from sitescout.probes.worker.records import SiteInfo, Target
from sitescout.probes.worker.registry import KINDS, PROBERS

__all__ = ["ResultStore", "StoreSnapshot", "plan_jobs"]


def plan_jobs(target: Target) -> list[ProbeJob]:
    """Return the probes a target gets: each kind's jobs (a link probe always, ONVIF with an endpoint, streams)."""
    return [job for kind in KINDS.values() for job in kind.plan(target)]


class _Histogram:
    """Cumulative bucket counts (non-cumulative per bucket here; the exporter sums)."""

    __slots__ = ("bounds", "counts", "total", "count")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def copy(self) -> tuple[list[int], float, int]:
        return list(self.counts), self.total, self.count


@dataclass
class StoreSnapshot:
    """What the exporter needs for one scrape, copied under the store's lock."""

    targets: list[Target]
    latest: dict[tuple[str, str, str, str], ProbeResult]
    identity: dict[tuple[str, str], dict[str, str]]
    clock_offset: dict[tuple[str, str], float]
    rtt: dict[tuple[str, str], tuple[list[int], float, int]]
    durations: dict[str, tuple[list[int], float, int]]
    errors: dict[tuple[str, str], int]
    reload_ok: bool
    reload_success_ts: float
    shard: str
    sites: tuple[SiteInfo, ...] = ()


class ResultStore:
    """The latest result of every job plus cumulative histograms and error counters; thread-safe."""

    def __init__(self, shard: str = "1/1") -> None:
        self._lock = threading.Lock()
        self.shard = shard
        self._targets: list[Target] = []
        self._sites: tuple[SiteInfo, ...] = ()
        self._latest: dict[tuple[str, str, str, str], ProbeResult] = {}
        self._jobs: set[tuple[str, str, str, str]] = set()
        self._identity: dict[tuple[str, str], dict[str, str]] = {}
        self._clock: dict[tuple[str, str], float] = {}
        self._rtt: dict[tuple[str, str], _Histogram] = {}
        self._durations = {kind: _Histogram(DURATION_BUCKETS) for kind in PROBERS}
        self._errors = {(kind, reason): 0 for kind in PROBERS for reason in REASONS}
        self._reload_ok = True
        self._reload_ts = 0.0

    def set_targets(self, targets: Sequence[Target]) -> None:
        """Adopt a new target list: new devices start at zero, removed ones are forgotten."""
        keys = {t.key for t in targets}
        with self._lock:
            self._targets = list(targets)
            for key in [k for k in self._rtt if k not in keys]:
                del self._rtt[key]
            for key in keys:
                self._rtt.setdefault(key, _Histogram(RTT_BUCKETS))
            self._jobs = {j.key for t in targets for j in plan_jobs(t)}
            self._latest = {k: r for k, r in self._latest.items() if k in self._jobs}
            self._identity = {k: v for k, v in self._identity.items() if k in keys}
            self._clock = {k: v for k, v in self._clock.items() if k in keys}

    def record_reload(self, ok: bool) -> None:
        """Note the outcome of a config (re)load."""
        with self._lock:
            self._reload_ok = ok
            if ok:
                self._reload_ts = time.time()

    def record(self, results: Iterable[ProbeResult], duration_s: float | None = None) -> None:
        """Keep each result as its job's latest, and count durations, echoes and errors."""
        with self._lock:
            for r in results:
                key, device = r.job.key, r.job.target.key
                if key not in self._jobs:  # its target was removed while it was being probed
                    continue
                self._latest[key] = r
                self._durations[r.job.kind].observe(r.duration_s if duration_s is None else duration_s)
                if r.reason is not None:
                    self._errors[(r.job.kind, r.reason)] = self._errors.get((r.job.kind, r.reason), 0) + 1
                if r.rtts_s and device in self._rtt:  # only link probes time echoes
                    hist = self._rtt[device]
                    for rtt in r.rtts_s:
                        hist.observe(rtt)
                if r.info and r.job.kind == "onvif":  # a stream's info (its transport) is no camera identity
                    self._identity[device] = dict(r.info)
                if "clock_offset_seconds" in r.values:
                    self._clock[device] = r.values["clock_offset_seconds"]

    def snapshot(self) -> StoreSnapshot:
        """Copy what a scrape needs (histogram lists copied; results are never mutated)."""
        with self._lock:
            return StoreSnapshot(
                list(self._targets), dict(self._latest), dict(self._identity), dict(self._clock),
                {k: h.copy() for k, h in self._rtt.items()},
                {k: h.copy() for k, h in self._durations.items()}, dict(self._errors),
                self._reload_ok, self._reload_ts, self.shard, self._sites)

    def set_sites(self, sites: Sequence[SiteInfo]) -> None:
        """Record where the sites are (exported as sitescout_site_info)."""
        with self._lock:
            self._sites = tuple(sites)

    def latest(self, key: tuple[str, str, str, str]) -> ProbeResult | None:
        """Return the latest result of one job."""
        with self._lock:
            return self._latest.get(key)
