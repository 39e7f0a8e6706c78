"""Run one costly job (a plan solve, a PDF) in a child process with a memory cap, a CPU cap and a deadline.

A cost model refuses what it can see is too big before anything is allocated; this is the
backstop for what it misses.  The job runs in a process forked from a `forkserver` (started once,
single-threaded, with numpy, scipy and WeasyPrint already imported, so a job starts in tens of
milliseconds, never forked from the multi-threaded server itself).  In the child:

- ``RLIMIT_AS`` = the child's address space at start + `memory_bytes`: an allocation beyond it
  fails (numpy raises MemoryError) instead of growing the server until the kernel kills it;
- ``RLIMIT_CPU`` = `cpu_s`: the kernel stops the child (SIGXCPU, then SIGKILL one second later);
- the parent waits at most `wall_s` for the answer, then kills the child.

The server process never holds the job's memory: only the answer (pickled) comes back.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from sitescout.web.errors import WebError

__all__ = ["JobFailed", "run_isolated", "warm_up", "PRELOAD"]

log = logging.getLogger(__name__)

#: Imported once by the fork server, so each job's child has them already.
PRELOAD = ["sitescout.inventory.planning.plan_io", "sitescout.web.pdf", "weasyprint"]

_context_lock = threading.Lock()
_context: Any = None
_owner_pid = 0


class JobFailed(WebError, RuntimeError):
    """The job ran out of memory, CPU or time, or failed; `reason` says which: memory|cpu|time|error."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def _get_context() -> Any:
    global _context, _owner_pid
    with _context_lock:
        if _context is not None and _owner_pid != os.getpid():
            _forget_inherited_fork_server()
            _context = None
        if _context is None:
            _owner_pid = os.getpid()
            if "forkserver" in multiprocessing.get_all_start_methods():
                ctx: multiprocessing.context.BaseContext = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(PRELOAD)
            else:  # pragma: no cover - every Linux has it
                ctx = multiprocessing.get_context("spawn")
            # One BLAS thread per child: the job is bounded by its own limits, not sped up by the
            # server's cores; fewer threads also mean a smaller, steadier address space to cap.
            os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
            os.environ.setdefault("OMP_NUM_THREADS", "1")
            _context = ctx
        return _context


def warm_up() -> None:
    """Start the fork server now (about a second, importing PRELOAD) rather than on the first job."""
    try:
        ctx = _get_context()
        if ctx.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()
    except Exception:  # noqa: BLE001 - the first job starts it (and reports) instead
        log.warning("could not start the fork server for plans and PDFs now", exc_info=True)


def _forget_inherited_fork_server() -> None:
    # A process forked without exec (the tests fork the command line) inherits its parent's fork
    # server, which it cannot wait for: make multiprocessing start one of its own.
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    if server is not None and getattr(server, "_forkserver_pid", None) is not None:
        server._forkserver_pid = None
        server._forkserver_address = None
        server._forkserver_alive_fd = None


def _address_space_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(conn: Connection, func: Callable[..., Any], args: tuple[Any, ...], memory_bytes: int,
           cpu_s: float) -> None:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (_address_space_bytes() + memory_bytes,) * 2)
        cpu = max(1, int(cpu_s + 0.999))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        result = func(*args)
    except MemoryError:
        conn.send(("memory", "it needed more memory than allowed"))
    except BaseException as err:  # noqa: BLE001 - the parent decides; the message is all it needs
        conn.send(("error", f"{type(err).__name__}: {err}", err if _picklable(err) else None))
    else:
        try:
            conn.send(("ok", result))
        except MemoryError:
            conn.send(("memory", "its answer needed more memory than allowed"))
    finally:
        conn.close()


def _picklable(err: BaseException) -> bool:
    import pickle

    try:
        pickle.dumps(err)
    except Exception:  # noqa: BLE001
        return False
    return True


def run_isolated(func: Callable[..., Any], *args: Any, memory_bytes: int, cpu_s: float, wall_s: float) -> Any:
    """Return func(*args) computed in a capped child process; raise JobFailed when a cap is hit.

    An exception the job raises (a ValueError about its input, say) is raised again here when
    it can be pickled, else as JobFailed("error", ...).
    """
    ctx = _get_context()
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(sender, func, args, memory_bytes, cpu_s), daemon=True)
    child.start()
    sender.close()
    timed_out, message = False, None
    try:
        if receiver.poll(wall_s):
            message = receiver.recv()
        else:
            timed_out = True
    except EOFError:  # the child died without a word: stopped by a limit or by the kernel
        pass
    finally:
        receiver.close()
    if timed_out:
        child.kill()
    child.join(5)
    if message is None:
        if timed_out:
            raise JobFailed("time", f"it took longer than {wall_s:g} s")
        if child.exitcode in (-signal.SIGXCPU, -signal.SIGKILL):
            raise JobFailed("cpu", f"it needed more than {cpu_s:g} s of CPU (or was stopped by the system)")
        if child.exitcode == -signal.SIGABRT:  # C++ (HiGHS, Pango) aborts when an allocation fails
            raise JobFailed("memory", "it stopped abnormally, most likely at its memory cap")
        raise JobFailed("error", f"the worker process ended with status {child.exitcode}")
    if message[0] == "ok":
        return message[1]
    if message[0] == "memory":
        raise JobFailed("memory", message[1])
    if message[2] is not None:
        raise message[2]
    raise JobFailed("error", message[1])
