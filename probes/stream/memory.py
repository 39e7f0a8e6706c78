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

Where the kernel allows it (``perf_event_open``, ``perf_event_paranoid`` <= 2 or CAP_PERFMON),
the looks follow the danger itself, not a clock: memory grows by page faults, so a
software page-fault counter on the worker's main thread (`_FaultTrigger`) wakes the
parent after every `FAULTS_PER_WAKE` faults (512 KiB of fresh 4 KiB pages).  While the
worker grows slower than `QUIET_MB_PER_S`, the parent sleeps until that counter fires
or `TRIGGER_BACKSTOP_S` passes (a healthy check: a few looks instead of ~40); once it
grows faster, the clock above takes over until it is quiet again.  FFmpeg's demuxing
(the endless frame, the flood) runs in the worker's main thread, in user space, so its
growth is counted; growth the counter cannot see (another thread's, a kernel copy into
fresh pages) is still looked at every `TRIGGER_BACKSTOP_S`.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import platform
import select
import struct
import time
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FAULTS_PER_WAKE", "GROWTH_MB_PER_S", "POLL_MAX_S", "POLL_MIN_S", "QUIET_MB_PER_S", "TRIGGER_BACKSTOP_S",
    "Wait", "status_mb", "wait_reply",
]

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
#: Page faults of the worker's main thread per wake-up of the watch (`_FaultTrigger`): 512 KiB of
#: 4 KiB pages.  Where transparent huge pages are on for every mapping, a fault may bring in
#: 2 MiB: 4 faults (8 MiB) then.
FAULTS_PER_WAKE = 128
_FAULTS_PER_WAKE_THP = 4
#: Growth (MB/s) below which the watch waits for the fault counter instead of the clock.  At most
#: QUIET_MB_PER_S / 512 KiB = 20 wake-ups a second come from a worker growing just under it.
QUIET_MB_PER_S = 10.0
#: Longest sleep while the fault counter watches (growth it cannot see is looked at this often).
TRIGGER_BACKSTOP_S = 0.5
#: Off: the clock alone (tests compare the two; a kernel without perf events gets the clock anyway).
FAULT_TRIGGER = True
#: perf_event_open(2) by machine (no libc wrapper exists).
_PERF_EVENT_OPEN = {"x86_64": 298, "amd64": 298, "aarch64": 241, "arm64": 241}


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


