"""Small pieces every subcommand needs: safe output files, the credentials option."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from sitescout.errors import CommandError, UsageError

__all__ = ["write_text_atomic", "load_credentials_option"]


def write_text_atomic(path: Path, text: str) -> None:
    """Write beside the target and rename, so a killed run never leaves half a file; CommandError on failure."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as err:
        raise CommandError(f"cannot write {path}: {err.strerror}; choose another path") from err


def load_credentials_option(path: Path | None) -> list[Any]:
    """Load ``--credentials FILE`` (none when not given); UsageError naming the option on bad input."""
    if path is None:
        return []
    from sitescout.probes.credentials import load_credentials

    try:
        return load_credentials(path)
    except (OSError, ValueError) as err:
        raise UsageError(f"--credentials: {err}") from err


def is_loopback(host: str) -> bool:
    """Return True when a listen address stays on this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
