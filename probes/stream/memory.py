"""Watch a stream-check worker's memory while waiting for its reply, at a cost that follows the danger.

A stream that never ends a frame, or floods FFmpeg's parser with fragments,
grows the worker's resident memory inside one ``grab()`` call, where the worker
itself never gets control back: only its parent can stop it.  The parent used to
read ``/proc/PID/statm`` every 20 ms whatever the worker did: about 200 wake-ups
of the parent per 4 s check, 0.05 CPU-s, 40 % of a whole check (issue #17).

Memory cannot grow faster than the bytes the worker receives and copies, so the
time to the cap is at least ``headroom / rate``.  `wait_reply` sleeps that long
(at an assumed fastest growth, or twice the growth it saw, whichever is faster),
never longer than `POLL_MAX_S` and never shorter than `POLL_MIN_S`: a healthy
check, far under its cap, is looked at about 10 times a second; a flood nearing its cap
every 20 ms, as before.  Each look is one ``pread`` of a kept file descriptor.
"""

from __future__ import annotations

import os
import select
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["GROWTH_MB_PER_S", "POLL_MAX_S", "POLL_MIN_S", "Wait", "status_mb", "wait_reply"]

#: Fastest growth (MB/s) assumed of a check before any growth is seen.  The lab's
#: fragment flood grows ~65 MB/s on loopback (the parser joins what arrives; FFmpeg's
#: doubling reallocations add the old block's size now and then): 3x that.
GROWTH_MB_PER_S = 200.0
#: Closest look: the old fixed period, which stops the lab flood before its 32 MB
#: reallocation jump (see StreamConfig.memory_cap_mb).
POLL_MIN_S = 0.02
#: Longest sleep between looks, even with all the headroom in the world.
POLL_MAX_S = 0.1
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def status_mb(pid: int | None, field: str) -> float | None:
    """Return one memory figure (VmRSS, VmHWM …) of a process from /proc, in MB; None where unknown."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(field.encode() + b":"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class _Resident:
    """A process's resident size, re-read through one open /proc/PID/statm (no open per look)."""

    def __init__(self, pid: int | None) -> None:
        try:
            self._fd: int | None = os.open(f"/proc/{pid}/statm", os.O_RDONLY)
        except (OSError, TypeError):
            self._fd = None

    def mb(self) -> float | None:
        """Return the resident size now, in MB (None once the process is gone or /proc cannot tell)."""
        if self._fd is None:
            return None
        try:
            return int(os.pread(self._fd, 128, 0).split()[1]) * _PAGE_MB
        except (OSError, ValueError, IndexError):
            return None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass
class Wait:
    """How a wait for a worker's reply ended."""

    #: The reply (or the pipe's end) arrived within the budget.
    ready: bool = False
    #: Growth (MB) over the start when the limit was passed and the wait gave up; else None.
    over_mb: float | None = None
    #: Resident size (MB) when the wait started (None where /proc cannot tell).
    start_mb: float | None = None
    #: How many times the worker's memory was read (the watch's cost).
    looks: int = 0


def _next_look_s(headroom_mb: float, rate_mb_s: float, left_s: float) -> float:
    """Return how long to sleep before the next look: the fastest plausible time to the cap, bounded."""
    soonest = headroom_mb / max(GROWTH_MB_PER_S, 2.0 * rate_mb_s)
    return max(0.0, min(left_s, POLL_MAX_S, max(POLL_MIN_S, soonest)))


def wait_reply(pid: int | None, fileno: int, budget_s: float, cap_mb: float, allowance: Any = None) -> Wait:
    """Wait for the worker's reply on `fileno` within `budget_s`, watching its resident memory.

    The limit is `cap_mb` plus the worker's current decode allowance (a shared
    Value in MB, or None); the wait gives up as soon as the growth passes it.
    """
    resident = _Resident(pid)
    poller = select.poll()
    poller.register(fileno, select.POLLIN | select.POLLHUP | select.POLLERR)
    try:
        out = Wait(start_mb=resident.mb())
        deadline = time.monotonic() + budget_s
        seen_at, seen_mb, rate = time.monotonic(), out.start_mb, 0.0
        wait_s = POLL_MAX_S if out.start_mb is None else 0.0
        while True:
            left = deadline - time.monotonic()
            if poller.poll(max(0.0, min(wait_s, left)) * 1000.0):
                out.ready = True
                return out
            if left <= 0:
                return out
            now_mb, now = resident.mb(), time.monotonic()
            out.looks += 1
            if now_mb is None or out.start_mb is None or seen_mb is None:
                wait_s = POLL_MAX_S
                continue
            limit = cap_mb + (allowance.value if allowance is not None else 0.0)
            growth = now_mb - out.start_mb
            if growth > limit:
                out.over_mb = growth
                return out
            if now > seen_at:
                rate = max(0.0, (now_mb - seen_mb) / (now - seen_at))
            seen_at, seen_mb = now, now_mb
            wait_s = _next_look_s(limit - growth, rate, deadline - now)
    finally:
        resident.close()
