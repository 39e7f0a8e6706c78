"""Database fixtures for the inventory tests: every test runs on SQLite and on a real PostgreSQL.

Import the fixtures into a test module: ``from inventory_db import database, db_url, pg_server  # noqa: F401``.
Each test gets a fresh, migrated database (a copy of a template migrated once per run).
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitescout.infra.lab.postgres import PostgresServer, postgres_unavailable_reason
from sitescout.inventory.db import Database, open_database

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer | None]:
    """Yield a running PostgreSQL with a migrated template database, or None when unavailable."""
    if postgres_unavailable_reason():
        yield None
        return
    server = PostgresServer().start()
    try:
        server.execute("CREATE DATABASE inventory_template")
        open_database(server.url("inventory_template")).close()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a migrated SQLite file to copy for each test."""
    path = tmp_path_factory.mktemp("sqlite-template") / "inventory.sqlite3"
    db = open_database(f"sqlite:///{path}")
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """Return the URL of a fresh migrated database on each backend."""
    if request.param == "sqlite":
        target = tmp_path / "inventory.sqlite3"
        shutil.copyfile(sqlite_template, target)
        return f"sqlite:///{target}"
    reason = postgres_unavailable_reason()
    if reason:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = f"t{next(_counter)}"
    server.execute(f"CREATE DATABASE {name} TEMPLATE inventory_template")
    return server.url(name)


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """Yield an open inventory database (closed after the test)."""
    db = open_database(db_url)
    try:
        yield db
    finally:
        db.close()
