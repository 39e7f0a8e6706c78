"""The stream-check memory watch against real child processes: rare looks at a quiet one, a fast grower stopped."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from sitescout.probes.stream import memory as stream_memory
from sitescout.probes.stream.memory import POLL_MAX_S, TRIGGER_BACKSTOP_S, wait_reply

CAP_MB = 48.0

#: Sleeps, then answers one line: a healthy check seen from its parent.
QUIET = "import sys, time\ntime.sleep({sleep_s})\nprint('reply', flush=True)\ntime.sleep(30)\n"
#: Touches `step_mb` more every `every_s` (bytes are written, so resident): a flood seen from its parent.
GROWER = ("import sys, time\nkeep = []\nprint('go', flush=True)\n"
          "while True:\n    keep.append(b'x' * ({step_mb} * 2**20))\n    time.sleep({every_s})\n")


@pytest.fixture(params=[True, False], ids=["fault-trigger", "clock"])
def trigger(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run a test with the page-fault counter (where the kernel allows it) and with the clock alone."""
    monkeypatch.setattr(stream_memory, "FAULT_TRIGGER", request.param)
    return bool(request.param)


@contextmanager
def _child(code: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(5)


def _thread_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime


def test_a_quiet_worker_is_looked_at_rarely(trigger: bool) -> None:
    """A check far below its cap costs its parent a few looks, not one every 20 ms (issue #17)."""
    with _child(QUIET.format(sleep_s=2.0)) as proc:
        assert proc.stdout is not None
        cpu0, started = _thread_cpu_s(), time.monotonic()
        waited = wait_reply(proc.pid, proc.stdout.fileno(), 10.0, CAP_MB)
        elapsed, cpu = time.monotonic() - started, _thread_cpu_s() - cpu0
    assert waited.ready and waited.over_mb is None and waited.start_mb is not None
    assert 1.5 < elapsed < 4.0, elapsed
    # At most ~12 looks a second far from the cap; the old fixed 20 ms period looked ~100 times
    # in 2 s (0.05 CPU-s of the parent per 4 s check in benchmarks/bench_stream_check.py).
    assert waited.looks <= 12 * elapsed + 3, waited.looks
    if waited.fault_trigger:  # the page-fault counter watches: a look every TRIGGER_BACKSTOP_S, a few for start-up
        assert trigger and waited.looks <= elapsed / TRIGGER_BACKSTOP_S + 4, waited.looks
    print(f"\nFIGURE quiet wait | {'fault trigger' if waited.fault_trigger else 'clock'} | {elapsed:.2f} s | "
          f"{waited.looks} looks ({waited.triggered} by the counter) | {cpu * 1000:.1f} ms CPU")


@pytest.mark.parametrize("step_mb, every_s", [(4, 0.02), (16, 0.02)])
def test_fast_growth_is_stopped_near_the_cap(step_mb: int, every_s: float, trigger: bool) -> None:
    """A grower is stopped soon after it passes the cap, at up to 800 MB/s (4x the assumed fastest)."""
    with _child(GROWER.format(step_mb=step_mb, every_s=every_s)) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"go\n"
        started = time.monotonic()
        waited = wait_reply(proc.pid, proc.stdout.fileno(), 10.0, CAP_MB)
        elapsed = time.monotonic() - started
    rate = step_mb / every_s
    print(
        f"\nFIGURE grower {rate:.0f} MB/s | {'fault trigger' if waited.fault_trigger else 'clock'} | "
        f"stopped at {waited.over_mb} MB after {elapsed:.2f} s, {waited.looks} looks "
        f"({waited.triggered} by the counter)"
    )
    assert not waited.ready and waited.over_mb is not None
    # Past the cap by at most what grows in one longest sleep beyond the assumed rate, plus one step.
    assert CAP_MB < waited.over_mb < CAP_MB + max(0.0, rate - stream_memory.GROWTH_MB_PER_S) * POLL_MAX_S + step_mb + 8


def test_the_decode_allowance_lifts_the_limit(trigger: bool) -> None:
    """A worker that grows within cap + allowance is left alone; the allowance is read at every look."""

    class Allowance:
        value = 100.0

    with _child(GROWER.format(step_mb=8, every_s=0.05)) as proc:  # 160 MB/s, until killed
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"go\n"
        waited = wait_reply(proc.pid, proc.stdout.fileno(), 10.0, CAP_MB, Allowance())
    assert waited.over_mb is not None and CAP_MB + 100.0 < waited.over_mb < CAP_MB + 100.0 + 40


def test_a_vanished_worker_ends_the_wait() -> None:
    with _child("print('bye')") as proc:
        assert proc.stdout is not None
        proc.wait(5)
        proc.stdout.readline()
        waited = wait_reply(proc.pid, proc.stdout.fileno(), 5.0, CAP_MB)
    assert waited.ready  # the pipe's end: the caller's recv() sees EOF and reports the worker's exit


def test_a_slow_grower_wakes_the_counter_not_the_clock() -> None:
    """Growth below QUIET_MB_PER_S is looked at when the page-fault counter fires, and still stopped at the cap."""
    with _child(GROWER.format(step_mb=1, every_s=0.2)) as proc:  # 5 MB/s: the cap in ~10 s
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"go\n"
        waited = wait_reply(proc.pid, proc.stdout.fileno(), 20.0, 8.0)
    if not waited.fault_trigger:
        pytest.skip("perf_event_open is not allowed here (perf_event_paranoid > 2, or a seccomp filter)")
    print(f"\nFIGURE slow grower | stopped at {waited.over_mb} MB, {waited.looks} looks "
          f"({waited.triggered} by the counter)")
    assert waited.over_mb is not None and 8.0 < waited.over_mb < 8.0 + 2
    assert waited.triggered >= 4  # each 1 MB step is 256 faults: the counter fired, not only the 0.5 s backstop
