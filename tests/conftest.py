"""Fixtures shared by the test modules (as flaskr's conftest holds app, client, runner and auth).

- The inventory database, fresh and migrated for each test, on SQLite and on a real PostgreSQL: `database`
  (and `db_url`, `pg_server`, `sqlite_template` beneath it). A module that runs on SQLite only says
  ``DATABASE_BACKENDS = ("sqlite",)``.
- The web app on that database: `site_ids` (the demo commune seeded), `tokens` (one API token per role),
  `admin` (an admin user), `app`, `client`. Helpers that are not fixtures (`login`, `bearer`, `make_app`,
  `free_port`, ...) are in tests/support.py.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import make_app
from web_seed import seed_commune

from sitescout.infra.lab.postgres import PostgresServer, postgres_unavailable_reason
from sitescout.inventory import store
from sitescout.inventory.db import Database, open_database

pytest_plugins = ["sitescout.infra.lab.pytest_plugin"]

#: The database backends a test runs on unless its module sets DATABASE_BACKENDS.
ALL_BACKENDS = ("sqlite", "postgresql")
#: The roles that get a token in the `tokens` fixture.
TOKEN_ROLES = ("admin", "editor", "viewer", "worker")

_counter = itertools.count()


def pytest_configure(config: object) -> None:
    """Tests that read the command's English words run in English even on a Vietnamese machine.

    The command follows LC_ALL / LC_MESSAGES / LANG (src/sitescout/i18n.py); tests of the
    Vietnamese output pass ``--lang vi`` or their own environment.
    """
    import os

    from sitescout.i18n import detect_language

    if detect_language() == "vi":
        for name in ("LC_ALL", "LC_MESSAGES"):
            os.environ.pop(name, None)
        os.environ["LANG"] = "C.UTF-8"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that uses the database once per backend its module names (all by default)."""
    if "db_url" in metafunc.fixturenames:
        backends = getattr(metafunc.module, "DATABASE_BACKENDS", ALL_BACKENDS)
        metafunc.parametrize("db_url", backends, indirect=True)


@pytest.fixture(autouse=True)
def _command_language_kept() -> Iterator[None]:
    """A test that switches the command's language (``--lang vi`` run in-process) leaves it as it was."""
    from sitescout import i18n

    before = i18n.language()
    yield
    if i18n.language() != before:
        i18n.set_language(before)


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


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """Return the URL of a fresh migrated database on the backend named by the test's parameter."""
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


@pytest.fixture
def site_ids(database: Database) -> dict[str, int]:
    """Seed the demo commune and the frozen-camera site (tests/web_seed.py); return site ids by name."""
    return seed_commune(database)


@pytest.fixture
def tokens(database: Database) -> dict[str, str]:
    """Return one API token per role in TOKEN_ROLES."""
    with database.session() as session:
        return {role: store.create_token(session, role) for role in TOKEN_ROLES}


@pytest.fixture
def admin(database: Database) -> tuple[str, str]:
    """Create the admin user "admin" (web_seed makes only the viewer and the editor); return its credential."""
    with database.session() as session:
        store.create_user(session, "admin", "admin-password", "admin")
    return "admin", "admin-password"


@pytest.fixture
def app(database: Database, site_ids: dict[str, int]) -> Any:
    """Return the web app on the seeded database."""
    return make_app(database)


@pytest.fixture
def client(app: Any) -> Any:
    """Return a test client of `app`, not logged in."""
    return app.test_client()
