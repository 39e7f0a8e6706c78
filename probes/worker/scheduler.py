"""The probe worker: schedules every probe kind at its own interval and keeps the latest results.

- Each kind has its interval, its concurrency bound and a hard timeout per probe
  (a probe ends within its budget + 0.5 s: it is cancelled there and recorded as
  ``reason="timeout"``).  Start times are spread over the interval by a stable
  hash of the job, so 1,000 cameras do not all fire at second 0.
- A job whose previous probe is still running is skipped, not queued twice; a
  hung camera holds one concurrency slot for at most its budget.
- Targets come from a :class:`TargetSource` (the YAML file today; the inventory
  plugs in behind the same interface).  A failed reload keeps the last good
  config and is visible as ``sitescout_config_last_reload_successful 0``.
- Results go to the :class:`~sitescout.probes.worker.store.ResultStore` (read by the exporter at scrape time)
  and to an :class:`ObservationQueue` (batched, kept and retried while its sink
  is unavailable).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sitescout.probes.errors import ProbesError
from sitescout.probes.worker.jobs import ProbeContext, ProbeFn, ProbeJob, ProbeResult
from sitescout.probes.worker.records import Target, TargetsError, in_shard, stable_fraction
from sitescout.probes.worker.registry import KINDS, PROBERS
from sitescout.probes.worker.store import ResultStore, plan_jobs
from sitescout.probes.worker.targets import TargetsConfig, load_targets

__all__ = [
    "TargetSource",
    "FileTargetSource",
    "ObservationSink",
    "SinkUnavailable",
    "JsonlSpoolSink",
    "ObservationQueue",
    "KindScheduler",
    "Worker",
]

log = logging.getLogger(__name__)

#: Link jobs per ICMP socket: all targets due in one tick, up to this many.
_LINK_BATCH = 1024


# ---------------------------------------------------------------------------
# Where targets come from.


class TargetSource(Protocol):
    """A place targets come from: the YAML file now, the inventory's targets endpoint later."""

    name: str

    def load(self) -> TargetsConfig:
        """Return the current targets; raise TargetsError (FILE:LINE: message) if they are invalid."""
        ...

    def changed(self) -> bool:
        """Say whether the source may have changed since the last load (cheap; polled every second)."""
        ...


