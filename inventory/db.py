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
    Coded,
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
        raise DatabaseError(Coded("not_a_database_url", "%(url)r is not a database URL; use sqlite:///PATH or "
                                  "postgresql://USER@HOST/DB", url=url)) from err
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            if not database.startswith("file:"):  # a SQLite URI filename (?uri=true) is SQLite's to read
                _check_sqlite_file(Path(database).expanduser())
            folder = Path(database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise DatabaseError(Coded("database_folder", "cannot create the folder %(folder)s of the database: "
                                          "%(reason)s", folder=str(folder), reason=err.strerror or str(err))) from err
            engine = create_engine(url, pool_timeout=10, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True, pool_timeout=10, connect_args={"connect_timeout": 10})
    raise DatabaseError(Coded("unsupported_database", "unsupported database %(backend)r; use sqlite:/// or "
                              "postgresql://", backend=parsed.get_backend_name()))


#: The first 16 bytes of every SQLite 3 database file (https://sqlite.org/fileformat.html, 1.3).
_SQLITE_HEADER = b"SQLite format 3\x00"


def _check_sqlite_file(path: Path) -> None:
    """Refuse, before SQLite opens it, a path that is a folder, cannot be read, or is not a SQLite file.

    SQLite's own words for these are "unable to open database file" and "file is not a database",
    which name neither the path nor what to do; an empty or missing file is a new inventory.
    """
    try:
        with path.open("rb") as f:
            head = f.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return
    except IsADirectoryError as err:
        raise DatabaseError(Coded("database_is_folder", "%(path)s is a folder, not a database file; give the "
                                  "file's path, e.g. sqlite:///%(path)s/inventory.sqlite3", path=str(path))) from err
    except OSError as err:  # no permission, a name too long …
        raise DatabaseError(Coded("database_unreadable", "cannot read %(path)s: %(reason)s", path=str(path),
                                  reason=err.strerror or str(err))) from err
    if head and head != _SQLITE_HEADER:
        raise DatabaseError(Coded("not_sqlite", "%(path)s is not a SQLite database (not an inventory); give the "
                                  "inventory's file, or a new file name to start one", path=str(path)))


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def _stored_revision(engine: Engine) -> str:
    """Return the schema revision the database says it has ("?" when it cannot be read)."""
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as connection:
            return str(MigrationContext.configure(connection).get_current_revision() or "?")
    except DriverDatabaseError:
        return "?"


def _head_revision(engine: Engine) -> str:
    """Return the newest schema revision this code knows."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(_alembic_config(engine)).get_current_head())


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration."""
    from alembic import command

    command.upgrade(_alembic_config(engine), "head")


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Open the inventory at url and upgrade its schema to the newest migration."""
    from alembic.util.exc import CommandError as MigrationError

    engine = _make_engine(url)
    shown = engine.url.render_as_string(hide_password=True)
    if migrate:
        try:
            upgrade(engine)
        except DriverDatabaseError as err:  # cannot open, not a database, locked, refused …
            engine.dispose()
            reason = str(err.orig).strip().splitlines()[0] if err.orig else str(err)
            raise DatabaseError(Coded("cannot_open_database", "cannot open %(url)s: %(reason)s", url=shown,
                                      reason=reason)) from err
        except MigrationError as err:  # its schema is one this code does not know: a newer sitescout wrote it
            revision = _stored_revision(engine)
            engine.dispose()
            raise DatabaseError(Coded("newer_schema", "%(url)s holds an inventory of a newer sitescout (schema "
                                      "%(revision)s; this one knows up to %(head)s): upgrade sitescout, or give "
                                      "another database", url=shown, revision=revision, head=_head_revision(
                                          engine))) from err
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
