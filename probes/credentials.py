"""Camera credential sets, loaded from a TOML file; passwords never reach a repr, log or error."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Credential", "CredentialsFileError", "load_credentials"]

_ALLOWED_KEYS = frozenset({"username", "password"})


@dataclass(frozen=True)
class Credential:
    """One username/password pair to try on cameras."""

    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credential(username={self.username!r}, password='***')"

    __str__ = __repr__


class CredentialsFileError(ValueError):
    """The credentials file is missing, unreadable or not in the expected shape."""

    def __init__(self, path: str | Path, detail: str) -> None:
        self.path = str(path)
        self.detail = detail
        super().__init__(f"{path}: {detail}")


def load_credentials(path: str | Path) -> list[Credential]:
    """Read `[[credentials]]` tables (username, password) from a TOML file, in file order.

    Raises:
        CredentialsFileError: naming the file and the entry; never quoting a password.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise CredentialsFileError(path, f"cannot read: {err.strerror or err}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CredentialsFileError(path, "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        # tomllib's message gives line/column only, never the offending value.
        raise CredentialsFileError(path, f"not valid TOML ({err})") from None
    unknown = sorted(set(doc) - {"credentials"})
    if unknown:
        raise CredentialsFileError(path, f"unknown top-level key(s) {', '.join(unknown)}; expected [[credentials]] tables")
    entries = doc.get("credentials")
    if entries is None:
        raise CredentialsFileError(path, "no [[credentials]] entries")
    if not isinstance(entries, list):
        raise CredentialsFileError(path, "'credentials' must be an array of tables ([[credentials]])")
    return [_parse_entry(path, index, entry) for index, entry in enumerate(entries, start=1)]


def _parse_entry(path: str | Path, index: int, entry: object) -> Credential:
    where = f"credentials entry {index}"
    if not isinstance(entry, dict):
        raise CredentialsFileError(path, f"{where}: must be a table with username and password")
    unknown = sorted(set(entry) - _ALLOWED_KEYS)
    if unknown:
        raise CredentialsFileError(path, f"{where}: unknown key(s) {', '.join(unknown)}")
    username = entry.get("username")
    password = entry.get("password")
    if not isinstance(username, str) or not username:
        raise CredentialsFileError(path, f"{where}: 'username' must be a non-empty string")
    if password is None:
        raise CredentialsFileError(path, f"{where} (username {username!r}): 'password' is missing")
    if not isinstance(password, str):
        # Say the type, never the value.
        raise CredentialsFileError(
            path, f"{where} (username {username!r}): 'password' must be a string, not {type(password).__name__}"
        )
    return Credential(username, password)
