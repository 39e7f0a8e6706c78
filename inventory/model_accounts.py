"""Who may use the inventory: API tokens, web UI users and their login sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sitescout.inventory.choices import MACHINE_ROLES, Role
from sitescout.inventory.errors import ValidationError
from sitescout.inventory.model_base import _ENUM_LEN, Base, UtcDateTime, _check_enum, _check_name, utcnow

__all__ = ["ApiToken", "User", "WebSession"]


class ApiToken(Base):
    """An API token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(_ENUM_LEN))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    #: Site ids a worker token serves (its targets and the only devices it may post for); None: every site.
    sites: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    #: After this the token is refused (None: it never expires).
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)

    def validate(self) -> None:
        """Check the role and the site scope."""
        _check_enum("role", self.role, Role)
        if self.sites is not None and (not isinstance(self.sites, list) or not all(
                isinstance(s, int) and not isinstance(s, bool) for s in self.sites)):
            raise ValidationError("sites", "a token's scope is a list of site ids, e.g. [3, 7]")


class User(Base):
    """A person who logs into the web UI (scrypt password hash)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("username"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(_ENUM_LEN))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, username={self.username!r}, role={self.role!r})"

    def validate(self) -> None:
        """Check the username and role (workers use tokens, not logins)."""
        _check_name("username", self.username)
        _check_enum("role", self.role, Role)
        if self.role in MACHINE_ROLES:
            raise ValidationError("role", f"{self.role} is a machine's role, used with a token; "
                                          "give a person admin, editor or viewer")


class WebSession(Base):
    """A login session of the UI: the cookie names it, logging out deletes it (a copied cookie then fails)."""

    __tablename__ = "web_sessions"

    #: SHA-256 of the random session id the signed cookie carries (a stolen database holds no live id).
    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
