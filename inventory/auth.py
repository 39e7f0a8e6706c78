"""API tokens (only their SHA-256 stored) and UI users (scrypt password hashes)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitescout.inventory.models import ApiToken, User, ValidationError

__all__ = ["create_token", "check_token", "create_user", "check_user", "set_password"]

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_TOKEN_PREFIX = "sst_"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def create_token(session: Session, role: str, *, label: str = "") -> str:
    """Create an API token for role and return its plaintext (shown once, never stored)."""
    token = _TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(token_sha256=_sha256(token), role=str(role), label=label))
    session.flush()
    return token


def check_token(session: Session, token: str | None) -> str | None:
    """Return the role of a token, or None when it is unknown."""
    if not token:
        return None
    return session.scalar(select(ApiToken.role).where(ApiToken.token_sha256 == _sha256(token.strip())))


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
