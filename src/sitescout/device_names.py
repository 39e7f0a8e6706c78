"""How a device's maker and model read together, for every view (console, reports, site pages, candidates).

A top-level module so probes/, inventory/ and web/ can all import it.
"""

from __future__ import annotations

__all__ = ["maker_and_model"]


def _squeeze(text: object) -> str:
    return " ".join(str(text).split()) if text else ""


def maker_and_model(maker: object, model: object) -> str:
    """Return ``"maker model"`` without repeating the maker when the model already starts with it.

    Axis reports Manufacturer "AXIS" and Model "AXIS Q6045-E": that reads "AXIS Q6045-E", not
    "AXIS AXIS Q6045-E".  The comparison ignores case and runs of whitespace; the maker counts as a
    prefix only when a non-alphanumeric character (or the end) follows it, so "AXISQ6045" keeps its maker.
    Either part may be empty or None; both empty gives ''.
    """
    maker_text, model_text = _squeeze(maker), _squeeze(model)
    if not maker_text or not model_text:
        return maker_text or model_text
    head = model_text[: len(maker_text)]
    rest = model_text[len(maker_text) :]
    if head.casefold() == maker_text.casefold() and not (rest[:1].isalnum()):
        return model_text
    return f"{maker_text} {model_text}"
