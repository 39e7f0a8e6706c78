"""Search keys for names with diacritics: "Hướng Đạo" is found by typing "huong dao"."""

from __future__ import annotations

import unicodedata

__all__ = ["fold", "contains_pattern", "MAX_QUERY_CHARS", "LIKE_ESCAPE"]

#: Longest search accepted (a name is at most ~100 characters; a longer pattern only costs the server).
MAX_QUERY_CHARS = 100
#: The escape character of `contains_pattern` (pass it to SQL LIKE as ``escape=``).
LIKE_ESCAPE = "\\"

# đ/Đ is a letter of its own, not d plus a combining mark, so NFD leaves it alone.
_EXTRA = str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "ł": "l", "ø": "o", "ß": "ss"})


def fold(text: str) -> str:
    """Return text lower-cased, without diacritics, with đ→d and runs of spaces collapsed."""
    decomposed = unicodedata.normalize("NFD", text.translate(_EXTRA))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


def contains_pattern(text: str) -> str:
    """Return a SQL LIKE pattern matching folded names that contain `text` (its % and _ taken literally)."""
    folded = fold(text)
    for ch in (LIKE_ESCAPE, "%", "_"):
        folded = folded.replace(ch, LIKE_ESCAPE + ch)
    return f"%{folded}%"
