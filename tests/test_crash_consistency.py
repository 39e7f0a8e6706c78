"""Crash consistency: SIGKILL the server, an import and the worker at random points; nothing half, nothing lost.

- Survey ingestion: ``sitescout serve`` receives POST /api/v1/surveys (a 600-host document; 300 on PostgreSQL)
  and is killed after a random delay spread over the request.  Then the database opens,
  ``PRAGMA integrity_check`` is ok and the survey is there whole (every candidate, finding,
  observation and snapshot of a full ingestion) or not at all.
- Import: ``sitescout import sites.csv devices.csv`` (200 sites, 2,000 devices, one
  transaction) killed the same way: both files whole, or nothing.
- 50 kills each on SQLite; a smaller number on PostgreSQL.  To keep 100 kills within the
  time budget, the command runs in a process forked from this (already warmed-up) one:
  ``os.fork()`` then ``sitescout.cli.main(argv)``, the same code path as the installed
  command, killed with a real SIGKILL.
- The worker (``sitescout worker --inventory URL --observations-spool FILE``, a real
  subprocess) is killed while the inventory is down and while it flushes; every
  observation it ever queued reaches the inventory exactly once (delivery is at least
  once; the inventory stores the same device/kind/time once).

Where a kill lands is read from markers the forked child appends (SQLAlchemy events: its session
transaction began, the driver was asked to COMMIT, the transaction ended): before-transaction and
in-transaction must leave nothing, committing nothing or everything, after-commit everything.
Two kills in three are timed from the start of the transaction, one in ten from its COMMIT, the
rest from the start of the command or request.  Delays come from a seeded RNG
(``SITESCOUT_CRASH_SEED``, default 7); each kill's time from start, where it landed and the outcome
are printed (``-s``) and written to ``crash-record.json`` in the test's tmp dir.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session as OrmSession
from support import WebServer, free_port

import sitescout.cmd_inventory  # noqa: F401 - warmed up before forking: the children start at once
import sitescout.inventory.importexport  # noqa: F401

from sitescout.cli import main
from sitescout.inventory import store
from sitescout.inventory.db import open_database
from sitescout.inventory.models import (
    Candidate,
    Commune,
    Device,
    Finding,
    Observation,
    Region,
    Site,
    Survey,
    SurveySnapshot,
)
from sitescout.web import create_app
from sitescout.web.bootstrap import ensure_admin

SEED = int(os.environ.get("SITESCOUT_CRASH_SEED", "7"))
KILLS = 50
PG_KILLS = 8
N_SITES, N_DEVICES, N_HOSTS, PG_HOSTS = 200, 2000, 600, 300
JPEG = (Path(__file__).resolve().parents[1] / "infra/lab/data/snapshot.jpg").read_bytes()


@dataclass
class Kill:
    """One SIGKILL: when, where it landed, what the database held afterwards."""

    scenario: str
    n: int
    delay_s: float
    landed: str  # before-transaction | in-transaction | committing | after-commit | exited
    outcome: str  # none | whole


def _record(tmp: Path, kills: list[Kill]) -> None:
    (tmp / "crash-record.json").write_text(json.dumps([asdict(k) for k in kills], indent=1))
    summary = Counter((k.landed, k.outcome) for k in kills)
    print(f"\n{kills[0].scenario}: {len(kills)} kills, seed {SEED}: " +
          ", ".join(f"{landed}->{outcome}: {n}" for (landed, outcome), n in sorted(summary.items())))
    print("  delays (s): " + " ".join(f"{k.delay_s:.3f}" for k in kills))


# ---------------------------------------------------------------------------------- processes


def _trace_transactions(markers: Path) -> None:
    """In the child: append 'EVENT monotonic-time' lines: an ORM session's outermost transaction begins
    ("begin") and ends ("end"), a statement is sent ("stmt"), and the database driver is about to COMMIT
    ("commit"). Kills inside a transaction are placed by statement count, so a run that is faster or slower
    than the calibration run (another test's load) still gets its kills inside the transaction."""
    fd = os.open(markers, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def mark(name: str) -> None:
        os.write(fd, f"{name} {time.monotonic():.6f}\n".encode())

    def begun(_session: Any, transaction: Any, _connection: Any) -> None:
        if not transaction.nested:  # a SAVEPOINT inside ingestion is not a transaction of its own
            mark("begin")

    def ended(_session: Any, transaction: Any) -> None:
        if transaction.parent is None:
            mark("end")

    event.listen(OrmSession, "after_begin", begun)
    event.listen(OrmSession, "after_transaction_end", ended)
    event.listen(Engine, "commit", lambda _conn: mark("commit"))
    event.listen(Engine, "before_cursor_execute", lambda *_args: mark("stmt"))


def _fork_cli(argv: list[str], log: Path, markers: Path | None = None) -> int:
    """Run ``sitescout ARGV`` in a forked child (output to log, transaction markers to markers); return its pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 70
        try:
            if markers is not None:
                _trace_transactions(markers)
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), line_buffering=True)
            sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), line_buffering=True)
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def _kill(pid: int) -> bool:
    """SIGKILL pid and reap it; return whether it had already exited by itself."""
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # reaped already
        return True
    if done:
        return True
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return False


def _wait_exit(pid: int, timeout_s: float = 60.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
    _kill(pid)
    raise AssertionError(f"process {pid} did not finish in {timeout_s} s")


def _wait_port(port: int, pid: int, log: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if os.waitpid(pid, os.WNOHANG)[0]:
            raise AssertionError(f"server exited: {log.read_text()[-2000:]}")
        time.sleep(0.01)
    _kill(pid)
    raise AssertionError("server did not listen")


def _events(markers: Path, since: float) -> list[tuple[str, float]]:
    if not markers.exists():
        return []
    found = []
    for line in markers.read_text().splitlines():
        name, _, at = line.partition(" ")
        if at and float(at) >= since:
            found.append((name, float(at)))
    return found


def _landed(markers: Path, since: float) -> str:
    """Where a kill lands, from the child's markers after `since`: its first session transaction is the write."""
    events = _events(markers, since)
    begun = next((at for name, at in events if name == "begin"), None)
    if begun is None:
        return "before-transaction"
    commit = next((at for name, at in events if name == "commit" and at >= begun), None)
    end = next((at for name, at in events if name == "end" and at >= begun), None)
    if commit is None:
        return "in-transaction"
    return "after-commit" if end is not None else "committing"


def _txn_seconds(markers: Path, since: float) -> float:
    events = _events(markers, since)
    begun = next(at for name, at in events if name == "begin")
    return next(at for name, at in events if name == "end" and at >= begun) - begun


def _txn_statements(markers: Path, since: float) -> int:
    """How many statements the first transaction after since sent."""
    events = _events(markers, since)
    begun = next(at for name, at in events if name == "begin")
    end = next(at for name, at in events if name == "end" and at >= begun)
    return sum(1 for name, at in events if name == "stmt" and begun <= at <= end)


def _wait_event(markers: Path, since: float, name: str, nth: int, pid: int, timeout_s: float = 30.0) -> float | None:
    """Wait for the child's nth `name` marker after since; None if the child exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        times = [at for n, at in _events(markers, since) if n == name]
        if len(times) >= nth:
            return times[nth - 1]
        if os.waitpid(pid, os.WNOHANG)[0]:
            return None
        time.sleep(0.001)
    raise AssertionError(f"no {name} marker in {timeout_s} s")


# ---------------------------------------------------------------------------------- data


def _seed(session: Any) -> int:
    site = Site(name="Thôn Đồng Bùa", commune=Commune(name="Hướng Đạo", region=Region(name="Tuyên Quang")))
    for i in range(20):
        site.devices.append(
            Device(name=f"cam {i}", kind="camera", ip=f"127.0.1.{i + 1}", mac=f"00:11:22:33:55:{i:02x}")
        )
    session.add(site)
    session.flush()
    return site.id


def _survey_document(started: str, n_hosts: int) -> dict[str, Any]:
    """A survey of n_hosts hosts: 20 known cameras (observations, findings), the rest candidates, a snapshot in 24."""
    import base64

    snap = base64.b64encode(JPEG).decode()
    hosts = []
    for i in range(n_hosts):
        ip = f"127.0.{1 + i // 250}.{1 + i % 250}"
        host: dict[str, Any] = {
            "ip": ip, "mac": f"00:11:22:33:{0x55 + i // 256:02x}:{i % 256:02x}", "vendor": "Acme", "kind": "camera",
            "open_ports": [80, 554],
            "link": {"sent": 20, "received": 19, "loss_ratio": 0.05, "rtt_min_ms": 0.1, "rtt_avg_ms": 0.3,
                     "rtt_max_ms": 0.9, "jitter_ms": 0.1},
            "onvif": {"endpoint": f"urn:uuid:crash-{i}", "manufacturer": "Acme", "model": "IPC-1", "firmware": "2.0",
                      "serial": f"S{i}", "auth": "ok", "profiles": []},
            "streams": [], "errors": [],
        }
        if i % 24 == 0:
            host["snapshot"] = {"source": "http", "uri": f"http://{ip}/snap.jpg", "width": 160, "height": 120,
                                "jpeg_base64": snap}
        hosts.append(host)
    return {"site": "Thôn Đồng Bùa", "started_at": started, "finished_at": started, "networks": ["127.0.0.0/21"],
            "hosts": hosts}


def _import_files(tmp: Path) -> tuple[Path, Path]:
    sites, devices = tmp / "sites.csv", tmp / "devices.csv"
    lines = ["region,commune,name,kind,latitude,longitude"]
    lines += [
        f"Tuyên Quang,Xã {s // 30},Thôn {s},school,{21 + s / 1000:.4f},{105 + s / 1000:.4f}" for s in range(N_SITES)
    ]
    sites.write_text("\n".join(lines) + "\n", encoding="utf-8")
    lines = ["region,commune,site,name,kind,ip,mac"]
    for d in range(N_DEVICES):
        s = d % N_SITES
        lines.append(f"Tuyên Quang,Xã {s // 30},Thôn {s},dev {d},camera,127.1.{d // 250}.{1 + d % 250},"
                     f"02:00:00:00:{d // 256:02x}:{d % 256:02x}")
    devices.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sites, devices


# ---------------------------------------------------------------------------------- checks

_COUNTED = {"surveys": Survey, "candidates": Candidate, "findings": Finding, "observations": Observation,
            "snapshots": SurveySnapshot, "sites": Site, "devices": Device}


def _counts(url: str) -> dict[str, int]:
    db = open_database(url, migrate=False)
    try:
        with db.session() as s:
            return {name: s.scalar(select(func.count()).select_from(model)) or 0 for name, model in _COUNTED.items()}
    finally:
        db.close()


def _sqlite_ok(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


def _outcome(counts: dict[str, int], empty: dict[str, int], full: dict[str, int]) -> str:
    if counts == empty:
        return "none"
    assert counts == full, f"half a write survived: {counts} (empty {empty}, full {full})"
    return "whole"


# ---------------------------------------------------------------------------------- backends


class Backend:
    """Fresh copies of a seeded template database, SQLite file or PostgreSQL database."""

    name = "sqlite"

    def __init__(self, tmp: Path, template: Path) -> None:
        self.tmp = tmp
        self.template = tmp / "template.sqlite3"
        shutil.copyfile(template, self.template)
        db = open_database(self.url_of(self.template))
        with db.session() as s:
            _seed(s)
            self.token = store.create_token(s, "editor")
        ensure_admin(db, tmp / "data")
        create_app({"DATABASE": db, "SECRET_KEY": "warm-up"})  # its lazy imports done once, before the forks
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        self.path: Path | None = None
        self._n = 0

    @staticmethod
    def url_of(path: Path) -> str:
        return f"sqlite:///{path}"

    def fresh(self) -> str:
        self._n += 1
        self.path = self.tmp / f"db{self._n}.sqlite3"
        shutil.copyfile(self.template, self.path)
        return self.url_of(self.path)

    def check(self) -> None:
        assert self.path is not None
        _sqlite_ok(self.path)

    def drop(self) -> None:
        assert self.path is not None
        for suffix in ("", "-wal", "-shm"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)


class PgBackend(Backend):
    name = "postgresql"

    def __init__(self, tmp: Path, server: Any) -> None:
        self.tmp, self.server, self._n = tmp, server, 0
        tag = f"crash{os.getpid()}_{time.monotonic_ns() % 10**8}"
        self.template_name = f"{tag}_t"
        server.execute(f"CREATE DATABASE {self.template_name} TEMPLATE inventory_template")
        db = open_database(server.url(self.template_name))
        with db.session() as s:
            _seed(s)
            self.token = store.create_token(s, "editor")
        ensure_admin(db, tmp / "data")
        create_app({"DATABASE": db, "SECRET_KEY": "warm-up"})
        db.close()
        self.current: str | None = None
        self.path = None

    def fresh(self) -> str:
        self._n += 1
        self.current = f"{self.template_name}_{self._n}"
        self.server.execute(f"CREATE DATABASE {self.current} TEMPLATE {self.template_name}")
        return self.server.url(self.current)

    def check(self) -> None:
        pass  # the server's own WAL: a killed client's transaction is rolled back; the counts tell the rest

    def drop(self) -> None:
        self.server.execute(f"DROP DATABASE IF EXISTS {self.current}")


@pytest.fixture
def sqlite_backend(tmp_path: Path, sqlite_template: Path) -> Backend:
    return Backend(tmp_path, sqlite_template)


@pytest.fixture
def pg_backend(tmp_path: Path, pg_server: Any) -> Backend:
    if pg_server is None:
        pytest.skip("PostgreSQL not available")
    return PgBackend(tmp_path, pg_server)


# ---------------------------------------------------------------------------------- import


#: Where a kill may land, and what the database may hold then.
ALLOWED = {"before-transaction": {"none"}, "in-transaction": {"none"}, "committing": {"none", "whole"},
           "after-commit": {"whole"}, "exited": {"whole"}}


def _kill_at(pid: int, markers: Path, since: float, plan: tuple[str, float]) -> tuple[float, str]:
    """Kill pid per plan: ("start", d) d s after since, ("stmt", k) at once after the kth statement of its
    write transaction, ("commit", d) d s after the driver was asked to COMMIT it."""
    how, delay = plan
    at = since
    if how == "stmt":
        began = _wait_event(markers, since, "begin", 1, pid)
        if began is not None:
            _wait_event(markers, began, "stmt", int(delay), pid)
        return _kill_and_place(pid, markers, since)
    if how == "commit":  # the driver's COMMIT of the write transaction (not alembic's)
        began = _wait_event(markers, since, "begin", 1, pid)
        committing = _wait_event(markers, began, "commit", 1, pid) if began is not None else None
        at = committing if committing is not None else time.monotonic()
    time.sleep(max(0.0, at + delay - time.monotonic()))
    return _kill_and_place(pid, markers, since)


def _kill_and_place(pid: int, markers: Path, since: float) -> tuple[float, str]:
    """SIGKILL pid, then read where it was from its markers: once it is dead they are final (read before
    the kill, the child could still write "commit" and COMMIT between the read and the signal)."""
    exited = _kill(pid)
    return time.monotonic() - since, "exited" if exited else _landed(markers, since)


def _plans(rng: random.Random, kills: int, total: float, statements: int) -> list[tuple[str, float]]:
    """Most kills land inside the transaction (after one of its first 95 % of statements), one in ten at its
    COMMIT, the rest anywhere in the run (timed from its start)."""
    plans: list[tuple[str, float]] = []
    for n in range(kills):
        if n % 10 == 5:
            plans.append(("commit", rng.uniform(0.0, 0.01)))
        elif n % 3:
            plans.append(("stmt", rng.randint(1, max(1, int(statements * 0.95)))))
        else:
            plans.append(("start", rng.uniform(0.0, total * 1.1)))
    return plans


def _import_kills(backend: Backend, kills: int, rng: random.Random) -> list[Kill]:
    tmp = backend.tmp
    files = [str(p) for p in _import_files(tmp)]
    log, markers = tmp / "import.log", tmp / "import.markers"
    # One full import: its counts are "whole"; its timing spreads the kills over the transaction.
    url = backend.fresh()
    empty = _counts(url)
    started = time.monotonic()
    pid = _fork_cli(["import", *files, "--db", url], log, markers)
    assert _wait_exit(pid) == 0, log.read_text()
    total = time.monotonic() - started
    txn, statements = _txn_seconds(markers, started), _txn_statements(markers, started)
    full = _counts(url)
    assert full["sites"] - empty["sites"] == N_SITES and full["devices"] - empty["devices"] == N_DEVICES, (
        log.read_text()
    )
    backend.drop()
    record = []
    for n, plan in enumerate(_plans(rng, kills, total, statements)):
        url = backend.fresh()
        since = time.monotonic()
        pid = _fork_cli(["import", *files, "--db", url], log, markers)
        after, landed = _kill_at(pid, markers, since, plan)
        backend.check()
        outcome = _outcome(_counts(url), empty, full)
        assert outcome in ALLOWED[landed], f"kill {n} {plan} landed {landed} but the database holds {outcome}"
        record.append(Kill(f"import ({backend.name})", n, round(after, 4), landed, outcome))
        backend.drop()
    print(f"\nimport ({backend.name}): full run {total:.2f} s, its transaction {txn:.3f} s, {statements} statements")
    return record


def test_import_killed_50_times_is_whole_or_absent_sqlite(sqlite_backend: Backend) -> None:
    kills = _import_kills(sqlite_backend, KILLS, random.Random(SEED))
    _record(sqlite_backend.tmp, kills)
    assert len(kills) == KILLS
    assert sum(k.landed == "in-transaction" for k in kills) >= KILLS // 2


def test_import_killed_is_whole_or_absent_postgresql(pg_backend: Backend) -> None:
    kills = _import_kills(pg_backend, PG_KILLS, random.Random(SEED + 1))
    _record(pg_backend.tmp, kills)
    assert {k.outcome for k in kills} <= {"none", "whole"}


# ---------------------------------------------------------------------------------- survey ingestion


def _post(url: str, token: str, body: bytes, out: dict[str, Any]) -> None:
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            out["status"] = resp.status
    except urllib.error.HTTPError as err:
        out["status"] = err.code
        out["body"] = err.read()[:500]
    except OSError as err:  # the server was killed mid-request
        out["error"] = str(err)
    out["at"] = time.monotonic()


def _ingest_kills(backend: Backend, kills: int, rng: random.Random) -> list[Kill]:
    n_hosts = N_HOSTS if backend.name == "sqlite" else PG_HOSTS  # one flush per candidate: slower on a server
    body = json.dumps(_survey_document("2025-03-01T08:00:00+07:00", n_hosts)).encode()
    log, markers = backend.tmp / "serve.log", backend.tmp / "serve.markers"
    record: list[Kill] = []
    plans: list[tuple[str, float]] = []
    empty = full = None
    for n in range(kills + 1):  # run 0 is whole: its counts and timing shape the kills
        url = backend.fresh()
        if empty is None:
            empty = _counts(url)
        port = free_port()
        pid = _fork_cli(["serve", "--db", url, "--listen", f"127.0.0.1:{port}", "--data-dir",
                         str(backend.tmp / "data")], log, markers)
        _wait_port(port, pid, log)
        answer: dict[str, Any] = {}
        thread = threading.Thread(target=_post, args=(f"http://127.0.0.1:{port}/api/v1/surveys", backend.token,
                                                      body, answer), daemon=True)
        since = time.monotonic()
        thread.start()
        if n == 0:
            thread.join(60)
            assert answer.get("status") == 201, (answer, log.read_text()[-2000:])
            total = answer["at"] - since
            _kill(pid)
            txn, statements = _txn_seconds(markers, since), _txn_statements(markers, since)
            full = _counts(url)
            assert full["surveys"] == empty["surveys"] + 1 and full["candidates"] - empty["candidates"] == n_hosts - 20
            plans = _plans(rng, kills, total, statements)
            print(f"\ningestion ({backend.name}): a full POST takes {total:.2f} s, its transaction {txn:.3f} s, "
                  f"{statements} statements")
        else:
            after, landed = _kill_at(pid, markers, since, plans[n - 1])
            thread.join(10)
            backend.check()
            outcome = _outcome(_counts(url), empty, full)
            assert outcome in ALLOWED[landed], f"kill {n} {plans[n - 1]} landed {landed}, database holds {outcome}"
            if answer.get("status") == 201:
                assert outcome == "whole", "the server answered 201 but the survey is not there"
            record.append(Kill(f"survey ingestion via serve ({backend.name})", n, round(after, 4), landed, outcome))
        backend.drop()
    return record


def test_survey_ingestion_killed_50_times_is_whole_or_absent_sqlite(sqlite_backend: Backend) -> None:
    kills = _ingest_kills(sqlite_backend, KILLS, random.Random(SEED + 2))
    _record(sqlite_backend.tmp, kills)
    assert len(kills) == KILLS
    assert sum(k.landed == "in-transaction" for k in kills) >= KILLS // 2


def test_survey_ingestion_killed_is_whole_or_absent_postgresql(pg_backend: Backend) -> None:
    kills = _ingest_kills(pg_backend, PG_KILLS, random.Random(SEED + 3))
    _record(pg_backend.tmp, kills)
    assert {k.outcome for k in kills} <= {"none", "whole"}


# ---------------------------------------------------------------------------------- the worker

WORKER_KILLS = 10
SETTINGS = """\
defaults:
  link: {interval_s: 0.5, count: 2, echo_interval_s: 0.05, timeout_s: 0.3}
"""


class SlowObservationAnswers:
    """WSGI middleware: counts observation items POSTed and holds each answer back a little after the commit,
    so some kills land between the inventory storing a batch and the worker noting it delivered."""

    def __init__(self, app: Callable[..., Any], hold_s: float) -> None:
        self.app, self.hold_s, self.posted = app, hold_s, 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == "/api/v1/observations" and environ.get("REQUEST_METHOD") == "POST":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            try:
                self.posted += len(json.loads(body))
            except (ValueError, TypeError):
                pass
            environ["wsgi.input"] = io.BytesIO(body)
            result = list(self.app(environ, start_response))
            time.sleep(self.hold_s)
            return result
        return self.app(environ, start_response)


def _start_worker(tmp: Path, url: str) -> subprocess.Popen[str]:
    log = open(tmp / "worker.log", "a")  # noqa: SIM115 - kept by the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "sitescout", "-v", "worker", "--inventory", url, "--token-file", str(tmp / "token"),
         "--settings", str(tmp / "settings.yaml"), "--listen", "127.0.0.1:0", "--refresh", "1",
         "--flush-interval", "0.2", "--observations-spool", str(tmp / "spool.jsonl")],
        stdout=subprocess.PIPE, stderr=log, text=True)
    log.close()
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("ready"):
        proc.kill()
        proc.wait()
        pytest.fail(f"worker did not start: {line!r} {(tmp / 'worker.log').read_text()[-3000:]}")
    return proc


def _spool_lines(tmp: Path) -> list[dict[str, Any]]:
    text = (tmp / "spool.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def _acked(tmp: Path) -> int:
    path = tmp / "spool.jsonl.acked"
    return int(path.read_text().strip() or 0) if path.exists() else 0


def test_worker_killed_loses_no_queued_observation(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "inventory.sqlite3"
    shutil.copyfile(sqlite_template, path)
    database = open_database(f"sqlite:///{path}")
    with database.session() as s:
        site = Site(name="Thôn Crash", commune=Commune(name="Xã K", region=Region(name="R")))
        for i in range(4):
            site.devices.append(Device(name=f"switch {i}", kind="switch", ip=f"127.0.0.{i + 1}"))
        s.add(site)
        token = store.create_token(s, "worker")
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "settings.yaml").write_text(SETTINGS)
    middleware = SlowObservationAnswers(create_app({"DATABASE": database, "SITES_CACHE_SECONDS": 0}), hold_s=0.15)
    inventory = WebServer(middleware)
    inventory.start()
    url = f"http://127.0.0.1:{inventory.port}"
    rng = random.Random(SEED + 4)
    record = []
    try:
        for n in range(WORKER_KILLS):
            proc = _start_worker(tmp_path, url)
            time.sleep(rng.uniform(0.4, 1.0))
            outage = n % 2 == 0  # even cycles: the inventory goes away and the worker queues
            if outage:
                inventory.stop()
            delay = rng.uniform(0.2, 1.0)
            time.sleep(delay)
            before = len(_spool_lines(tmp_path)) - _acked(tmp_path)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            record.append({"n": n, "during": "outage" if outage else "flushing", "delay_s": round(delay, 3),
                           "undelivered_at_kill": before})
            if not inventory.up:
                inventory.start()
        proc = _start_worker(tmp_path, url)  # the last start delivers what is left, then stops cleanly
        deadline = time.monotonic() + 20
        while _acked(tmp_path) < len(_spool_lines(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    finally:
        inventory.stop()
    queued = _spool_lines(tmp_path)
    assert _acked(tmp_path) == len(queued), "the worker did not deliver its spool"
    names = {}
    with database.session() as s:
        names = {d.id: d.name for d in s.scalars(select(Device))}
        stored = [(names[o.device_id], o.kind, o.observed_at) for o in s.scalars(
            select(Observation).where(Observation.survey_id.is_(None)))]
    database.close()
    expected = [(o["device"], o["kind"], datetime.fromtimestamp(o["observed_at"], timezone.utc)) for o in queued]
    assert len(set(expected)) == len(expected)
    assert len(stored) == len(set(stored)), "an observation is stored twice"
    missing = set(expected) - set(stored)
    assert not missing, f"{len(missing)} queued observation(s) never reached the inventory"
    assert set(stored) == set(expected)
    undelivered = sum(r["undelivered_at_kill"] for r in record)
    print(f"\nworker: {WORKER_KILLS} SIGKILLs ({sum(r['during'] == 'outage' for r in record)} during an outage), "
          f"{len(queued)} observations queued, {undelivered} undelivered at the kills, all stored once; "
          f"{middleware.posted} items POSTed ({middleware.posted - len(queued)} re-sent, stored once)")
    (tmp_path / "crash-record.json").write_text(json.dumps(record, indent=1))
    assert undelivered > 0, "no kill found observations waiting: the test proved nothing"
