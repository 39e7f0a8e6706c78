"""On-demand probes for the worker's blackbox-style ``/probe?target=…&module=…``.

Each request runs one probe on the worker's event loop and answers with its
own exposition, like blackbox_exporter's fresh registry per request
(``handler.go``): :func:`probe_exposition` is a pure function of that
request's :class:`~sitescout.probes.registry.ProbeResult` and writes the few
lines straight to the text format, so nothing is carried from one request to
the next and no ``CollectorRegistry`` has to be built and walked per request
(a test checks the lines equal what a fresh registry would give).

``module=icmp`` sends the request's own echoes (``count``, default the
targets file's link count; ``interval`` seconds apart) over one ICMP socket
kept open for all requests (:class:`~sitescout.probes.link_quality.IcmpPinger`):
concurrent requests run their bursts side by side, each counting only
replies that carry its own token, so no request shares another's echoes.
The reply names the same link series as ``/metrics`` (``sitescout_device_up``,
``sitescout_link_loss_ratio``, ``sitescout_link_jitter_seconds``; Prometheus
adds ``site``/``device`` from service discovery), so the alert rules cover
devices that are only probed this way.

``module=onvif`` and ``module=stream`` send the worker's camera credentials only
to addresses among its configured targets; any other address is probed without
them, so an open ``/probe`` cannot be used to collect the passwords.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import math
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.utils import floatToGoString

from sitescout.probes.icmp import IcmpUnavailableError
from sitescout.probes.link_quality import IcmpPinger, LinkConfig
from sitescout.probes.registry import PROBERS, ProbeJob, ProbeResult
from sitescout.probes.registry import link_result  # one classification for both models
from sitescout.probes.stream_health import redact_uri
from sitescout.probes.targets import LinkSettings, OnvifSettings, StreamSettings, StreamTarget, Target
from sitescout.probes.worker import Worker

log = logging.getLogger(__name__)

__all__ = ["STREAM_GAUGES", "ProbeRequestError", "ProbeService", "probe_exposition", "probe_timeout_s", "MODULES"]

#: Subtracted from Prometheus's scrape timeout, as blackbox_exporter's --timeout-offset.
TIMEOUT_OFFSET_S = 0.5
#: Probe budget without the header (blackbox uses 120 s; a hung camera should not hold a request that long).
DEFAULT_PROBE_TIMEOUT_S = 10.0
MODULES = ("icmp", "tcp", "onvif", "stream")

#: Stream gauges beside ``sitescout_stream_up`` (also written by /metrics): name suffix, help.
STREAM_GAUGES = (
    ("fps", "Frames per second measured over the check window."),
    ("expected_fps", "Frames per second the profile promises (0 when unknown)."),
    ("width_pixels", "Picture width."),
    ("height_pixels", "Picture height."),
    ("bitrate_bits_per_second", "Stream bitrate measured over the check window."),
    ("frozen", "1 when the picture did not change over the window."),
    ("black", "1 when the picture is black."),
    ("open_seconds", "Time to open the stream."),
)


def probe_timeout_s(header: str | None, default: float = DEFAULT_PROBE_TIMEOUT_S) -> float:
    """Return the probe budget: Prometheus's scrape timeout minus the offset, else `default`."""
    try:
        scrape = float(header) if header else None
    except ValueError:
        scrape = None
    if scrape is None or not math.isfinite(scrape) or scrape <= 0:
        return default
    return max(scrape - TIMEOUT_OFFSET_S, 0.1)


class ProbeRequestError(ValueError):
    """A /probe request that cannot be run (bad module, target or parameter): HTTP 400."""


def _check_ip(text: str) -> str:
    try:
        socket.inet_pton(socket.AF_INET, text)  # the common case, cheaply: a canonical IPv4 address
        return text
    except OSError:
        pass
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        raise ProbeRequestError(f"target must be an IP address, not {text!r}") from None