class FileTargetSource:
    """A YAML targets file, re-read when its size, mtime or inode changes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = str(path)
        self._seen: tuple[int, int, int] | None = None

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def load(self) -> TargetsConfig:
        """Read and check the file (remembering what was read, good or bad)."""
        self._seen = self._stat()
        return load_targets(self.path)

    def changed(self) -> bool:
        """Say whether the file differs from the one last read."""
        return self._stat() != self._seen


# ---------------------------------------------------------------------------
# Results back to the inventory: batched, kept and retried.


class SinkUnavailable(ProbesError):
    """The sink cannot take observations now; keep them and retry later."""


class ObservationSink(Protocol):
    """Where batches of observations go (a spool file now; the inventory's API later)."""

    def send(self, batch: list[dict[str, Any]]) -> None:
        """Deliver one batch; raise SinkUnavailable (or OSError) to have it retried."""
        ...


class JsonlSpoolSink:
    """Append observations to a JSON-lines file, one per line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def send(self, batch: list[dict[str, Any]]) -> None:
        """Append the batch (one write, so a batch is never half-written by us)."""
        text = "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in batch)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(text)


class ObservationQueue:
    """Results waiting for the sink: flushed in batches; on failure kept (oldest dropped past `max_pending`)."""

    def __init__(self, sink: ObservationSink, *, batch_size: int = 500, flush_interval_s: float = 5.0,
                 max_pending: int = 100_000) -> None:
        self.sink = sink
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.pending: deque[dict[str, Any]] = deque(maxlen=max_pending)
        self.dropped = 0
        self.sent = 0
        self.failures = 0

    def put(self, results: Iterable[ProbeResult]) -> None:
        """Queue results as observations."""
        for r in results:
            if len(self.pending) == self.pending.maxlen:
                self.dropped += 1
            self.pending.append(r.to_observation())

    def flush(self) -> bool:
        """Send everything pending in batches; stop at the first failure (kept for the next try)."""
        while self.pending:
            batch = [self.pending[i] for i in range(min(self.batch_size, len(self.pending)))]
            try:
                self.sink.send(batch)
            except (SinkUnavailable, OSError) as err:
                self.failures += 1
                log.warning("observations: sink unavailable (%s); %d kept for retry", err, len(self.pending))
                return False
            for _ in batch:
                self.pending.popleft()
            self.sent += len(batch)
        return True

    async def run(self) -> None:
        """Flush every `flush_interval_s`, backing off (up to 5 min) while the sink fails."""
        delay = self.flush_interval_s
        while True:
            await asyncio.sleep(delay)
            ok = await asyncio.to_thread(self.flush)
            delay = self.flush_interval_s if ok else min(delay * 2, 300.0)


# ---------------------------------------------------------------------------
# Scheduling.


@dataclass
class _Slot:
    job: ProbeJob
    phase: float
    next_due: float = 0.0
    running: bool = False


@dataclass
class KindScheduler:
    """Runs one probe kind: due jobs every tick, bounded concurrency, a hard timeout per probe."""

    kind: str
    prober: ProbeFn
    store: ResultStore
    ctx: ProbeContext
    queue: ObservationQueue | None = None
    settings: Any = None
    tick_s: float = 0.2
    slots: dict[tuple[str, str, str, str], _Slot] = field(default_factory=dict)
    _base: float = field(default_factory=time.monotonic)
    _sem: asyncio.Semaphore | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _wake: asyncio.Event | None = None

    def update(self, jobs: Sequence[ProbeJob], settings: Any) -> None:
        """Adopt new jobs and settings; jobs that stay keep their place in the schedule."""
        changed = settings != self.settings
        self.settings = settings
        if changed or self._sem is None:
            self._sem = asyncio.Semaphore(settings.concurrency)
        now = time.monotonic()
        old, self.slots = self.slots, {}
        for job in jobs:
            slot = old.get(job.key)
            if slot is None:
                slot = _Slot(job, stable_fraction("phase", *job.key))
                slot.next_due = self._next_due(slot.phase, now)
            elif changed:  # same object: a running probe still clears its `running` flag
                slot.next_due = self._next_due(slot.phase, now)
            slot.job = job
            self.slots[job.key] = slot
        if self._wake is not None:
            self._wake.set()

    def _next_due(self, phase: float, now: float) -> float:
        interval = self.settings.interval_s
        offset = phase * interval
        k = math.ceil((now - self._base - offset) / interval)
        return self._base + offset + max(k, 0) * interval

    async def run(self) -> None:
        """Start due jobs forever."""
        self._wake = asyncio.Event()
        while True:
            now = time.monotonic()
            due = [s for s in self.slots.values() if s.next_due <= now and not s.running]
            gated = self.settings.batched and len(self._tasks) >= self.settings.concurrency
            if gated:
                # Every burst slot is busy: let due jobs gather and go out in the next burst
                # (woken when one ends), instead of queueing many small bursts behind the semaphore.
                due = []
            for slot in due:
                slot.next_due = self._next_due(slot.phase, now + 1e-6)
                slot.running = True
            if due:
                size = _LINK_BATCH if self.settings.batched else 1
                for i in range(0, len(due), size):
                    task = asyncio.create_task(self._probe(due[i:i + size]))
                    self._tasks.add(task)
                    task.add_done_callback(self._done)
            upcoming = min((s.next_due for s in self.slots.values() if not s.running), default=now + 1.0)
            if gated:
                upcoming = now + self.tick_s
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), max(0.01, min(upcoming - time.monotonic(), self.tick_s)))
            except TimeoutError:
                pass

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._wake is not None:
            self._wake.set()

    async def _probe(self, slots: list[_Slot]) -> None:
        jobs = [s.job for s in slots]
        settings = self.settings
        assert self._sem is not None
        try:
            async with self._sem:
                started = time.monotonic()
                results = await self._bounded(jobs, settings, started)
            self.store.record(results)
            if self.queue is not None:
                self.queue.put(results)
        finally:
            for slot in slots:
                slot.running = False

    async def _bounded(self, jobs: list[ProbeJob], settings: Any, started: float) -> list[ProbeResult]:
        budget = settings.budget_s + 0.5
        try:
            return await asyncio.wait_for(self.prober(jobs, settings, self.ctx), budget)
        except TimeoutError:
            detail = f"no result within {budget:g} s; probe cancelled"
            log.warning("%s: %s probe: %s", ", ".join(f"{j.target.site}/{j.target.device}" for j in jobs[:3]),
                        self.kind, detail)
            reason = "timeout"
        except Exception as err:  # a bug: keep scheduling, count it, say where
            log.exception("%s probe of %d job(s) failed", self.kind, len(jobs))
            detail, reason = f"{type(err).__name__}: {err}", "error"
        elapsed = time.monotonic() - started
        return [ProbeResult(j, False, reason, detail, elapsed, values=dict(KINDS[j.kind].failed_values))
                for j in jobs]

    async def cancel(self) -> None:
        """Cancel running probes (on shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class Worker:
    """Targets from a source, one scheduler per probe kind, results in a store and a queue."""

    def __init__(self, source: TargetSource, *, shard: tuple[int, int] = (1, 1), ctx: ProbeContext | None = None,
                 queue: ObservationQueue | None = None, poll_s: float = 1.0) -> None:
        self.source = source
        self.shard = shard
        self.ctx = ctx or ProbeContext()
        self.queue = queue
        self.poll_s = poll_s
        self.store = ResultStore(f"{shard[0]}/{shard[1]}")
        self.config: TargetsConfig | None = None
        self.targets: list[Target] = []
        self.schedulers = {kind: KindScheduler(kind, fn, self.store, self.ctx, queue) for kind, fn in PROBERS.items()}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._last_error: str | None = None

    def load_initial(self) -> None:
        """Load the targets before starting.

        Raises:
            TargetsError: the source is invalid (there is no last good config yet).
        """
        self._adopt(self.source.load())
        self.store.record_reload(True)

    def _adopt(self, config: TargetsConfig) -> None:
        self.config = config
        self.targets = [t for t in config.targets if in_shard(t, self.shard)]
        self.store.set_targets(self.targets)
        self.store.set_sites(config.sites)
        self.ctx.stream_concurrency = config.defaults.stream.concurrency
        log.info("%s: %d target(s), %d in shard %d/%d", self.source.name, len(config.targets), len(self.targets),
                 *self.shard)

    def _apply(self) -> None:
        assert self.config is not None
        jobs: dict[str, list[ProbeJob]] = {kind: [] for kind in PROBERS}
        for target in self.targets:
            for job in plan_jobs(target):
                jobs[job.kind].append(job)
        for kind, scheduler in self.schedulers.items():
            scheduler.update(jobs[kind], getattr(self.config.defaults, kind))

    def reload(self) -> tuple[bool, str]:
        """Re-read the source; on error keep the last good config.  Call on the worker's loop."""
        try:
            config = self.source.load()
        except TargetsError as err:
            self.store.record_reload(False)
            self._last_error = str(err)
            log.error("reload failed, keeping the last good config: %s", err)
            return False, str(err)
        self._adopt(config)
        self.store.record_reload(True)
        self._last_error = None
        if self.loop is not None:
            self._apply()
        return True, f"{len(self.targets)} target(s)"

    def reload_threadsafe(self, timeout_s: float = 10.0) -> tuple[bool, str]:
        """Reload from another thread (the HTTP server's /-/reload)."""
        if self.loop is None:
            return self.reload()

        async def _do() -> tuple[bool, str]:
            return self.reload()

        return asyncio.run_coroutine_threadsafe(_do(), self.loop).result(timeout_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Probe until `stop` is set; poll the source for changes every `poll_s`."""
        self.loop = asyncio.get_running_loop()
        if self.config is None:
            self.load_initial()
        self._apply()
        tasks = [asyncio.create_task(s.run(), name=f"schedule-{k}") for k, s in self.schedulers.items()]
        if self.queue is not None:
            tasks.append(asyncio.create_task(self.queue.run(), name="observations"))
        try:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), self.poll_s)
                except TimeoutError:
                    pass
                if not stop.is_set() and self.source.changed():
                    self.reload()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for scheduler in self.schedulers.values():
                await scheduler.cancel()
            if self.queue is not None:
                await asyncio.to_thread(self.queue.flush)
