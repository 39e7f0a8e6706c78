"""The inventory handle of the app (opened once) and the session of each request (closed on teardown)."""

from __future__ import annotations

import logging
from contextlib import ExitStack

from flask import Flask, current_app, g
from sqlalchemy import event
from sqlalchemy.orm import Session

from sitescout.inventory.db import Database, default_database_url, open_database

__all__ = ["init_app", "get_database", "db_session", "commit_session", "discard_session", "inventory_changed"]

log = logging.getLogger(__name__)

_KEY = "sitescout_db"
#: Set in a session's `info` once it has flushed a change (an insert, update or delete).
_FLUSHED = "sitescout_flushed"


def _note_flush(session: Session, _context: object) -> None:
    session.info[_FLUSHED] = True


def init_app(app: Flask) -> None:
    """Open the inventory named by DATABASE_URL (or take DATABASE, an open one) and close sessions on teardown."""
    database = app.config.get("DATABASE")
    if database is None:
        database = open_database(app.config.get("DATABASE_URL") or default_database_url())
    app.extensions[_KEY] = database
    app.teardown_appcontext(_close_session)
    if not event.contains(Session, "after_flush", _note_flush):
        event.listen(Session, "after_flush", _note_flush)


def get_database() -> Database:
    """Return the app's open inventory."""
    return current_app.extensions[_KEY]


def db_session() -> Session:
    """Return this request's inventory session: one transaction, committed when the request ends well."""
    if "db_stack" not in g:
        stack = ExitStack()
        g.db_session = stack.enter_context(get_database().session())
        g.db_stack = stack
    return g.db_session


def _close_session(error: BaseException | None) -> None:
    stack: ExitStack | None = g.pop("db_stack", None)
    g.pop("db_session", None)
    if stack is None:
        return
    if error is None:
        stack.close()
    else:
        stack.__exit__(type(error), error, error.__traceback__)


def commit_session() -> None:
    """Commit this request's transaction now, so a view can report a conflict instead of failing at teardown."""
    stack: ExitStack | None = g.pop("db_stack", None)
    session: Session | None = g.pop("db_session", None)
    if stack is None:
        return
    changed = session is not None and bool(session.info.get(_FLUSHED) or session.new or session.dirty
                                           or session.deleted)
    stack.close()  # raises (ConflictError…) when the commit fails: then nothing changed
    if changed:
        g.inventory_changed = True


def inventory_changed() -> bool:
    """Return True once this request has committed a change to the inventory (caches built before are stale)."""
    return bool(g.get("inventory_changed"))


def discard_session() -> None:
    """Roll back this request's transaction now: a refused write leaves nothing behind, not even half."""
    stack: ExitStack | None = g.pop("db_stack", None)
    session: Session | None = g.pop("db_session", None)
    if stack is None:
        return
    if session is not None:
        session.rollback()
    stack.close()  # commits an empty transaction: nothing
