"""Text from devices and servers made safe to print on a terminal."""

from __future__ import annotations

import re

__all__ = ["printable"]

#: C0 controls (ESC, BEL, CR, …), DEL and C1 controls (CSI 0x9b): what a terminal would act on.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Return ``text`` with control characters shown as ``\\xNN``, so no escape sequence reaches the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
