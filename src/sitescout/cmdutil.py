"""Small pieces every subcommand needs: safe output files, the credentials option, the inventory's --db."""

from __future__ import annotations

import ipaddress
import json
import os
import sys
from pathlib import Path
from typing import Any

from sitescout.errors import CommandError, UsageError
from sitescout.i18n import _

__all__ = ["write_text_atomic", "write_survey_outputs", "load_credentials_option", "coded_text", "open_inventory",
           "site_zone", "local_time"]


def write_text_atomic(path: Path, text: str) -> None:
    """Write beside the target and rename, so a killed run never leaves half a file; CommandError on failure."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as err:
        raise CommandError(_("cannot write {path}: {reason}; choose another path").format(
            path=path, reason=err.strerror)) from err


def write_survey_outputs(doc: dict[str, Any], json_path: str | None, report_path: Path | None) -> None:
    """Write a survey document as JSON (``-`` is stdout) and its HTML report, each only when asked."""
    from sitescout.i18n import language
    from sitescout.inventory.survey_report import Reader, render_survey_html

    if json_path == "-":
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    elif json_path:
        write_text_atomic(Path(json_path), json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    if report_path:
        # In the command's language; times in the sites' zone (site_zone).
        write_text_atomic(report_path, render_survey_html(doc, Reader(_, language(), site_zone().key)))


def site_zone() -> Any:
    """Return the zone the command says times in: the one TZ names, else the sites' default (Asia/Ho_Chi_Minh)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from sitescout.inventory.survey_report import DEFAULT_TIMEZONE

    name = os.environ.get("TZ", "").lstrip(":")
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):  # a TZ the system does not know (or a POSIX rule): the default
        return ZoneInfo(DEFAULT_TIMEZONE)


def local_time(moment: Any) -> str:
    """Return a stored (UTC) time in the sites' zone, to the minute, with its offset: 2026-12-07T08:00+07:00."""
    return str(moment.astimezone(site_zone()).isoformat(timespec="minutes"))


def load_credentials_option(path: Path | None) -> list[Any]:
    """Load ``--credentials FILE`` (none when not given); UsageError naming the option on bad input."""
    if path is None:
        return []
    from sitescout.probes.credentials import load_credentials

    try:
        return load_credentials(path)
    except (OSError, ValueError) as err:
        raise UsageError(f"--credentials: {credentials_error_text(err)}") from err


def load_snmp_credentials_option(path: Path | None) -> Any:
    """Load the ``[snmp]`` table of ``--credentials FILE`` (empty when not given); UsageError naming the
    option on bad input (the survey's and the worker's one way to read it)."""
    from sitescout.probes.credentials import load_snmp_credentials
    from sitescout.probes.snmp.client import SnmpCredentials

    if path is None:
        return SnmpCredentials()
    try:
        return load_snmp_credentials(path)
    except (OSError, ValueError) as err:
        raise UsageError(f"--credentials: {credentials_error_text(err)}") from err


def credentials_error_text(err: Exception) -> str:
    """Return a credentials file error in the command's language (a coded one; others as they are)."""
    from sitescout.import_words import reason_text

    detail = getattr(err, "detail", None)
    return f"{getattr(err, 'path', '')}: {reason_text(detail)}" if hasattr(detail, "code") else str(err)


def coded_text(err: BaseException) -> str:
    """Return an error whose message is coded (inventory, credentials file) in the command's language."""
    from sitescout.import_words import reason_text

    message = err.args[0] if err.args else str(err)
    return reason_text(message) if hasattr(message, "code") else str(err)


def open_inventory(url: str | None) -> Any:
    """Open the inventory at `url` (default: the user's SQLite file); CommandError in the command's language.

    Exit status 1 for every database that cannot be opened (a file that is not one, a folder, a
    newer schema, a server that refuses), as for any failure: the one-line error names --db.
    """
    from sitescout.inventory.db import DatabaseError, default_database_url, open_database

    try:
        return open_database(url or default_database_url())
    except DatabaseError as err:
        raise CommandError(_("{reason}; check --db").format(reason=coded_text(err))) from err


def is_loopback(host: str) -> bool:
    """Return True when a listen address stays on this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