class ProbeService:
    """Runs /probe requests on the worker's event loop; ICMP bursts share one open socket."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._pinger: IcmpPinger | None = None

    def build(self, module: str, target: str, budget_s: float, params: dict[str, str]) -> tuple[ProbeJob, Any]:
        """Return the job and settings for one request.

        Raises:
            ProbeRequestError: unknown module, bad target or parameter.
        """
        defaults = self.worker.config.defaults if self.worker.config else None
        if module in ("icmp", "tcp"):
            link = defaults.link if defaults else LinkSettings()
            ip, port = target, None
            if module == "tcp":
                ip, _, port_s = target.rpartition(":")
                if not port_s.isdigit() or not 1 <= int(port_s) <= 65535:
                    raise ProbeRequestError(f"tcp target must be IP:PORT, not {target!r}")
                port = int(port_s)
            try:
                count = int(params.get("count", link.count))
                interval = float(params.get("interval", link.echo_interval_s))
            except ValueError:
                raise ProbeRequestError("count must be an integer and interval a number of seconds") from None
            if not 1 <= count <= 100 or not 0 <= interval <= 5:
                raise ProbeRequestError("count must be 1-100 and interval 0-5 s")
            timeout = min(link.timeout_s, budget_s / 2)
            # Fit the burst in the budget: squeeze the spacing, never the count.
            interval = min(interval, max(budget_s - 1.0 - timeout, 0.0) / count)
            settings = dataclasses.replace(link, count=count, echo_interval_s=interval, timeout_s=timeout)
            return ProbeJob("link", Target("", target, _check_ip(ip), "host", tcp_port=port)), settings
        if module == "onvif":
            url = target if "://" in target else f"http://{target}/onvif/device_service"
            host = urlsplit(url).hostname or ""
            onvif = defaults.onvif if defaults else OnvifSettings()
            settings = dataclasses.replace(onvif, timeout_s=max(min(onvif.timeout_s, budget_s - 0.5), 0.5))
            return ProbeJob("onvif", Target("", target, _check_ip(host), onvif=url)), settings
        if module == "stream":
            parts = urlsplit(target)
            if parts.scheme.lower() not in ("rtsp", "rtsps", "http", "https") or not parts.hostname:
                raise ProbeRequestError("stream target must be an rtsp:// or http:// URL")
            if parts.username is not None:
                raise ProbeRequestError("stream target must not carry credentials (the worker's --credentials "
                                        "are used)")
            stream = defaults.stream if defaults else StreamSettings()
            window = max(min(stream.window_s, budget_s - 2.0), 0.5)
            settings = dataclasses.replace(stream, window_s=window, timeout_s=max(min(stream.timeout_s, budget_s),
                                                                                   window + 1.0))
            spec = StreamTarget(target, params.get("profile", "stream1"))
            return ProbeJob("stream", Target("", redact_uri(target), parts.hostname, streams=(spec,)), spec), settings
        raise ProbeRequestError(f"unknown module {module!r} (expected: {', '.join(MODULES)})")

    async def _async_icmp(self, job: ProbeJob, settings: LinkSettings) -> ProbeResult:
        started = time.monotonic()
        if self._pinger is None:
            self._pinger = IcmpPinger(self.worker.ctx.socket_mode)
        ip = job.target.ip
        config = LinkConfig(settings.count, settings.echo_interval_s, settings.timeout_s)
        try:
            got = (await self._pinger.async_measure_links([ip], config))[ip]
        except IcmpUnavailableError as err:
            return ProbeResult(job, False, "error", str(err), time.monotonic() - started, values={"loss_ratio": 1.0})
        return link_result(job, got, started)

    def is_configured(self, ip: str) -> bool:
        """Return True when `ip` is one of the worker's targets (from its file or the inventory)."""
        config = self.worker.config
        return config is not None and any(t.ip == ip for t in config.targets)

    async def async_probe(self, job: ProbeJob, settings: Any) -> ProbeResult:
        """Run one on-demand probe within its budget; a failure is a result."""
        started = time.monotonic()
        if job.kind == "link" and job.target.tcp_port is None:
            # Bounded by itself: count x interval + timeout fit the budget (see build()).
            return await self._async_icmp(job, settings)
        ctx = self.worker.ctx
        if job.kind in ("onvif", "stream") and ctx.credentials and not self.is_configured(job.target.ip):
            # /probe takes any address: the worker's camera passwords go only to the cameras it was given.
            log.info("/probe %s %s: not a configured target, probed without credentials", job.kind, job.target.ip)
            ctx = dataclasses.replace(ctx, credentials=())
        try:
            got = await asyncio.wait_for(PROBERS[job.kind]([job], settings, ctx), settings.budget_s + 0.5)
            return got[0]
        except TimeoutError:
            return ProbeResult(job, False, "timeout", "probe timed out", time.monotonic() - started)

    async def async_request(self, module: str, target: str, budget_s: float, params: dict[str, str]) -> bytes:
        """Answer one /probe request (on the worker's loop): the text exposition of its own result.

        Raises:
            ProbeRequestError: the request cannot be run (HTTP 400).
        """
        job, settings = self.build(module, target, budget_s, params)
        started = time.monotonic()
        result = await self.async_probe(job, settings)
        return probe_exposition(result, time.monotonic() - started)

    def close(self) -> None:
        """Close the ICMP socket (a later request opens a new one)."""
        if self._pinger is not None:
            self._pinger.close()
            self._pinger = None


