"""Search keys for names with diacritics: "Hướng Đạo" is found by typing "huong dao"."""

from __future__ import annotations

import unicodedata

__all__ = ["fold"]

# đ/Đ is a letter of its own, not d plus a combining mark, so NFD leaves it alone.
_EXTRA = str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "ł": "l", "ø": "o", "ß": "ss"})


def fold(text: str) -> str:
    """Return text lower-cased, without diacritics, with đ→d and runs of spaces collapsed."""
    decomposed = unicodedata.normalize("NFD", text.translate(_EXTRA))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())
