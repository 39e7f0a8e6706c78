"""The worker's Prometheus endpoints: ``/metrics`` built at scrape time, blackbox-style ``/probe``.

``/metrics`` (STYLE rule 11): :class:`SitescoutCollector` builds fresh families
from a snapshot of the :class:`~sitescout.probes.worker.ResultStore` on every
scrape and keeps nothing between scrapes.  Every known series is present from
the first scrape (0 until measured; STYLE rule 12).  The same families are
written either through ``prometheus_client`` (``collect()``, for any registry)
or straight to the text format (:meth:`SitescoutCollector.render`), which the
HTTP endpoint uses because it is several times faster at 10,000 cameras
(docs/benchmarks.md); a test checks both give the same samples.

``/probe?target=…&module=icmp|tcp|onvif|stream``: one on-demand probe with a
fresh registry per request (blackbox ``handler.go``), bounded by Prometheus's
``X-Prometheus-Scrape-Timeout-Seconds`` minus 0.5 s.  Concurrent ICMP requests
share one socket burst.  Also ``/-/healthy`` and ``POST /-/reload``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry, Gauge, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.process_collector import ProcessCollector

from sitescout import __version__
from sitescout.probes.registry import PROBERS, ProbeJob, ProbeResult
from sitescout.probes.stream_health import redact_uri
from sitescout.probes.targets import LinkSettings, OnvifSettings, StreamSettings, StreamTarget, Target
from sitescout.probes.worker import DURATION_BUCKETS, RTT_BUCKETS, ResultStore, StoreSnapshot, Worker

__all__ = ["SitescoutCollector", "ProbeService", "Exporter", "parse_listen", "probe_timeout_s", "serve_in_background"]

log = logging.getLogger(__name__)

#: Subtracted from Prometheus's scrape timeout, as blackbox_exporter's --timeout-offset.
TIMEOUT_OFFSET_S = 0.5
#: Probe budget without the header (blackbox uses 120 s; a hung camera should not hold a thread that long).
DEFAULT_PROBE_TIMEOUT_S = 10.0
_ICMP_COALESCE_S = 0.002

_DEVICE = ("site", "device")
_STREAM = ("site", "device", "profile")
_STREAM_GAUGES = (
    ("fps", "Frames per second measured over the check window."),
    ("expected_fps", "Frames per second the profile promises (0 when unknown)."),
    ("width_pixels", "Picture width."),
    ("height_pixels", "Picture height."),
    ("bitrate_bits_per_second", "Stream bitrate measured over the check window."),
    ("frozen", "1 when the picture did not change over the window."),
    ("black", "1 when the picture is black."),
    ("open_seconds", "Time to open the stream."),
)


@dataclass
class _Family:
    """One metric family before it is written: gauges/counters carry values, histograms bucket counts."""

    name: str
    kind: str  # gauge | counter | histogram
    help: str
    labelnames: tuple[str, ...]
    samples: list[tuple[tuple[str, ...], Any]]
    buckets: Sequence[float] = ()


def _families(snap: StoreSnapshot) -> Iterator[_Family]:
    """Yield every family of the worker's /metrics from one snapshot."""
    targets = snap.targets
    latest = snap.latest
    links = [(t, latest.get(("link", t.site, t.device, ""))) for t in targets]
    yield _Family("sitescout_device_up", "gauge", "1 when the device answered its last link probe.", _DEVICE,
                  [((t.site, t.device), 1.0 if r is not None and r.up else 0.0) for t, r in links])
    empty = ([0] * (len(RTT_BUCKETS) + 1), 0.0, 0)
    yield _Family("sitescout_link_rtt_seconds", "histogram", "Round-trip time of every echo answered.", _DEVICE,
                  [((t.site, t.device), snap.rtt.get(t.key, empty)) for t in targets], RTT_BUCKETS)
    for name, value, help_ in (("jitter_seconds", "jitter_seconds", "Mean absolute difference of consecutive RTTs."),
                               ("loss_ratio", "loss_ratio", "Share of echoes of the last burst not answered (0-1).")):
        yield _Family(f"sitescout_link_{name}", "gauge", help_, _DEVICE,
                      [((t.site, t.device), r.values.get(value, 0.0) if r is not None else 0.0) for t, r in links])
    cams = [t for t in targets if t.onvif]
    onvif = [(t, latest.get(("onvif", t.site, t.device, ""))) for t in cams]
    yield _Family("sitescout_onvif_up", "gauge", "1 when the camera answered its last ONVIF probe.", _DEVICE,
                  [((t.site, t.device), 1.0 if r is not None and r.up else 0.0) for t, r in onvif])
    yield _Family("sitescout_onvif_clock_offset_seconds", "gauge", "Camera clock minus worker clock (UTC).", _DEVICE,
                  [((t.site, t.device), snap.clock_offset.get(t.key, 0.0)) for t in cams])
    no_id = {"manufacturer": "", "model": "", "firmware": ""}
    info = [(t, snap.identity.get(t.key, no_id)) for t in cams]
    yield _Family("sitescout_camera_info", "gauge", "Camera identity from ONVIF (value 1).",
                  (*_DEVICE, "manufacturer", "model", "firmware"),
                  [((t.site, t.device, i.get("manufacturer", ""), i.get("model", ""), i.get("firmware", "")), 1.0)
                   for t, i in info])
    # One row per stream (its labels, up, and its values), then one family per value.
    rows = []
    for t in targets:
        for s in t.streams:
            r = latest.get(("stream", t.site, t.device, s.profile))
            if r is None:
                rows.append(((t.site, t.device, s.profile), 0.0, {"expected_fps": float(s.expected_fps or 0.0)}))
            else:
                rows.append(((t.site, t.device, s.profile), 1.0 if r.up else 0.0, r.values))
    yield _Family("sitescout_stream_up", "gauge", "1 when the stream delivered frames in its last check.", _STREAM,
                  [(labels, up) for labels, up, _ in rows])
    for key, help_ in _STREAM_GAUGES:
        yield _Family(f"sitescout_stream_{key}", "gauge", help_, _STREAM,
                      [(labels, values.get(key, 0.0)) for labels, _, values in rows])
    yield _Family("sitescout_probe_duration_seconds", "histogram", "How long each probe took.", ("kind",),
                  [((kind,), snap.durations[kind]) for kind in PROBERS], DURATION_BUCKETS)
    yield _Family("sitescout_probe_errors", "counter", "Failed probes by kind and reason.", ("kind", "reason"),
                  [(key, float(n)) for key, n in sorted(snap.errors.items())])
    yield _Family("sitescout_config_last_reload_successful", "gauge", "1 when the last targets (re)load worked.", (),
                  [((), 1.0 if snap.reload_ok else 0.0)])
    yield _Family("sitescout_config_last_reload_success_timestamp_seconds", "gauge",
                  "Unix time of the last successful targets (re)load.", (), [((), snap.reload_success_ts)])
    yield _Family("sitescout_site_info", "gauge", "Where each site is (value 1), for maps.",
                  ("site", "latitude", "longitude"),
                  [((s.name, str(s.latitude), str(s.longitude)), 1.0) for s in snap.sites])
    yield _Family("sitescout_worker_targets", "gauge", "Targets this worker probes (its shard).", ("shard",),
                  [((snap.shard,), float(len(targets)))])
    yield _Family("sitescout_worker_info", "gauge", "The worker's version (value 1).", ("version",),
                  [((__version__,), 1.0)])


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    text = repr(float(value))
    if text[-1] in "fn":  # inf, -inf, nan: the text format spells them +Inf, -Inf, NaN
        return {"inf": "+Inf", "-inf": "-Inf"}.get(text, "NaN")
    return text


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    return ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values))


