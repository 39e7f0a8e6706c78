"""The worker's Prometheus endpoints: ``/metrics`` built at scrape time, blackbox-style ``/probe``.

``/metrics`` (STYLE rule 11): :class:`SitescoutCollector` builds fresh families
from a snapshot of the :class:`~sitescout.probes.worker.ResultStore` on every
scrape and keeps nothing between scrapes.  Every known series is present from
the first scrape (0 until measured; STYLE rule 12).  The same families are
written either through ``prometheus_client`` (``collect()``, for any registry)
or straight to the text format (:meth:`SitescoutCollector.render`), which the
HTTP endpoint uses because it is several times faster at 10,000 cameras
(docs/benchmarks.md); a test checks both give the same samples.

``/probe?target=…&module=icmp|tcp|onvif|stream``: one on-demand probe whose
reply holds only its own result, as with blackbox's fresh registry per request
(:mod:`sitescout.probes.probe_service`), bounded by Prometheus's
``X-Prometheus-Scrape-Timeout-Seconds`` minus 0.5 s.  Also ``/-/healthy`` and
``POST /-/reload``.  Everything is served from the worker's own event loop
(:class:`Exporter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import math
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.process_collector import ProcessCollector

from sitescout import __version__
from sitescout.probes.probe_service import STREAM_GAUGES, ProbeRequestError, ProbeService, probe_timeout_s
from sitescout.probes.registry import PROBERS
from sitescout.probes.worker import DURATION_BUCKETS, RTT_BUCKETS, ResultStore, StoreSnapshot, Worker

__all__ = ["SitescoutCollector", "ProbeService", "Exporter", "parse_listen", "probe_timeout_s", "serve_in_background"]

log = logging.getLogger(__name__)

_DEVICE = ("site", "device")
_STREAM = ("site", "device", "profile")


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
    for key, help_ in STREAM_GAUGES:
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


def _listen_socket(listen: tuple[str, int]) -> socket.socket:
    """Bind and listen now, so a taken address fails at construction (OSError), before the loop runs."""
    family = socket.getaddrinfo(listen[0], listen[1], type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    sock = socket.create_server(listen, family=family, backlog=1024)
    sock.setblocking(False)
    return sock


_HTML = (b"<html><body><h1>sitescout worker</h1><p><a href='/metrics'>/metrics</a> "
         b"<a href='/probe?target=127.0.0.1&amp;module=icmp'>/probe</a></p></body></html>")
_TEXT = "text/plain; charset=utf-8"


def _reply(status: int, body: bytes, ctype: str = _TEXT) -> web.Response:
    return web.Response(status=status, body=body, headers={"Content-Type": ctype})


class Exporter:
    """The HTTP server of a worker: /metrics, /probe, /-/healthy, /-/reload.

    It serves on the worker's own event loop (aiohttp's low-level server): a
    /probe request runs its probe right there, with no hop between threads.
    /metrics is written in a thread (10,000 cameras take a few tenths of a
    second) so probes and other requests keep going meanwhile.  The socket is
    bound at construction; :meth:`start` begins serving once ``worker.loop``
    is set, from that loop's thread or any other.
    """

    def __init__(self, worker: Worker, listen: tuple[str, int] = ("127.0.0.1", 9110),
                 reload: Callable[[], tuple[bool, str]] | None = None) -> None:
        disable_created_metrics()  # no *_created series (client_python #933)
        self.worker = worker
        self.collector = SitescoutCollector(worker.store)
        self.process_registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.process_registry)
        self.probes = ProbeService(worker)
        self._custom_reload = reload
        self.sock = _listen_socket(listen)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._web: web.Server | None = None
        self._server: asyncio.AbstractServer | None = None
        self._starting: asyncio.Task[None] | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Return the bound (host, port)."""
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    def metrics(self) -> bytes:
        """Return the full /metrics body."""
        return self.collector.render() + generate_latest(self.process_registry)

    def reload(self) -> tuple[bool, str]:
        """Reload the targets from any thread but the worker loop's (the loop's own requests reload directly)."""
        return self._custom_reload() if self._custom_reload else self.worker.reload_threadsafe()

    # -- lifecycle

    async def _async_start(self) -> None:
        loop = asyncio.get_running_loop()
        self._web = web.Server(self._handle, access_log=None)
        self._server = await loop.create_server(self._web, sock=self.sock)

    def start(self) -> None:
        """Serve on the worker's event loop (``worker.loop`` must be set)."""
        loop = self.worker.loop
        if loop is None:
            raise RuntimeError("set worker.loop (start the worker's event loop) before Exporter.start()")
        self._loop = loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is loop:
            # Called on the loop itself (`sitescout worker`): the socket already listens, so
            # connections wait in its backlog until this task runs.
            self._starting = running.create_task(self._async_start(), name="exporter")
        else:
            asyncio.run_coroutine_threadsafe(self._async_start(), loop).result(10)

    async def _async_stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._web is not None:
            await self._web.shutdown(1.0)
        self.probes.close()

    def stop(self) -> None:
        """Stop serving and close the sockets (from another thread, or after the loop has ended)."""
        loop = self._loop
        if loop is not None and loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._async_stop(), loop).result(5)
        else:
            self.probes.close()
        self.sock.close()

    # -- requests

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path, method = request.path, request.method
        if method == "POST":
            if path != "/-/reload":
                return _reply(404, b"not found\n")
            await request.read()
            if self._custom_reload is not None:
                ok, message = await asyncio.to_thread(self._custom_reload)
            else:
                ok, message = self.worker.reload()  # we are on the worker's loop
            return _reply(200 if ok else 500, (message + "\n").encode("utf-8"))
        if method not in ("GET", "HEAD"):
            return _reply(405, b"method not allowed\n")
        if path == "/probe":
            return await self._probe(request)
        if path == "/metrics":
            gzip_ok = "gzip" in request.headers.get("Accept-Encoding", "")
            body, encoding = await asyncio.get_running_loop().run_in_executor(None, self._metrics_body, gzip_ok)
            resp = _reply(200, body, CONTENT_TYPE_LATEST)
            if encoding:
                resp.headers["Content-Encoding"] = encoding
            return resp
        if path == "/-/healthy":
            return _reply(200, b"Healthy\n")
        if path == "/-/reload":
            return _reply(405, b"use POST to reload\n")
        if path == "/":
            return _reply(200, _HTML, "text/html; charset=utf-8")
        return _reply(404, b"not found\n")

    def _metrics_body(self, gzip_ok: bool) -> tuple[bytes, str | None]:
        body = self.metrics()
        if gzip_ok and len(body) > 4096:
            return gzip.compress(body, compresslevel=1), "gzip"
        return body, None

    async def _probe(self, request: web.BaseRequest) -> web.Response:
        params: dict[str, str] = {}
        for key, value in request.query.items():
            params.setdefault(key, value)  # the first of repeated parameters, as before
        target, module = params.pop("target", ""), params.pop("module", "icmp")
        if not target:
            return _reply(400, b"target parameter is missing\n")
        budget = probe_timeout_s(request.headers.get("X-Prometheus-Scrape-Timeout-Seconds"))
        try:
            body = await self.probes.async_request(module, target, budget, params)
        except ProbeRequestError as err:
            return _reply(400, (str(err) + "\n").encode("utf-8"))
        return _reply(200, body, CONTENT_TYPE_LATEST)


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