# ---------------------------------------------------------------------------
# The reply: a fresh exposition per request, written directly.


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _gauge(out: list[str], name: str, help_: str, value: float, labels: dict[str, str] | None = None) -> None:
    out.append(f"# HELP {name} {help_}\n# TYPE {name} gauge\n")
    if labels:
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))  # as prometheus_client
        out.append(f"{name}{{{text}}} {floatToGoString(value)}\n")
    else:
        out.append(f"{name} {floatToGoString(value)}\n")


def probe_exposition(result: ProbeResult, elapsed_s: float) -> bytes:
    """Return the text exposition of one probe's result: what a fresh registry holding its gauges would give."""
    out: list[str] = []
    up = 1.0 if result.up else 0.0
    _gauge(out, "probe_success", "1 when the probe succeeded.", up)
    _gauge(out, "probe_duration_seconds", "How long the probe took.", elapsed_s)
    v = result.values
    if result.job.kind == "link":
        _gauge(out, "sitescout_device_up", "1 when the device answered at least one echo (or TCP connect).", up)
        _gauge(out, "sitescout_link_loss_ratio", "Share of echoes not answered (0-1).", v.get("loss_ratio", 1.0))
        _gauge(out, "sitescout_link_jitter_seconds", "Mean absolute difference of consecutive RTTs.",
               v.get("jitter_seconds", 0.0))
        _gauge(out, "sitescout_link_rtt_average_seconds", "Mean round-trip time of the answered echoes.",
               v.get("rtt_avg_seconds", 0.0))
        _gauge(out, "sitescout_link_sent_packets", "Echoes (or TCP connects) sent.", v.get("sent", 0.0))
    elif result.job.kind == "onvif":
        _gauge(out, "sitescout_onvif_up", "1 when the camera answered ONVIF.", up)
        _gauge(out, "sitescout_onvif_clock_offset_seconds", "Camera clock minus worker clock.",
               v.get("clock_offset_seconds", 0.0))
        if result.info:
            _gauge(out, "sitescout_camera_info", "Camera identity (value 1).", 1.0, result.info)
    elif result.job.kind == "stream":
        _gauge(out, "sitescout_stream_up", "1 when the stream delivered frames.", up)
        for key, help_ in STREAM_GAUGES:
            _gauge(out, f"sitescout_stream_{key}", help_, v.get(key, 0.0))
    if result.reason:
        _gauge(out, "sitescout_probe_failed", "1 for the reason this probe failed.", 1.0, {"reason": result.reason})
    return "".join(out).encode("utf-8")
