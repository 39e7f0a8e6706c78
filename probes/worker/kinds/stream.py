"""The ``stream`` kind: each camera stream watched for a window in a killable stream-check process.

A target gets one stream job per stream it lists.  The check (:mod:`sitescout.probes.stream.check`)
runs in the worker's stream-check processes, bounded by the kind's ``timeout_s``; the credential
goes only to a stream on the camera's own address.  ``/probe`` module: ``stream`` (an ``rtsp://``
or ``http://`` URL without credentials, ``profile`` naming it).

RTSP transport: the check tries TCP first and falls back to UDP when the server refuses TCP (461)
or never answers SETUP over TCP.  :class:`TransportMemory` keeps the transport that worked per
stream: a stream that needed UDP is opened over UDP directly on its next checks, TCP is tried
again every `RETRY_TCP_EVERY`-th check and after any failed check.  ``sitescout_stream_info``
carries the transport of the last check.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from sitescout.probes.stream.check import StreamJob
from sitescout.probes.stream.config import MONITORING_STREAM
from sitescout.probes.stream.redact import redact_uri
from sitescout.probes.worker import metric_defs as md
from sitescout.probes.worker.jobs import Family, Gauge, Kind, ProbeContext, ProbeJob, ProbeResult, reason_of
from sitescout.probes.worker.probe_request import MAX_PROFILE_CHARS, ProbeRequestError
from sitescout.probes.worker.records import StreamTarget, Target

if TYPE_CHECKING:
    from sitescout.probes.worker.store import StoreSnapshot

__all__ = ["DEFAULT_STREAM_SETTINGS", "KIND", "RETRY_TCP_EVERY", "StreamSettings", "TRANSPORTS", "TransportMemory",
           "probe_stream"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamSettings:
    """Stream probe: watch each stream for `window_s` every `interval_s`, killed at `timeout_s`."""

    batched: ClassVar[bool] = False
    interval_s: float = 60.0
    window_s: float = 4.0
    #: Whole-check budget (open + window + a read timeout + process start); the check's worker is killed there.
    timeout_s: float = 12.0
    #: Checks at once: each one is a process decoding a few key frames (2 fit a 2-core box).
    concurrency: int = 2
    #: Answer an RTSP/HTTP Basic challenge (the password in clear).  Not a key of its own: one switch,
    #: ``defaults.onvif.allow_plaintext_auth``, allows every password in clear, so it is copied from there.
    allow_plaintext_auth: bool = field(default=False, metadata={"targets_file": False})

    @property
    def budget_s(self) -> float:
        """Return the hard limit of one check."""
        return self.timeout_s


DEFAULT_STREAM_SETTINGS = StreamSettings()


def check_stream(settings: StreamSettings) -> str | None:
    """Return why the timeout leaves no room for the window, or None."""
    if settings.timeout_s < settings.window_s + 1.0:
        return f"timeout_s ({settings.timeout_s:g}) must be at least window_s + 1 ({settings.window_s + 1.0:g})"
    return None


#: A stream remembered as UDP-only is tried over TCP again on every this-many-th check.
RETRY_TCP_EVERY = 10
#: Streams remembered at most (the oldest is forgotten first): bounded whatever the targets' churn.
_MEMORY_MAX = 100_000


class TransportMemory:
    """The RTSP transport that worked per stream, reused by the next checks of that stream.

    Only "udp" is remembered (TCP is the check's own first try); it is forgotten after a failed
    check, and TCP is tried again every `retry_every`-th check (a server may have been fixed).
    Keyed by (site, device, profile, uri): a stream whose URI changes starts over.
    """

    def __init__(self, retry_every: int = RETRY_TCP_EVERY) -> None:
        self.retry_every = retry_every
        #: key -> checks opened over UDP directly since TCP was last tried.
        self._udp: dict[tuple[str, ...], int] = {}

    def choose(self, key: tuple[str, ...]) -> str:
        """Return the transport the next check of `key` opens with: "udp" if remembered, else "tcp"."""
        since = self._udp.get(key)
        if since is None or since + 1 >= self.retry_every:
            return "tcp"
        return "udp"

    def record(self, key: tuple[str, ...], tried: str, used: str | None, up: bool) -> None:
        """Note what a check of `key` that opened with `tried` used, and whether it worked."""
        if not up or used != "udp":
            self._udp.pop(key, None)
        elif tried == "udp":
            self._udp[key] = self._udp.get(key, 0) + 1
        else:
            if len(self._udp) >= _MEMORY_MAX and key not in self._udp:
                del self._udp[next(iter(self._udp))]  # streams removed from the targets leave keys behind
            self._udp[key] = 0  # TCP tried, refused or ignored, UDP worked

    def remembered(self, key: tuple[str, ...]) -> str | None:
        """Return "udp" when `key` is remembered as UDP-only, else None."""
        return "udp" if key in self._udp else None


#: The worker process's memory (the survey checks each stream once: TCP first).
TRANSPORTS = TransportMemory()


def _stream_values(result: Any, stream: StreamTarget) -> dict[str, float]:
    def num(value: Any) -> float:
        return float(value) if value is not None else 0.0

    return {"fps": num(result.fps), "expected_fps": num(stream.expected_fps), "width_pixels": num(result.width),
            "height_pixels": num(result.height), "bitrate_bits_per_second": num(result.bitrate_kbps) * 1000.0,
            "frozen": 1.0 if result.frozen else 0.0, "black": 1.0 if result.black else 0.0,
            "open_seconds": num(result.open_s)}


async def probe_stream(jobs: Sequence[ProbeJob], settings: StreamSettings, ctx: ProbeContext) -> list[ProbeResult]:
    """Watch each stream for `window_s` in a stream-check process that is killed at `timeout_s`."""
    # The check's own budget leaves 0.5 s of the kind's timeout for the worker round trip.
    config = dataclasses.replace(MONITORING_STREAM, window_s=settings.window_s,
                                 budget_s=max(settings.timeout_s - 0.5, settings.window_s + 0.5),
                                 open_timeout_s=min(MONITORING_STREAM.open_timeout_s, settings.timeout_s / 3),
                                 read_timeout_s=min(MONITORING_STREAM.read_timeout_s, settings.timeout_s / 3))
    checker, executor = ctx.stream_runner()
    loop = asyncio.get_running_loop()
    out = []
    for job in jobs:
        stream = job.stream
        assert stream is not None, "stream jobs carry a stream"
        size = (stream.expected_width, stream.expected_height) \
            if stream.expected_width and stream.expected_height else None
        check = StreamJob(stream.uri, stream.expected_fps, size, ctx.stream_credential(job.target, stream.uri),
                          stream.profile, allow_plaintext_auth=settings.allow_plaintext_auth)
        key = (job.target.site, job.target.device, stream.profile or "", stream.uri)
        tried = TRANSPORTS.choose(key)
        started = time.monotonic()
        result = await loop.run_in_executor(executor, checker.check, check,
                                            dataclasses.replace(config, rtsp_transport=tried))
        TRANSPORTS.record(key, tried, result.transport, result.up)
        reason = None if result.up else reason_of(result.error_code)
        out.append(ProbeResult(job, result.up, reason, result.error, time.monotonic() - started,
                               values=_stream_values(result, stream),
                               info={"transport": result.transport} if result.transport else {}))
        if not result.up:
            log.info("%s/%s %s: stream: %s", job.target.site, job.target.device, redact_uri(stream.uri), result.error)
    return out


def plan(target: Target) -> list[ProbeJob]:
    """Return a target's stream jobs: one per stream."""
    return [ProbeJob("stream", target, s) for s in target.streams]


def families(snap: StoreSnapshot) -> Iterator[Family]:
    """Yield the stream families of /metrics: one row per stream (labels, up, values), one family per value."""
    rows = []
    for t in snap.targets:
        for s in t.streams:
            r = snap.latest.get(("stream", t.site, t.device, s.profile))
            if r is None:
                rows.append(((t.site, t.device, s.profile), 0.0, {"expected_fps": float(s.expected_fps or 0.0)}))
            else:
                rows.append(((t.site, t.device, s.profile), 1.0 if r.up else 0.0, r.values))
    yield md.STREAM_UP, [(labels, up) for labels, up, _ in rows], ()
    for key, d in md.STREAM_VALUES:
        yield d, [(labels, values.get(key, 0.0)) for labels, _, values in rows], ()
    # One series per stream, as sitescout_camera_info: transport "" before a check opened it, and for HTTP MJPEG.
    yield md.STREAM_INFO, [((t.site, t.device, s.profile, _transport(snap, t, s)), 1.0)
                           for t in snap.targets for s in t.streams], ()


def _transport(snap: StoreSnapshot, target: Target, stream: StreamTarget) -> str:
    """Return the RTSP transport of a stream's last check ("" when none is known)."""
    r = snap.latest.get(("stream", target.site, target.device, stream.profile))
    return r.info.get("transport", "") if r is not None else ""


def build(module: str, target: str, budget_s: float, params: dict[str, str],
          stream: StreamSettings) -> tuple[ProbeJob, StreamSettings]:
    """Return the job and settings of a /probe ``stream`` request (a credential-free URL) within `budget_s`."""
    parts = urlsplit(target)
    if parts.scheme.lower() not in ("rtsp", "rtsps", "http", "https") or not parts.hostname:
        raise ProbeRequestError("target: a stream target is an rtsp:// or http:// URL")
    if parts.username is not None:
        raise ProbeRequestError("target: must not carry credentials (the worker's --credentials are used)")
    profile = params.get("profile", "stream1")
    if len(profile) > MAX_PROFILE_CHARS or not profile.isprintable():
        raise ProbeRequestError(f"profile: at most {MAX_PROFILE_CHARS} printable characters")
    window = max(min(stream.window_s, budget_s - 2.0), 0.5)
    settings = dataclasses.replace(stream, window_s=window, timeout_s=max(min(stream.timeout_s, budget_s),
                                                                           window + 1.0))
    spec = StreamTarget(target, profile)
    return ProbeJob("stream", Target("", redact_uri(target), parts.hostname, streams=(spec,)), spec), settings


def gauges(result: ProbeResult) -> Iterator[Gauge]:
    """Yield the stream gauges of a /probe answer."""
    yield md.STREAM_UP, 1.0 if result.up else 0.0, None
    for key, d in md.STREAM_VALUES:
        yield d, result.values.get(key, 0.0), None
    if result.info.get("transport"):
        yield md.STREAM_INFO, 1.0, {"transport": result.info["transport"]}


KIND = Kind("stream", StreamSettings, DEFAULT_STREAM_SETTINGS, probe_stream, plan, families, {"stream": 2}, build,
            gauges, check=check_stream)
