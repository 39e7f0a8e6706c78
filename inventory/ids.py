"""Reading a database id from text: one parser for URL queries (web/validate.py) and alert labels.

Only ASCII digits make an id: "²" and "٣" are digits to Python's ``str.isdigit`` (and ``int()``
takes "+3" and " 3"), and a number beyond 64 bits overflows SQLite's and PostgreSQL's integers.
"""

from __future__ import annotations

from sitescout.inventory.errors import InventoryError

__all__ = ["MAX_ID", "NotAnId", "parse_id"]

#: The largest id a database integer holds (as the app's <int:…> URL converter allows).
MAX_ID = 2**63 - 1


class NotAnId(InventoryError, ValueError):
    """The text is not a whole number written in ASCII digits."""


def parse_id(text: str) -> int | None:
    """Return `text` (ASCII digits only) as an id, or None when it is beyond MAX_ID (it can name no row).

    Raises:
        NotAnId: `text` is empty or holds anything but ASCII digits.
    """
    if not text or not (text.isascii() and text.isdigit()):
        raise NotAnId(text)
    digits = text.lstrip("0") or "0"
    # int() of more than 4,300 digits raises (CVE-2020-10735 limit): count the digits first.
    if len(digits) > len(str(MAX_ID)) or int(digits) > MAX_ID:
        return None
    return int(digits)
