"""Camera credentials encrypted at rest (Fernet) with a key the operator provides.

The key comes from ``SITESCOUT_SECRET_KEY`` (the key itself) or ``SITESCOUT_SECRET_KEY_FILE``
(a file holding it), or a path given by the caller.  Store functions for the API only
say whether a credential exists; ``get_device_credential`` is the worker's accessor.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.orm import Session

from sitescout.inventory.errors import SecretKeyError  # defined with the package's other errors; kept importable here
from sitescout.inventory.models import Device, ValidationError

__all__ = [
    "SecretKeyError",
    "DeviceCredential",
    "generate_key",
    "load_key",
    "set_device_credential",
    "get_device_credential",
    "clear_device_credential",
]

ENV_KEY = "SITESCOUT_SECRET_KEY"
ENV_KEY_FILE = "SITESCOUT_SECRET_KEY_FILE"


@dataclass(frozen=True)
class DeviceCredential:
    """A camera login; the password never appears in repr."""

    username: str
    password: str = field(repr=False)


def generate_key() -> str:
    """Return a new random key (urlsafe base64, 32 bytes) to keep in a file or the environment."""
    return Fernet.generate_key().decode()


def load_key(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> bytes:
    """Return the key from path, SITESCOUT_SECRET_KEY or SITESCOUT_SECRET_KEY_FILE (in that order)."""
    env = os.environ if environ is None else environ
    if path is None and env.get(ENV_KEY):
        raw, origin = env[ENV_KEY], ENV_KEY
    else:
        file = path or env.get(ENV_KEY_FILE)
        if not file:
            raise SecretKeyError(
                f"no key for camera credentials: set {ENV_KEY} or {ENV_KEY_FILE} "
                "(make one with: python -c "
                "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
            )
        try:
            raw, origin = Path(file).read_text().strip(), str(file)
        except OSError as err:
            raise SecretKeyError(f"cannot read the key file {file}: {err.strerror}") from err
    try:
        Fernet(raw.strip().encode())
    except (ValueError, TypeError):
        raise SecretKeyError(f"the key in {origin} is not a Fernet key (32 bytes, urlsafe base64)") from None
    return raw.strip().encode()


def _device(session: Session, device_id: int) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise ValidationError("device", f"no device with id {device_id}")
    return device


def set_device_credential(session: Session, device_id: int, username: str, password: str, *, key: bytes) -> None:
    """Encrypt and store a device's login."""
    if not username:
        raise ValidationError("username", "must not be empty")
    payload = json.dumps({"username": username, "password": password}).encode()
    _device(session, device_id).credential_encrypted = Fernet(key).encrypt(payload)
    session.flush()


def get_device_credential(session: Session, device_id: int, *, key: bytes) -> DeviceCredential | None:
    """Return a device's decrypted login for the worker, or None when none is stored."""
    token = _device(session, device_id).credential_encrypted
    if token is None:
        return None
    try:
        data = json.loads(Fernet(key).decrypt(token))
    except InvalidToken:
        raise SecretKeyError(
            f"device {device_id}: the credential was stored with another key; give the original key or set it again"
        ) from None
    return DeviceCredential(username=data["username"], password=data["password"])


def clear_device_credential(session: Session, device_id: int) -> None:
    """Forget a device's login."""
    _device(session, device_id).credential_encrypted = None
    session.flush()
