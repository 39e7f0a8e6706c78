"""API tokens (only their SHA-256 stored) and UI users (scrypt password hashes)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from sitescout.inventory.models import ApiToken, User, ValidationError, WebSession, utcnow

__all__ = [
    "SCOPED_ROLES", "TokenGrant",
    "create_token", "issue_token", "check_token", "find_token", "create_user", "check_user", "set_password",
    "start_web_session", "find_web_session", "end_web_session",
]

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_TOKEN_PREFIX = "sst_"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class TokenGrant:
    """What a token may do: its role and, for a scoped token, the site ids it serves (None: every site)."""

    token_id: int
    role: str
    sites: frozenset[int] | None


def create_token(session: Session, role: str, *, label: str = "", sites: Collection[int] | None = None,
                 expires_at: datetime | None = None) -> str:
    """Create an API token for role and return its plaintext (shown once, never stored).

    `sites` scopes a worker token: /sd/prometheus gives it only those sites' devices, and it
    may post observations only for them (one compromised worker cannot hide another site's outage);
    an alertmanager token posts alerts only for them.  Other roles take no scope (SCOPED_ROLES).
    After `expires_at` (if given) the token is refused.
    """
    return issue_token(session, role, label=label, sites=sites, expires_at=expires_at)[1]


#: The roles whose tokens honour a scope (`sites`): a worker's (/sd/prometheus and observations) and
#: Alertmanager's (alerts).  Others are refused one: a scoped viewer or admin would still see or do everything.
SCOPED_ROLES = frozenset({"worker", "alertmanager"})


def issue_token(session: Session, role: str, *, label: str = "", sites: Collection[int] | None = None,
                expires_at: datetime | None = None) -> tuple[int, str]:
    """Create an API token as `create_token` does; return (its id, its plaintext).

    Raises:
        ValidationError: `sites` given for a role not in SCOPED_ROLES.
    """
    if sites is not None and str(role) not in SCOPED_ROLES:
        raise ValidationError("sites", f"a {role} token cannot be scoped to sites; only "
                                       f"{' and '.join(sorted(SCOPED_ROLES))} tokens can")
    token = _TOKEN_PREFIX + secrets.token_urlsafe(32)
    scope = sorted(set(sites)) if sites is not None else None
    row = ApiToken(token_sha256=_sha256(token), role=str(role), label=label, sites=scope, expires_at=expires_at)
    session.add(row)
    session.flush()
    return int(row.id), token


def find_token(session: Session, token: str | None) -> TokenGrant | None:
    """Return what a token grants, or None when it is unknown, revoked or expired."""
    if not token:
        return None
    row = session.execute(select(ApiToken.id, ApiToken.role, ApiToken.sites)
                          .where(ApiToken.token_sha256 == _sha256(token.strip()),
                                 or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow()))).first()
    if row is None:
        return None
    sites = frozenset(int(s) for s in row.sites) if isinstance(row.sites, list) else None
    return TokenGrant(int(row.id), str(row.role), sites)


def check_token(session: Session, token: str | None) -> str | None:
    """Return the role of a token, or None when it is unknown."""
    grant = find_token(session, token)
    return grant.role if grant else None


def _hash_password(password: str, salt: bytes) -> str:
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def _verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_hex, digest_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)


def create_user(session: Session, username: str, password: str, role: str) -> int:
    """Create a UI user and return its id."""
    if len(password) < 8:
        raise ValidationError("password", "use at least 8 characters")
    user = User(username=username.strip(), password_hash=_hash_password(password, secrets.token_bytes(16)), role=role)
    session.add(user)
    session.flush()
    return user.id


def set_password(session: Session, username: str, password: str) -> bool:
    """Replace a user's password; return False when there is no such user."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        return False
    if len(password) < 8:
        raise ValidationError("password", "use at least 8 characters")
    user.password_hash = _hash_password(password, secrets.token_bytes(16))
    return True


_DUMMY_HASH = _hash_password("not a password", b"0" * 16)


def check_user(session: Session, username: str, password: str) -> str | None:
    """Return the user's role when the password is right, else None (same cost either way)."""
    user = session.scalar(select(User).where(User.username == username.strip()))
    ok = _verify_password(password, user.password_hash if user else _DUMMY_HASH)
    return user.role if user and ok else None


def start_web_session(session: Session, username: str, lifetime: timedelta) -> str:
    """Record a new UI login session of `username` and return its id (for the signed cookie; only its hash is kept).

    Sessions that have expired are deleted on the way.
    """
    now = utcnow()
    # Write first: on SQLite a transaction that reads before it writes cannot wait for the lock
    # (two logins at once failed with "database is locked"); one that writes first waits its turn.
    session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    user_id = session.scalar(select(User.id).where(User.username == username.strip()))
    if user_id is None:
        raise LookupError(f"no user {username!r}")
    session_id = secrets.token_urlsafe(32)
    session.add(WebSession(id_sha256=_sha256(session_id), user_id=user_id, created_at=now, expires_at=now + lifetime))
    session.flush()
    return session_id


def find_web_session(session: Session, session_id: str | None, username: str) -> tuple[str, str] | None:
    """Return (role, password hash) of `username` if `session_id` is a live session of theirs, else None."""
    if not session_id or not isinstance(session_id, str):
        return None
    row = session.execute(
        select(User.role, User.password_hash).join(WebSession, WebSession.user_id == User.id)
        .where(WebSession.id_sha256 == _sha256(session_id), User.username == username,
               WebSession.expires_at > utcnow())
    ).first()
    return (str(row.role), str(row.password_hash)) if row is not None else None


def end_web_session(session: Session, session_id: str | None) -> bool:
    """Delete a UI session (logout): a copy of its cookie no longer logs anyone in.  Return whether it existed."""
    if not session_id or not isinstance(session_id, str):
        return False
    result = session.execute(delete(WebSession).where(WebSession.id_sha256 == _sha256(session_id)))
    return bool(getattr(result, "rowcount", 0))