class SitescoutCollector:
    """A prometheus_client collector over a ResultStore: fresh families on every collect(), no state."""

    #: Escaped label strings kept between scrapes (targets rarely change); dropped when this large.
    _MEMO_LIMIT = 1_000_000

    def __init__(self, store: ResultStore) -> None:
        self.store = store
        self._memo: dict[tuple[str, ...], dict[tuple[str, ...], str]] = {}
        self._memo_size = 0

    def describe(self) -> list[Metric]:
        """Describe nothing: keeps registration from running a collect()."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Yield the worker's metric families built from the latest results."""
        for fam in _families(self.store.snapshot()):
            if fam.kind == "histogram":
                metric: Metric = HistogramMetricFamily(fam.name, fam.help, labels=fam.labelnames)
                for values, (counts, total, _count) in fam.samples:
                    running, buckets = 0, []
                    for bound, n in zip((*fam.buckets, math.inf), counts):
                        running += n
                        buckets.append((_num(bound), float(running)))
                    metric.add_metric(list(values), buckets, total)  # type: ignore[attr-defined]
            else:
                cls = CounterMetricFamily if fam.kind == "counter" else GaugeMetricFamily
                metric = cls(fam.name, fam.help, labels=fam.labelnames)
                for values, value in fam.samples:
                    metric.add_metric(list(values), value)  # type: ignore[attr-defined]
            yield metric

    def render(self) -> bytes:
        """Return the same families in the text format, written directly (the fast path of /metrics)."""
        out: list[str] = []
        add = out.append
        # Label strings are escaped once per label set, not once per family or per scrape:
        # the memo lives as long as the collector (the scrape, not the worker, owns it).
        if self._memo_size > self._MEMO_LIMIT:
            self._memo, self._memo_size = {}, 0
        memo = self._memo
        before = sum(len(c) for c in memo.values())
        for fam in _families(self.store.snapshot()):
            name = fam.name + ("_total" if fam.kind == "counter" else "")
            add(f"# HELP {name} {fam.help}\n# TYPE {name} {fam.kind}\n")
            names = fam.labelnames
            cache = memo.setdefault(names, {})
            if fam.kind != "histogram":
                if not names:
                    add("".join(f"{name} {_num(value)}\n" for _, value in fam.samples))
                    continue
                for values, value in fam.samples:
                    lab = cache.get(values)
                    if lab is None:
                        lab = cache[values] = _labels(names, values)
                    add(f"{name}{{{lab}}} {_num(value)}\n")
                continue
            les = [f'le="{_num(b)}"' for b in (*fam.buckets, math.inf)]
            for values, (counts, total, count) in fam.samples:
                lab = cache.get(values)
                if lab is None:
                    lab = cache[values] = _labels(names, values)
                pre = f"{name}_bucket{{{lab},"
                running = 0
                for le, n in zip(les, counts):
                    running += n
                    add(f"{pre}{le}}} {float(running)!r}\n")
                add(f"{name}_count{{{lab}}} {float(count)!r}\n{name}_sum{{{lab}}} {_num(total)}\n")
        self._memo_size += sum(len(c) for c in memo.values()) - before
        return "".join(out).encode("utf-8")


