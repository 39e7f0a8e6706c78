"""MAC address to vendor, offline: netaddr's bundled copy of the IEEE OUI registry, never downloaded."""

from __future__ import annotations

import functools
import logging
import re

from netaddr import EUI, AddrFormatError, NotRegisteredError

__all__ = ["vendor_for_mac"]

log = logging.getLogger(__name__)

# 00:40:8c:12:34:56, 00-40-8C-12-34-56, 00408c123456, 0040.8c12.3456 — and nothing
# shorter: netaddr alone would read "00:40:8c" as an integer and answer Xerox.
_MAC_RE = re.compile(r"[0-9a-f]{2}([:-]?)[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}",
                     re.IGNORECASE)


def vendor_for_mac(mac: str) -> str | None:
    """Return the registered organisation of `mac`'s OUI, or None (unknown, random, multicast, malformed)."""
    if not isinstance(mac, str) or not _MAC_RE.fullmatch(mac.strip()):
        return None
    return _lookup(mac.strip().lower())


@functools.lru_cache(maxsize=4096)
def _lookup(mac: str) -> str | None:
    try:
        eui = EUI(mac)
    except (AddrFormatError, TypeError, ValueError):
        return None
    if eui.version != 48:
        return None
    first = int(eui) >> 40
    # Locally administered (phones' random MACs, VMs, our lab) and group
    # addresses carry no vendor, even when their first bytes match a registered OUI.
    if first & 0x03 or int(eui) == 0:
        return None
    try:
        org = eui.oui.registration().org
    except (NotRegisteredError, IndexError, AttributeError):
        return None
    return " ".join(str(org).split()) or None
