"""A throwaway PostgreSQL server for tests: Debian's binaries, a unix socket in a temp dir, removed after.

As root the server runs as the ``postgres`` system user (initdb refuses root); otherwise as
the current user.  It listens on no TCP port at all, only on ``<tmpdir>/.s.PGSQL.5432``.
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PostgresServer", "find_postgres_bin", "postgres_unavailable_reason"]

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 30.0


def find_postgres_bin() -> Path | None:
    """Return the newest /usr/lib/postgresql/N/bin that has initdb and postgres, or None."""
    dirs = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0
    )
    for d in reversed(dirs):
        if os.access(f"{d}/initdb", os.X_OK) and os.access(f"{d}/postgres", os.X_OK):
            return Path(d)
    return None


def postgres_unavailable_reason() -> str | None:
    """Return why a test server cannot start here, or None when it can."""
    if find_postgres_bin() is None:
        return "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


class PostgresServer:
    """Start with ``start()``, get ``url(dbname)``, end with ``stop()`` (also a context manager)."""

    def __init__(self) -> None:
        self.bin = find_postgres_bin()
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def _owner(self) -> dict[str, object]:
        # Popen switches user itself, so signals reach postgres directly (runuser would sit between).
        return {"user": "postgres", "group": "postgres", "extra_groups": []} if os.geteuid() == 0 else {}

    def start(self) -> PostgresServer:
        """Initialise a cluster and start the server; raise RuntimeError with its log if it fails."""
        reason = postgres_unavailable_reason()
        if reason or self.bin is None:
            raise RuntimeError(reason or "no PostgreSQL")
        self.dir = Path(tempfile.mkdtemp(prefix="sitescout-pg-"))
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        data = self.dir / "data"
        subprocess.run(
            [str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--no-locale", "--no-sync"],
            check=True, capture_output=True, timeout=120, cwd=self.dir, **self._owner(),  # type: ignore[call-overload]
        )
        logfile = open(self.dir / "server.log", "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(  # type: ignore[call-overload]
            [str(self.bin / "postgres"), "-D", str(data), "-k", str(self.dir),
             "-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=200"],
            stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.dir, **self._owner(),
        )
        logfile.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log_tail()}")
            try:
                with psycopg.connect(host=str(self.dir), user="postgres", dbname="postgres", connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"postgres did not start in {_START_TIMEOUT_S:.0f} s: {self.log_tail()}"
                    ) from None
                time.sleep(0.1)

    def log_tail(self) -> str:
        """Return the end of the server log."""
        if self.dir is None or not (self.dir / "server.log").exists():
            return ""
        return (self.dir / "server.log").read_text(errors="replace")[-2000:]

    def url(self, dbname: str = "postgres") -> str:
        """Return the SQLAlchemy URL of a database on this server."""
        return f"postgresql+psycopg://postgres@/{dbname}?host={self.dir}"

    def execute(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE)."""
        import psycopg

        with psycopg.connect(host=str(self.dir), user="postgres", dbname="postgres", autocommit=True,
                             connect_timeout=5) as conn:
            conn.execute(sql)

    def stop(self) -> None:
        """Stop the server (fast shutdown, then kill) and delete its directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
