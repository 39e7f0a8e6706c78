"""Managing who gets in: list, change and remove UI users and API tokens (the admin's work).

Creating them is `inventory.auth` (`create_user`, `issue_token`); this module adds what an
admin needs around that: listings without secrets, role and password changes guarded by an
ETag (optimistic locking), immediate token revocation, and the rule that the last admin
cannot be removed or demoted (nobody could manage access any more).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from sitescout.inventory.auth import set_password
from sitescout.inventory.choices import MACHINE_ROLES, Role
from sitescout.inventory.db import ConflictError
from sitescout.inventory.errors import StaleError  # defined with the package's other errors; kept importable here
from sitescout.inventory.models import ApiToken, User, ValidationError


__all__ = [
    "UserInfo", "TokenInfo", "StaleError", "list_users", "get_user", "find_user", "update_user", "delete_user",
    "list_tokens", "get_token", "revoke_token", "count_tokens", "count_users",
]


class _Jsonable:
    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (timestamps as ISO 8601)."""
        return {f.name: (v.isoformat() if isinstance(v := getattr(self, f.name), datetime) else v)
                for f in dataclasses.fields(self)}  # type: ignore[arg-type]


@dataclass
class UserInfo(_Jsonable):
    """A UI user as an admin sees them: never the password hash."""

    id: int
    username: str
    role: str
    created_at: datetime | None
    etag: str


@dataclass
class TokenInfo(_Jsonable):
    """An API token as an admin sees it: never the token nor its hash."""

    id: int
    role: str
    label: str
    created_at: datetime | None
    expires_at: datetime | None
    sites: list[int] | None


def _etag(user: User) -> str:
    # The password hash takes part (a new password changes the tag) but cannot be read back from it.
    raw = f"{user.id}\0{user.username}\0{user.role}\0{user.password_hash}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _user(user: User) -> UserInfo:
    return UserInfo(int(user.id), str(user.username), str(user.role), user.created_at, _etag(user))


def count_users(session: Session) -> int:
    """Return how many UI users there are."""
    return int(session.scalar(select(func.count()).select_from(User)) or 0)


def list_users(session: Session, *, offset: int = 0, limit: int = 100) -> list[UserInfo]:
    """Return UI users by name, one page of them."""
    rows = session.scalars(select(User).order_by(User.username).offset(offset).limit(limit))
    return [_user(u) for u in rows]


def get_user(session: Session, user_id: int) -> UserInfo | None:
    """Return one UI user, or None."""
    user = session.get(User, user_id)
    return _user(user) if user is not None else None


def find_user(session: Session, username: str) -> UserInfo | None:
    """Return the UI user of that name, or None."""
    user = session.scalar(select(User).where(User.username == username.strip()))
    return _user(user) if user is not None else None


def _other_admins(session: Session, user_id: int) -> int:
    # FOR UPDATE (PostgreSQL) keeps two admins from demoting each other at the same moment; SQLite
    # serialises writers anyway.
    ids = session.scalars(select(User.id).where(User.role == Role.ADMIN.value, User.id != user_id)
                          .with_for_update()).all()
    return len(ids)


def _check_not_last_admin(session: Session, user: User, what: str) -> None:
    if user.role == Role.ADMIN.value and _other_admins(session, user.id) == 0:
        raise ConflictError(f"{user.username!r} is the last admin and cannot be {what}; make another admin first")


def update_user(session: Session, user_id: int, *, role: str | None = None, password: str | None = None,
                if_match: str | None = None) -> UserInfo | None:
    """Change a user's role and/or password; None when there is no such user.

    Raises StaleError when `if_match` is given and is not the user's current ETag ("*" matches any),
    ConflictError when it would demote the last admin, ValidationError for a bad role or password.
    """
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        return None
    if if_match is not None and if_match != "*" and if_match != _etag(user):
        raise StaleError(f"user {user.username!r} was changed since it was read; read it again")
    if role is not None and role != user.role:
        if role not in {r.value for r in Role} or role in MACHINE_ROLES:
            raise ValidationError("role", "give a person admin, editor or viewer")
        _check_not_last_admin(session, user, "demoted")
        user.role = role
    if password is not None:
        set_password(session, user.username, password)
    session.flush()
    return _user(user)


def delete_user(session: Session, user_id: int, *, if_match: str | None = None) -> bool:
    """Remove a user (their login sessions go with them); False when there is no such user.

    Raises ConflictError for the last admin, StaleError when `if_match` no longer matches.
    """
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        return False
    if if_match is not None and if_match != "*" and if_match != _etag(user):
        raise StaleError(f"user {user.username!r} was changed since it was read; read it again")
    _check_not_last_admin(session, user, "removed")
    session.delete(user)
    session.flush()
    return True


def _token(row: ApiToken) -> TokenInfo:
    sites = [int(s) for s in row.sites] if isinstance(row.sites, list) else None
    return TokenInfo(int(row.id), str(row.role), str(row.label or ""), row.created_at, row.expires_at, sites)


def count_tokens(session: Session) -> int:
    """Return how many API tokens there are."""
    return int(session.scalar(select(func.count()).select_from(ApiToken)) or 0)


def list_tokens(session: Session, *, offset: int = 0, limit: int = 100) -> list[TokenInfo]:
    """Return API tokens, oldest first, one page of them (never the secret)."""
    rows = session.scalars(select(ApiToken).order_by(ApiToken.id).offset(offset).limit(limit))
    return [_token(t) for t in rows]


def get_token(session: Session, token_id: int) -> TokenInfo | None:
    """Return one token (never the secret), or None."""
    row = session.get(ApiToken, token_id)
    return _token(row) if row is not None else None


def revoke_token(session: Session, token_id: int) -> bool:
    """Delete a token: its next request is refused.  Return whether it existed."""
    result = session.execute(delete(ApiToken).where(ApiToken.id == token_id))
    return bool(getattr(result, "rowcount", 0))