# ---------------------------------------------------------------------------
# On-demand probes.


def probe_timeout_s(header: str | None, default: float = DEFAULT_PROBE_TIMEOUT_S) -> float:
    """Return the probe budget: Prometheus's scrape timeout minus the offset, else `default`."""
    try:
        scrape = float(header) if header else None
    except ValueError:
        scrape = None
    if scrape is None or not math.isfinite(scrape) or scrape <= 0:
        return default
    return max(scrape - TIMEOUT_OFFSET_S, 0.1)


class ProbeError(ValueError):
    """A /probe request that cannot be run (bad module or target): HTTP 400."""


class ProbeService:
    """Runs /probe requests on the worker's event loop; concurrent ICMP requests share one burst."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._pending: list[tuple[ProbeJob, LinkSettings, asyncio.Future[ProbeResult]]] = []
        self._flush_scheduled = False

    def _settings(self) -> Any:
        return self.worker.config.defaults if self.worker.config else None

    def build(self, module: str, target: str, budget_s: float, params: dict[str, str]) -> tuple[ProbeJob, Any]:
        """Return the job and settings for one request.

        Raises:
            ProbeError: unknown module, bad target or parameter.
        """
        defaults = self._settings()
        if module in ("icmp", "tcp"):
            link = defaults.link if defaults else LinkSettings()
            ip, port = target, None
            if module == "tcp":
                ip, _, port_s = target.rpartition(":")
                if not port_s.isdigit() or not 1 <= int(port_s) <= 65535:
                    raise ProbeError(f"tcp target must be IP:PORT, not {target!r}")
                port = int(port_s)
            try:
                count = int(params.get("count", link.count))
                interval = float(params.get("interval", link.echo_interval_s))
            except ValueError:
                raise ProbeError("count must be an integer and interval a number of seconds") from None
            if not 1 <= count <= 100 or not 0 <= interval <= 5:
                raise ProbeError("count must be 1-100 and interval 0-5 s")
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
                raise ProbeError("stream target must be an rtsp:// or http:// URL")
            if parts.username is not None:
                raise ProbeError("stream target must not carry credentials (the worker's --credentials are used)")
            stream = defaults.stream if defaults else StreamSettings()
            window = max(min(stream.window_s, budget_s - 2.0), 0.5)
            settings = dataclasses.replace(stream, window_s=window, timeout_s=max(min(stream.timeout_s, budget_s),
                                                                                   window + 1.0))
            spec = StreamTarget(target, params.get("profile", "stream1"))
            return ProbeJob("stream", Target("", redact_uri(target), parts.hostname, streams=(spec,)), spec), settings
        raise ProbeError(f"unknown module {module!r} (expected: icmp, tcp, onvif, stream)")

    async def _async_link(self, job: ProbeJob, settings: LinkSettings) -> ProbeResult:
        fut: asyncio.Future[ProbeResult] = asyncio.get_running_loop().create_future()
        self._pending.append((job, settings, fut))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(_ICMP_COALESCE_S, self._flush_links)
        return await fut

    def _flush_links(self) -> None:
        pending, self._pending = self._pending, []
        self._flush_scheduled = False
        groups: dict[LinkSettings, list[tuple[ProbeJob, asyncio.Future[ProbeResult]]]] = {}
        for job, settings, fut in pending:
            groups.setdefault(settings, []).append((job, fut))
        for settings, members in groups.items():
            asyncio.ensure_future(self._run_group(settings, members))

    async def _run_group(self, settings: LinkSettings,
                         members: list[tuple[ProbeJob, asyncio.Future[ProbeResult]]]) -> None:
        try:
            results = await PROBERS["link"]([j for j, _ in members], settings, self.worker.ctx)
        except Exception as err:  # a bug: every waiting request gets it as an error result
            for _, fut in members:
                if not fut.done():
                    fut.set_exception(err)
            return
        for (_, fut), result in zip(members, results):
            if not fut.done():
                fut.set_result(result)

    async def async_probe(self, job: ProbeJob, settings: Any) -> ProbeResult:
        """Run one on-demand probe within its budget; a failure is a result."""
        started = time.monotonic()
        try:
            if job.kind == "link":
                coro = self._async_link(job, settings)
            else:
                coro = PROBERS[job.kind]([job], settings, self.worker.ctx)
            got = await asyncio.wait_for(coro, settings.budget_s + 0.5)
            return got if isinstance(got, ProbeResult) else got[0]
        except TimeoutError:
            return ProbeResult(job, False, "timeout", "probe timed out", time.monotonic() - started)

    def probe(self, module: str, target: str, budget_s: float, params: dict[str, str]) -> bytes:
        """Run one /probe request from an HTTP thread; return the text exposition of a fresh registry."""
        job, settings = self.build(module, target, budget_s, params)
        loop = self.worker.loop
        if loop is None:
            raise ProbeError("the worker is not running yet")
        started = time.monotonic()
        future = asyncio.run_coroutine_threadsafe(self.async_probe(job, settings), loop)
        try:
            result = future.result(budget_s + 1.0)
        except TimeoutError:
            future.cancel()
            result = ProbeResult(job, False, "timeout", "probe timed out", time.monotonic() - started)
        return _probe_exposition(result, time.monotonic() - started)


def _check_ip(text: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        raise ProbeError(f"target must be an IP address, not {text!r}") from None


def _probe_exposition(result: ProbeResult, elapsed_s: float) -> bytes:
    registry = CollectorRegistry(auto_describe=False)

    def gauge(name: str, help_: str, value: float, **labels: str) -> None:
        g = Gauge(name, help_, list(labels), registry=registry)
        (g.labels(**labels) if labels else g).set(value)

    gauge("probe_success", "1 when the probe succeeded.", 1.0 if result.up else 0.0)
    gauge("probe_duration_seconds", "How long the probe took.", elapsed_s)
    v = result.values
    if result.job.kind == "link":
        gauge("sitescout_link_loss_ratio", "Share of echoes not answered (0-1).", v.get("loss_ratio", 1.0))
        gauge("sitescout_link_jitter_seconds", "Mean absolute difference of consecutive RTTs.",
              v.get("jitter_seconds", 0.0))
        gauge("sitescout_link_rtt_average_seconds", "Mean round-trip time of the answered echoes.",
              v.get("rtt_avg_seconds", 0.0))
        gauge("sitescout_link_sent_packets", "Echoes (or TCP connects) sent.", v.get("sent", 0.0))
    elif result.job.kind == "onvif":
        gauge("sitescout_onvif_up", "1 when the camera answered ONVIF.", 1.0 if result.up else 0.0)
        gauge("sitescout_onvif_clock_offset_seconds", "Camera clock minus worker clock.",
              v.get("clock_offset_seconds", 0.0))
        if result.info:
            gauge("sitescout_camera_info", "Camera identity (value 1).", 1.0, **result.info)
    elif result.job.kind == "stream":
        gauge("sitescout_stream_up", "1 when the stream delivered frames.", 1.0 if result.up else 0.0)
        for key, help_ in _STREAM_GAUGES:
            gauge(f"sitescout_stream_{key}", help_, v.get(key, 0.0))
    if result.reason:
        gauge("sitescout_probe_failed", "1 for the reason this probe failed.", 1.0, reason=result.reason)
    return generate_latest(registry)


# ---------------------------------------------------------------------------
# HTTP.


def parse_listen(text: str) -> tuple[str, int]:
    """Parse HOST:PORT (IPv6 in brackets).

    Raises:
        ValueError: with the expected form.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise ValueError(f"--listen must be HOST:PORT (e.g. 127.0.0.1:9110), not {text!r}")
    return host.strip("[]"), int(port)


