"""Every health threshold, and the mapping from one measurement to ok/warning/problem with its reason.

One home for the rules that the printed survey report (``inventory/findings.py``), survey
ingestion (``inventory/ingest.py``), the worker (``probes/worker/inventory_link.py``) and the site
pages use, so a link losing 3 % is the same verdict everywhere.  Each ``*_verdict`` function
takes one measurement and returns a :class:`Verdict`: a level, a reason code and the reason's
parameters; no words.  ``render_reason`` makes the words at the edge with the reader's
``gettext`` (the messages are marked with ``N_`` and live in the web catalogue).

Pure: no Flask, no probes, no database; Babel only for locale-aware numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from babel.numbers import format_decimal, format_percent
from sitescout.inventory.lenient import as_num as _num

__all__ = [
    "OK", "WARNING", "PROBLEM", "LINK_LOSS_WARNING", "LINK_LOSS_PROBLEM", "JITTER_WARNING_MS",
    "CLOCK_SKEW_LIMIT_S", "STREAM_LEVELS", "AUTH_LEVELS", "Verdict", "THRESHOLDS",
    "link_loss_verdict", "jitter_verdict", "clock_skew_verdict", "stream_verdict", "reachability_verdict",
    "auth_verdict", "observation_verdicts", "level_of", "REASONS", "render_reason",
]

OK, WARNING, PROBLEM = "ok", "warning", "problem"
_RANK = {OK: 0, WARNING: 1, PROBLEM: 2}

#: A link losing more than this share of echoes is a warning (video over RTP starts to smear).
LINK_LOSS_WARNING = 0.01
#: ... and more than this share a problem (the picture breaks up; a camera can drop off).
LINK_LOSS_PROBLEM = 0.05
#: Round-trip jitter above this (ms) is a warning: streams stutter.
JITTER_WARNING_MS = 30.0
#: A camera clock further off than this (s) breaks WS-Security and evidence timestamps: a warning.
CLOCK_SKEW_LIMIT_S = 5.0
#: Stream states and their level (a stream flag not listed is not a health matter).
STREAM_LEVELS: dict[str, str] = {
    "down": PROBLEM, "stalled": PROBLEM, "frozen": PROBLEM, "black": PROBLEM,
    "blurred": WARNING, "fps_mismatch": WARNING, "size_mismatch": WARNING,
}
#: ONVIF authentication outcomes and their level.
AUTH_LEVELS: dict[str, str] = {"required": WARNING, "failed": PROBLEM}

#: The table a test pins: (measurement, comparison, threshold, level).
THRESHOLDS: tuple[tuple[str, str, float, str], ...] = (
    ("loss_ratio", ">", LINK_LOSS_WARNING, WARNING),
    ("loss_ratio", ">", LINK_LOSS_PROBLEM, PROBLEM),
    ("jitter_ms", ">", JITTER_WARNING_MS, WARNING),
    ("abs(clock_offset_s)", ">", CLOCK_SKEW_LIMIT_S, WARNING),
)


@dataclass(frozen=True)
class Verdict:
    """One measurement judged: ok, warning or problem, the reason code and its parameters."""

    level: str
    code: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as stored and answered (codes and parameters, never words)."""
        return {"level": self.level, "code": self.code, "params": dict(self.params)}


_OK = Verdict(OK)


def link_loss_verdict(loss_ratio: Any) -> Verdict:
    """Judge the share of echoes lost on the link to a device (0..1)."""
    loss = _num(loss_ratio)
    if loss is None or loss <= LINK_LOSS_WARNING:
        return _OK
    return Verdict(PROBLEM if loss > LINK_LOSS_PROBLEM else WARNING, "link_loss", {"loss": loss})


def jitter_verdict(jitter_ms: Any) -> Verdict:
    """Judge the round-trip jitter (ms) of the link to a device."""
    jitter = _num(jitter_ms)
    if jitter is None or jitter <= JITTER_WARNING_MS:
        return _OK
    return Verdict(WARNING, "jitter", {"jitter_ms": jitter})


def clock_skew_verdict(offset_s: Any) -> Verdict:
    """Judge a camera clock's offset from the prober's (seconds, positive: the camera is ahead)."""
    offset = _num(offset_s)
    if offset is None or abs(offset) <= CLOCK_SKEW_LIMIT_S:
        return _OK
    return Verdict(WARNING, "clock_skew", {"offset_s": offset})


def stream_verdict(state: str, stream: str = "") -> Verdict:
    """Judge one stream state (down, stalled, frozen, black, blurred, fps_mismatch, ...)."""
    level = STREAM_LEVELS.get(state)
    if level is None:
        return _OK
    return Verdict(level, f"stream_{state}", {"stream": stream})


def reachability_verdict(up: Any) -> Verdict:
    """Judge whether a device answered its probe at all."""
    return _OK if up else Verdict(PROBLEM, "not_answering")


