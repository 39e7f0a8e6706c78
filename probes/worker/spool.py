"""A crash-proof observation queue: every observation is on disk the moment it is queued.

:class:`SpooledObservationQueue` is an :class:`~sitescout.probes.worker.scheduler.ObservationQueue`
that survives a crash: each queued observation is appended to a spool file the
moment it is queued, and the number delivered is kept beside it, so a worker
killed with SIGKILL (or losing power after the flush's fsync) sends on restart
whatever had not been delivered.  Delivery is at least once (the inventory stores
an observation with the same device, kind and time only once).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sitescout.probes.worker.jobs import ProbeResult
from sitescout.probes.worker.scheduler import ObservationQueue, ObservationSink, SinkUnavailable

__all__ = ["SpooledObservationQueue"]

log = logging.getLogger(__name__)


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