class _FaultTrigger:
    """A descriptor that turns readable after every `period` user-space page faults of one thread.

    A ``perf_event_open`` software counter (PERF_COUNT_SW_PAGE_FAULTS, user space only, which
    ``perf_event_paranoid`` 2 allows on one's own processes) with a one-page ring buffer: each
    `period` faults the kernel writes an 8-byte sample and wakes whoever polls the descriptor.
    `rearm` frees the ring (samples are never read, only counted as wake-ups).
    """

    def __init__(self, fd: int, ring: mmap.mmap) -> None:
        self.fd, self._ring = fd, ring

    @classmethod
    def open(cls, pid: int | None) -> _FaultTrigger | None:
        """Return a trigger on `pid`'s main thread, or None where the kernel or platform does not allow one."""
        if not FAULT_TRIGGER or pid is None:
            return None
        found = _perf_event_open()
        if found is None:
            return None
        syscall, number, attr = found
        try:
            fd = int(syscall(number, attr, ctypes.c_int(pid), ctypes.c_int(-1), ctypes.c_int(-1),
                             ctypes.c_ulong(8)))  # PERF_FLAG_FD_CLOEXEC
        except OSError:
            return None
        if fd < 0:
            return None
        try:
            ring = mmap.mmap(fd, 2 * mmap.PAGESIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except (OSError, ValueError):
            os.close(fd)
            return None
        return cls(fd, ring)

    def rearm(self) -> None:
        """Mark every sample so far as read (a full ring would stop the wake-ups)."""
        head = struct.unpack_from("=Q", self._ring, 1024)[0]  # perf_event_mmap_page.data_head
        struct.pack_into("=Q", self._ring, 1032, head)  # .data_tail

    def close(self) -> None:
        self._ring.close()
        os.close(self.fd)


_perf_cache: list[tuple[Any, int, bytes] | None] = []


def _perf_event_open() -> tuple[Any, int, bytes] | None:
    """Return (libc's syscall, perf_event_open's number, the counter's attributes), found once; None: none here."""
    if not _perf_cache:
        number = _PERF_EVENT_OPEN.get(platform.machine().lower())
        try:
            syscall = ctypes.CDLL(None, use_errno=True).syscall
            syscall.restype = ctypes.c_long
        except (OSError, AttributeError):
            number = None
        flags = (1 << 5) | (1 << 6)  # exclude_kernel, exclude_hv; enabled at once, not inherited (no mmap then)
        # struct perf_event_attr, PERF_ATTR_SIZE_VER0 (64 bytes): type SOFTWARE, config PAGE_FAULTS,
        # sample_period, sample_type 0, read_format 0, flags, wakeup_events 1.
        attr = struct.pack("=IIQQQQQIIQ", 1, 64, 2, _fault_period(), 0, 0, flags, 1, 0, 0)
        _perf_cache.append(None if number is None else (syscall, number, attr))
    return _perf_cache[0]


def _fault_period() -> int:
    """Faults per wake-up: fewer where every anonymous mapping may be faulted in 2 MiB at a time."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled", encoding="ascii") as fh:
            thp_always = "[always]" in fh.read()
    except OSError:
        thp_always = False
    return _FAULTS_PER_WAKE_THP if thp_always else FAULTS_PER_WAKE


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
    #: Of those, how many the page-fault counter asked for (0 where it is not available).
    triggered: int = 0
    #: The page-fault counter watched this wait (else the clock alone).
    fault_trigger: bool = False


def _next_look_s(headroom_mb: float, rate_mb_s: float, left_s: float) -> float:
    """Return how long to sleep before the next look: the fastest plausible time to the cap, bounded."""
    soonest = headroom_mb / max(GROWTH_MB_PER_S, 2.0 * rate_mb_s)
    return max(0.0, min(left_s, POLL_MAX_S, max(POLL_MIN_S, soonest)))


def wait_reply(pid: int | None, fileno: int, budget_s: float, cap_mb: float, allowance: Any = None) -> Wait:
    """Wait for the worker's reply on `fileno` within `budget_s`, watching its resident memory.

    The limit is `cap_mb` plus the worker's current decode allowance (a shared
    Value in MB, or None); the wait gives up as soon as the growth passes it.
    While the worker grows slower than `QUIET_MB_PER_S`, the next look waits for its
    page-fault counter (`_FaultTrigger`) or `TRIGGER_BACKSTOP_S`; else the clock's `_next_look_s`.
    """
    resident = _Resident(pid)
    reply_only = select.poll()
    reply_only.register(fileno, select.POLLIN | select.POLLHUP | select.POLLERR)
    trigger = _FaultTrigger.open(pid)
    with_trigger = select.poll()
    with_trigger.register(fileno, select.POLLIN | select.POLLHUP | select.POLLERR)
    if trigger is not None:
        with_trigger.register(trigger.fd, select.POLLIN)
    try:
        out = Wait(start_mb=resident.mb(), fault_trigger=trigger is not None)
        deadline = time.monotonic() + budget_s
        seen_at, seen_mb, rate = time.monotonic(), out.start_mb, 0.0
        wait_s = POLL_MAX_S if out.start_mb is None else 0.0
        poller = reply_only
        while True:
            left = deadline - time.monotonic()
            events = poller.poll(max(0.0, min(wait_s, left)) * 1000.0)
            if any(fd == fileno for fd, _ in events):
                out.ready = True
                return out
            if left <= 0:
                return out
            if trigger is not None:
                out.triggered += bool(events)
                trigger.rearm()
            now_mb, now = resident.mb(), time.monotonic()
            out.looks += 1
            if now_mb is None or out.start_mb is None or seen_mb is None:
                wait_s, poller = POLL_MAX_S, reply_only
                continue
            limit = cap_mb + (allowance.value if allowance is not None else 0.0)
            growth = now_mb - out.start_mb
            if growth > limit:
                out.over_mb = growth
                return out
            if now > seen_at:
                rate = max(0.0, (now_mb - seen_mb) / (now - seen_at))
            seen_at, seen_mb = now, now_mb
            if trigger is not None and rate < QUIET_MB_PER_S:
                wait_s, poller = min(TRIGGER_BACKSTOP_S, deadline - now), with_trigger
            else:
                wait_s, poller = _next_look_s(limit - growth, rate, deadline - now), reply_only
    finally:
        if trigger is not None:
            trigger.close()
        resident.close()
