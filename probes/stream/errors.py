"""Stream-check errors in words a technician can act on, read from FFmpeg's own log lines.

The stream-check worker (:mod:`~sitescout.probes.stream.child`) keeps FFmpeg's log of each check in a
file; these functions turn its tail into one typed error (probes/errors.py: its kind and detail), never
quoting OpenCV's internals, and never the device's text unprintable or unbounded.
"""

from __future__ import annotations

import re

from sitescout.probes.errors import AuthError, MalformedError, ProbeError, ProbeTimeout, UnreachableError
from sitescout.probes.stream.redact import redact_uri

__all__ = ["open_error", "no_video_error", "udp_error", "printable"]

_REDIRECT = "Redirecting to "
#: FFmpeg messages that mean bytes arrived but were not a stream it could parse.
_GARBAGE_MARKERS = ("expected, 0 received", "Invalid data", "No start code", "Error splitting the input",
                    "missing picture in access unit", "Unsupported RTP version", "bad cseq")


def printable(text: str, limit: int = 160) -> str:
    """Return device-controlled text as one short printable line."""
    text = "".join(c if c.isprintable() else " " for c in text).strip()
    return text if len(text) <= limit else text[:limit] + "..."


def open_error(
    uri: str, text: str, elapsed_s: float, open_timeout_s: float, *, has_credentials: bool = True
) -> ProbeError:
    """Classify a failed open from FFmpeg's messages (the log's tail) and how long it took."""
    lines = text.splitlines()
    redirects = [ln.split(_REDIRECT, 1)[1] for ln in lines if _REDIRECT in ln]
    # The line written as the open was interrupted can be cut short: name the last whole target.
    last = next((printable(redact_uri(r)) for r in reversed(redirects) if "://" in r), "")
    if len(redirects) >= 2:
        # FFmpeg follows RTSP 301/302 without a limit; only the open timeout ends a loop.
        return MalformedError(uri, f"redirect loop: at least {len(redirects)} RTSP redirects in {elapsed_s:.1f} s"
                                   + (f", last to {last}" if last else ""))
    # Status codes only from FFmpeg's own lines ("method DESCRIBE failed: 401 ..."): OpenCV's
    # timeout warnings carry digits ("after 3000.401234 ms") that once read as a 401.
    ffmpeg = "\n".join(ln for ln in lines if "FFMPEG:" in ln)
    status = set(re.findall(r"(?:failed: |HTTP error )(\d{3})\b", ffmpeg))
    if "401" in status:
        if not has_credentials:
            return AuthError(uri, "the camera requires credentials (RTSP 401) and none were given")
        return AuthError(uri, "the camera refused the credentials (RTSP 401)")
    if "403" in status:
        return AuthError(uri, "access forbidden (403)")
    if "404" in status:
        return UnreachableError(uri, "no stream at this path (404 Not Found)")
    if "503" in status:
        return UnreachableError(uri, "the server is busy or not ready (503 Service Unavailable)")
    if "refused" in text.lower():
        return UnreachableError(uri, "connection refused")
    if "timeout" in text.lower() or elapsed_s >= 0.9 * open_timeout_s:
        return ProbeTimeout(uri, f"stream did not open within {open_timeout_s:g} s")
    if redirects:
        return UnreachableError(uri, f"redirected to {last or 'another URL'}, which could not be opened")
    # FFmpeg's own last word, never OpenCV's ("global cap.cpp:212 open VIDEOIO(FFMPEG): backend is ...").
    detail = next((ln.split("] ", 1)[-1] for ln in reversed(lines)
                   if ("FFMPEG" in ln or "@" in ln) and "cap.cpp" not in ln and "VIDEOIO" not in ln
                   and "FFMPEG:40]" not in ln), "")  # 40: FFmpeg's verbose lines ("Successfully connected")
    return UnreachableError(uri, f"could not open stream{': ' + printable(detail) if detail else ''}")


def no_video_error(uri: str, text: str, open_timeout_s: float) -> ProbeError:
    """Classify an open that completed the RTSP handshake but found no decodable video."""
    garbage = next((ln for ln in reversed(text.splitlines()) if any(m in ln for m in _GARBAGE_MARKERS)), None)
    if garbage is not None:
        detail = printable(garbage.split("] ", 1)[-1])
        return MalformedError(uri, f"undecodable: the server sent data that is not a video stream (FFmpeg: {detail})")
    # Silence and RTP with broken headers look the same from here: FFmpeg drops such packets without a word.
    return ProbeTimeout(uri, f"no video within {open_timeout_s:g} s after the RTSP handshake: nothing, "
                             "or no valid RTP, arrived")


def udp_error(error: ProbeError, open_timeout_s: float, *, silent_setup: float | None = None) -> ProbeError:
    """Say what happened on both transports: TCP refused with 461 (or SETUP over TCP unanswered
    for `silent_setup` seconds), then what UDP gave within `open_timeout_s` (same kind)."""
    detail = error.detail
    if detail.startswith("no video within"):
        detail = f"no RTP packet arrived within {open_timeout_s:g} s after PLAY (is UDP dropped on the way?)"
    tcp = "the server refuses RTSP over TCP (461)" if silent_setup is None else \
        f"the server did not answer SETUP over TCP within {silent_setup:g} s"
    return type(error)(error.target, f"{tcp}; over UDP: {detail}")