def auth_verdict(auth: Any) -> Verdict:
    """Judge the ONVIF authentication outcome (ok, not_needed, required, failed)."""
    level = AUTH_LEVELS.get(auth) if isinstance(auth, str) else None
    return Verdict(level, f"auth_{auth}") if level else _OK


def level_of(verdicts: Iterable[Verdict]) -> str:
    """Return the worst level of some verdicts (ok when there are none)."""
    return max((v.level for v in verdicts), key=lambda lvl: _RANK.get(lvl, 0), default=OK)


def _stream_states(values: dict[str, Any]) -> list[str]:
    states = [p for p in values.get("problems") or [] if isinstance(p, str)]
    states += [flag for flag in ("frozen", "black", "stalled") if values.get(flag) and flag not in states]
    return states


def observation_verdicts(kind: str, values: dict[str, Any], *, up: Any = True) -> list[Verdict]:
    """Return the unhealthy verdicts of one worker observation (kind ``link``, ``stream[:profile]``, ``onvif``...).

    An observation whose probe got no answer is "not answering" (a stream: "stream down").
    """
    base, _, profile = kind.partition(":")
    if base == "stream":
        found = [stream_verdict(s, profile or "stream") for s in _stream_states(values)]
        if not up and not found:
            found = [stream_verdict("down", profile or "stream")]
    elif not up:
        found = [reachability_verdict(False)]
    else:
        found = [link_loss_verdict(values.get("loss_ratio")), jitter_verdict(values.get("jitter_ms")),
                 clock_skew_verdict(values.get("clock_offset_seconds", values.get("clock_offset_s")))]
    return [v for v in found if v.level != OK]


Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated when rendered."""
    return message


#: reason code -> sentence; ``%(name)s`` placeholders are the verdict's parameters.  These live in
#: the web catalogue (web/translations), which pybabel extracts from web/ only: add a new one to
#: both .po files by hand (tests/test_web_health_words.py checks they are there).
REASONS: dict[str, str] = {
    "link_loss": N_("%(loss)s loss on the link to the device"),
    "jitter": N_("unsteady link: jitter %(jitter_ms)s ms"),
    "clock_skew": N_("clock %(offset)s"),
    "not_answering": N_("not answering"),
    "stream_down": N_("stream %(stream)s down"),
    "stream_stalled": N_("stream %(stream)s stalled"),
    "stream_frozen": N_("picture frozen (%(stream)s)"),
    "stream_black": N_("picture black (%(stream)s)"),
    "stream_blurred": N_("picture blurred (%(stream)s)"),
    "stream_fps_mismatch": N_("frame rate below its profile (%(stream)s)"),
    "stream_size_mismatch": N_("resolution differs from its profile (%(stream)s)"),
    "auth_required": N_("needs credentials"),
    "auth_failed": N_("credentials refused"),
    "not_found": N_("not found by the last survey"),
    "text": "%(text)s",  # a reason stored as words before reasons were kept as codes
}


def render_reason(code: str, params: dict[str, Any], gettext: Gettext = N_, locale: str = "en") -> str:
    """Return a reason in the reader's language; the code itself when this table does not know it."""
    if code not in REASONS:
        return code
    if code == "text":
        return str(params.get("text") or "")
    values: dict[str, str] = {}
    for name, value in params.items():
        if name == "loss" and isinstance(value, int | float):
            values[name] = format_percent(value, locale=locale)
        elif isinstance(value, float):
            values[name] = format_decimal(value, format="#,##0.#", locale=locale)
        else:
            values[name] = str(value)
    if code == "clock_skew":
        values["offset"] = _offset_text(float(params.get("offset_s") or 0), gettext, locale)
    try:
        return gettext(REASONS[code]) % values
    except (KeyError, ValueError, TypeError):  # a translation naming a parameter this reason lacks
        return REASONS[code] % _Missing(values)


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _offset_text(seconds: float, gettext: Gettext, locale: str) -> str:
    """Return "48 h ahead" / "12 s behind" in the reader's language."""
    s = abs(seconds)
    if s < 120:
        amount = gettext(N_("%(n)s s")) % {"n": format_decimal(round(s), locale=locale)}
    elif s < 7200:
        amount = gettext(N_("%(n)s min")) % {"n": format_decimal(round(s / 60), locale=locale)}
    elif s < 259200:  # "48 h ahead" reads better than "2 days" up to three days
        amount = gettext(N_("%(n)s h")) % {"n": format_decimal(round(s / 3600), locale=locale)}
    else:
        amount = gettext(N_("%(n)s days")) % {"n": format_decimal(round(s / 86400), locale=locale)}
    word = N_("%(amount)s ahead") if seconds > 0 else N_("%(amount)s behind")
    return gettext(word) % {"amount": amount}
