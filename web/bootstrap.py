"""First start of the server: a kept session key and an admin credential written to a 0600 file."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from sitescout.inventory import store
from sitescout.inventory.db import Database
from sitescout.inventory.models import User

__all__ = ["AdminCredential", "ensure_admin", "load_secret_key", "default_data_dir"]

log = logging.getLogger(__name__)

ADMIN_FILE = "admin-credentials.txt"
SECRET_FILE = "web-secret-key"


@dataclass(frozen=True)
class AdminCredential:
    """Where the first start wrote the admin's user name, password and API token."""

    path: Path
    username: str


def default_data_dir() -> Path:
    """Return the user's sitescout data directory ($XDG_DATA_HOME/sitescout or ~/.local/share/sitescout)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sitescout"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Created with 0600 from the start: the secret is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def load_secret_key(data_dir: Path) -> str:
    """Return the session signing key kept in data_dir, creating it on first start."""
    path = data_dir / SECRET_FILE
    if path.is_file():
        key = path.read_text(encoding="utf-8").strip()
        if len(key) >= 32:
            return key
    key = secrets.token_hex(32)
    _write_private(path, key + "\n")
    return key


def ensure_admin(database: Database, data_dir: Path) -> AdminCredential | None:
    """Create user "admin" and an admin API token when the inventory has no user; return where they are written."""
    with database.session() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return None
        password = secrets.token_urlsafe(18)
        store.create_user(session, "admin", password, "admin")
        token = store.create_token(session, "admin", label="created on first start")
        path = data_dir / ADMIN_FILE
        _write_private(path, (
            "# sitescout: created on first start; keep this file private, change the password after logging in.\n"
            f"username = admin\npassword = {password}\napi_token = {token}\n"
        ))
    log.info("first start: admin credential written to %s", path)
    return AdminCredential(path=path, username="admin")
