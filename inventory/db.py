"""Opening the inventory database: SQLite by default (WAL, foreign keys), PostgreSQL by URL."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.exc import DatabaseError as DriverDatabaseError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import ColumnCollectionConstraint

from sitescout.inventory import alert_models  # noqa: F401  (registers the alert tables on Base.metadata)
from sitescout.inventory import workflow_models  # noqa: F401  (finding decisions, candidate sightings)
from sitescout.inventory.planning import catalogue  # noqa: F401  (registers the camera catalogue table)
from sitescout.inventory import state_models  # noqa: F401  (registers observation_latest on Base.metadata)
from sitescout.inventory.errors import (
    ConflictError,
    DatabaseError,
)  # defined with the package's other errors; kept importable here
from sitescout.inventory.models import UNIQUE_MESSAGES, Base

__all__ = [
    "Database",
    "DatabaseError",
    "ConflictError",
    "default_database_url",
    "open_database",
    "conflict_message",
]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def default_database_url() -> str:
    """Return the SQLite URL of the inventory in the user's data directory."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'sitescout' / 'inventory.sqlite3'}"


@dataclass
class Database:
    """An open, migrated inventory database."""

    engine: Engine
    url: str
    _factory: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Yield a session in one transaction: committed on success, rolled back on any error."""
        session = self._factory()
        try:
            yield session
            session.commit()
        except IntegrityError as err:
            session.rollback()
            message = conflict_message(err)
            if message:
                raise ConflictError(message) from err
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        """Release every connection."""
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling emits no BEGIN before a SAVEPOINT, so releasing one
    # committed half an ingestion; SQLAlchemy's documented recipe: we issue BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def _make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise DatabaseError(f"{url!r} is not a database URL; use sqlite:///PATH or postgresql://USER@HOST/DB") from err
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            folder = Path(database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise DatabaseError(f"cannot create the folder {folder} of the database: {err.strerror}") from err
            engine = create_engine(url, pool_timeout=10, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True, pool_timeout=10, connect_args={"connect_timeout": 10})
    raise DatabaseError(f"unsupported database {parsed.get_backend_name()!r}; use sqlite:/// or postgresql://")


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration."""
    from alembic import command

    command.upgrade(_alembic_config(engine), "head")


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Open the inventory at url and upgrade its schema to the newest migration."""
    engine = _make_engine(url)
    if migrate:
        try:
            upgrade(engine)
        except DriverDatabaseError as err:  # cannot open, not a database, locked, refused …
            engine.dispose()
            reason = str(err.orig).strip().splitlines()[0] if err.orig else str(err)
            raise DatabaseError(f"cannot open {engine.url.render_as_string(hide_password=True)}: {reason}") from err
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    log.debug("%s: inventory open", engine.url.render_as_string(hide_password=True))
    return Database(engine=engine, url=url, _factory=factory)


def _constraint_columns() -> dict[str, tuple[str, tuple[str, ...]]]:
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            if not isinstance(constraint, ColumnCollectionConstraint):
                continue
            cols = tuple(c.name for c in constraint.columns)
            if constraint.name and (table.name, cols) in UNIQUE_MESSAGES:
                found[str(constraint.name)] = (table.name, cols)
    return found


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")


def conflict_message(err: IntegrityError) -> str | None:
    """Return the person-readable message of a violated unique constraint, or None."""
    orig = err.orig
    diag = getattr(orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        key = _constraint_columns().get(name)
        return UNIQUE_MESSAGES.get(key) if key else None
    match = _SQLITE_UNIQUE.search(str(orig))
    if not match:
        return None
    pairs = [part.strip().split(".", 1) for part in match.group(1).split(",")]
    if not pairs or any(len(p) != 2 for p in pairs):
        return None
    return UNIQUE_MESSAGES.get((pairs[0][0], tuple(p[1] for p in pairs)))