class Exporter:
    """The HTTP server of a worker: /metrics, /probe, /-/healthy, /-/reload (one thread per request)."""

    def __init__(self, worker: Worker, listen: tuple[str, int] = ("127.0.0.1", 9110),
                 reload: Callable[[], tuple[bool, str]] | None = None) -> None:
        disable_created_metrics()  # no *_created series (client_python #933)
        self.worker = worker
        self.collector = SitescoutCollector(worker.store)
        self.process_registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.process_registry)
        self.probes = ProbeService(worker)
        self.reload = reload or worker.reload_threadsafe
        handler = type("Handler", (_Handler,), {"exporter": self})
        self.server = ThreadingHTTPServer(listen, handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Return the bound (host, port)."""
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def metrics(self) -> bytes:
        """Return the full /metrics body."""
        return self.collector.render() + generate_latest(self.process_registry)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.server.serve_forever, name="exporter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    exporter: Exporter
    protocol_version = "HTTP/1.1"
    server_version = "sitescout-worker"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("http: " + format, *args)

    def _send(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
        if "gzip" in self.headers.get("Accept-Encoding", "") and len(body) > 4096:
            body = gzip.compress(body, compresslevel=1)
            extra = {"Content-Encoding": "gzip"}
        else:
            extra = {}
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        parts = urlsplit(self.path)
        if parts.path == "/metrics":
            self._send(200, self.exporter.metrics(), CONTENT_TYPE_LATEST)
        elif parts.path == "/probe":
            self._probe(parse_qs(parts.query))
        elif parts.path == "/-/healthy":
            self._send(200, b"Healthy\n")
        elif parts.path == "/-/reload":
            self._send(405, b"use POST to reload\n")
        elif parts.path == "/":
            self._send(200, b"<html><body><h1>sitescout worker</h1><p><a href='/metrics'>/metrics</a> "
                            b"<a href='/probe?target=127.0.0.1&amp;module=icmp'>/probe</a></p></body></html>",
                       "text/html; charset=utf-8")
        else:
            self._send(404, b"not found\n")

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 65536))
        if urlsplit(self.path).path != "/-/reload":
            self._send(404, b"not found\n")
            return
        ok, message = self.exporter.reload()
        self._send(200 if ok else 500, (message + "\n").encode("utf-8"))

    def _probe(self, query: dict[str, list[str]]) -> None:
        params = {k: v[0] for k, v in query.items() if v}
        target, module = params.pop("target", ""), params.pop("module", "icmp")
        if not target:
            self._send(400, b"target parameter is missing\n")
            return
        budget = probe_timeout_s(self.headers.get("X-Prometheus-Scrape-Timeout-Seconds"))
        try:
            body = self.exporter.probes.probe(module, target, budget, params)
        except ProbeError as err:
            self._send(400, (str(err) + "\n").encode("utf-8"))
            return
        self._send(200, body, CONTENT_TYPE_LATEST)


@contextlib.contextmanager
def serve_in_background(worker: Worker, listen: tuple[str, int] = ("127.0.0.1", 0)) -> Iterator[Exporter]:
    """Run `worker` on its own event-loop thread and serve it; stop both on exit (tests, the demo)."""
    exporter = Exporter(worker, listen)
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        holder["stop"] = asyncio.Event()
        holder["loop"] = asyncio.get_running_loop()
        worker.loop = holder["loop"]
        ready.set()
        await worker.run(holder["stop"])

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="worker", daemon=True)
    if worker.config is None:
        worker.load_initial()
    thread.start()
    ready.wait(10)
    exporter.start()
    try:
        yield exporter
    finally:
        exporter.stop()
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(10)
        worker.ctx.close()
