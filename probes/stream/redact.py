"""Keep camera credentials out of stream URIs and of any text a device or FFmpeg writes.

Used by the check, its error messages, the snapshot fetch and the worker's stream kind.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from typing import TYPE_CHECKING

from sitescout.device_uris import strip_credentials, strip_credentials_in_text

if TYPE_CHECKING:  # imported where needed: the stream-check worker imports this module, and
    # sitescout.probes.credentials brings the whole SNMP package (~0.04 CPU-s per worker start)
    from sitescout.probes.credentials import Credential

__all__ = ["redact_uri", "scrub", "split_credentials"]

_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def redact_uri(uri: str) -> str:
    """Return `uri` as it may be shown: no user:password part, password-like parameters ``REDACTED``
    (``?user=admin&password=…``: the one rule of ``sitescout.device_uris``). Never the URI to request."""
    return strip_credentials(_USERINFO.sub("", uri))


def split_credentials(uri: str, credentials: Credential | None) -> tuple[str, Credential | None]:
    """Strip userinfo from `uri`; when no credentials were given, use the ones the URI carried."""
    parts = urllib.parse.urlsplit(uri)
    if parts.username is None:
        return uri, credentials
    if credentials is None:
        from sitescout.probes.credentials import Credential

        credentials = Credential(urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
    return _USERINFO.sub("", uri), credentials


def scrub(text: str, credentials: Credential | None) -> str:
    """Remove credentials (raw and percent-encoded), any URL userinfo and password-like URI parameters from `text`."""
    text, _ = strip_credentials_in_text(_USERINFO.sub("", text))
    if credentials is not None and credentials.password:
        # A hostile server may echo what it was sent: the password itself, percent-
        # encoded, or inside a Basic Authorization value (base64 of "user:password").
        userpass = f"{credentials.username}:{credentials.password}".encode()
        basic = base64.b64encode(userpass).decode("ascii")
        secrets = {credentials.password, urllib.parse.quote(credentials.password, safe=""), basic, basic.rstrip("=")}
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
    return text
