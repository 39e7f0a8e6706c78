"""The worker's Prometheus endpoints: ``/metrics`` built at scrape time, blackbox-style ``/probe``.

``/metrics`` (STYLE rule 11): :class:`SitescoutCollector` builds fresh families
from a snapshot of the :class:`~sitescout.probes.worker.scheduler.ResultStore` on every
scrape and keeps nothing between scrapes.  Every known series is present from
the first scrape (0 until measured; STYLE rule 12).  The same families are
written either through ``prometheus_client`` (``collect()``, for any registry)
or straight to the text format (:meth:`SitescoutCollector.render`), which the
HTTP endpoint uses because it is several times faster at 10,000 cameras
(docs/benchmarks.md); a test checks both give the same samples.

``/probe?target=…&module=icmp|tcp|onvif|stream``: one on-demand probe whose
reply holds only its own result, as with blackbox's fresh registry per request
(:mod:`sitescout.probes.worker.probe_service`), bounded by Prometheus's
``X-Prometheus-Scrape-Timeout-Seconds`` minus 0.5 s.  Also ``/-/healthy`` and
``POST /-/reload``.  Everything is served from the worker's own event loop
(:class:`Exporter`).

With a ``--web.config.file`` (:mod:`sitescout.probes.worker.web_config`, the exporter-toolkit format)
every path is served over TLS and/or needs basic auth, as an exporter-toolkit exporter's are;
checks in :mod:`sitescout.probes.worker.web_auth`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import math
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.process_collector import ProcessCollector

from sitescout import __version__
from sitescout.inventory.errors import Coded
from sitescout.probes.worker import metric_defs as md
from sitescout.probes.worker.metric_defs import MetricDef
from sitescout.probes.worker.metric_defs import DURATION_BUCKETS
from sitescout.probes.worker.probe_request import ProbeRequestError
from sitescout.probes.worker.probe_service import ProbeBusyError, ProbeService, probe_timeout_s
from sitescout.probes.worker.registry import KINDS
from sitescout.probes.worker.web_auth import WebGuard
from sitescout.probes.worker.web_config import WebConfig
from sitescout.probes.worker.scheduler import Worker
from sitescout.probes.worker.store import ResultStore, StoreSnapshot

__all__ = ["SitescoutCollector", "ProbeService", "Exporter", "parse_listen", "probe_timeout_s", "serve_in_background"]

log = logging.getLogger(__name__)

@dataclass
class _Family:
    """One metric family before it is written: gauges/counters carry values, histograms bucket counts."""

    name: str
    kind: str  # gauge | counter | histogram
    help: str
    labelnames: tuple[str, ...]
    samples: list[tuple[tuple[str, ...], Any]]
    buckets: Sequence[float] = ()


def _fam(d: MetricDef, samples: list[tuple[tuple[str, ...], Any]], buckets: Sequence[float] = ()) -> _Family:
    """Return a family of definition `d` (its name, type, help and labels) with `samples`."""
    return _Family(d.family, d.type, d.help, d.labels, samples, buckets)


def _families(snap: StoreSnapshot) -> Iterator[_Family]:
    """Yield every family of the worker's /metrics from one snapshot."""
    targets = snap.targets
    for kind in KINDS.values():
        for d, samples, buckets in kind.families(snap):
            yield _fam(d, samples, buckets)
    yield _fam(md.PROBE_DURATION, [((kind,), snap.durations[kind]) for kind in KINDS], DURATION_BUCKETS)
    yield _fam(md.PROBE_ERRORS, [(key, float(n)) for key, n in sorted(snap.errors.items())])
    yield _fam(md.CONFIG_RELOAD_OK, [((), 1.0 if snap.reload_ok else 0.0)])
    yield _fam(md.CONFIG_RELOAD_TS, [((), snap.reload_success_ts)])
    yield _fam(md.SITE_INFO, [((s.name, str(s.latitude), str(s.longitude)), 1.0) for s in snap.sites])
    yield _fam(md.WORKER_TARGETS, [((snap.shard,), float(len(targets)))])
    yield _fam(md.WORKER_INFO, [((__version__,), 1.0)])


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
                    metric.add_metric(list(values), value)
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
        raise ValueError(Coded("listen_form", "--listen must be HOST:PORT (e.g. 127.0.0.1:9110), not %(value)r",
                               value=text))
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
                 reload: Callable[[], tuple[bool, str]] | None = None, *, web_config: WebConfig | None = None,
                 web_config_file: str | Path | None = None, probe_limits: Mapping[str, int] | None = None) -> None:
        disable_created_metrics()  # no *_created series (client_python #933)
        self.worker = worker
        self.collector = SitescoutCollector(worker.store)
        self.process_registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.process_registry)
        self.probes = ProbeService(worker, probe_limits)
        self._custom_reload = reload
        self.guard = WebGuard(web_config, web_config_file)
        self._ssl = self.guard.ssl_context
        self.sock = _listen_socket(listen)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._web: web.Server | None = None
        self._server: asyncio.AbstractServer | None = None
        self._starting: asyncio.Task[None] | None = None

    @property
    def scheme(self) -> str:
        """Return "https" when serving TLS, else "http"."""
        return "https" if self._ssl is not None else "http"

    @property
    def address(self) -> tuple[str, int]:
        """Return the bound (host, port)."""
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    def metrics(self) -> bytes:
        """Return the full /metrics body."""
        return self.collector.render() + self.probes.exposition() + generate_latest(self.process_registry)

    def reload(self) -> tuple[bool, str]:
        """Reload the targets from any thread but the worker loop's (the loop's own requests reload directly)."""
        return self._custom_reload() if self._custom_reload else self.worker.reload_threadsafe()

    # -- lifecycle

    async def _async_start(self) -> None:
        loop = asyncio.get_running_loop()
        self._web = web.Server(self._guarded, access_log=None)
        self._server = await loop.create_server(self._web, sock=self.sock, ssl=self._ssl,
                                                ssl_handshake_timeout=10.0 if self._ssl else None)

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
        self.guard.close()

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

    async def _guarded(self, request: web.BaseRequest) -> web.StreamResponse:
        """Apply the web config (rate limit, client certificate SANs, basic auth), then answer."""
        transport = request.transport
        refusal = await self.guard.async_check(request.headers.get("Authorization"),
                                               transport.get_extra_info("peercert") if transport else None)
        if refusal is None:
            resp: web.StreamResponse = await self._handle(request)
        else:
            status, body, headers = refusal
            resp = _reply(status, body)
            resp.headers.update(headers)
        for name, value in self.guard.headers.items():
            resp.headers[name] = value
        return resp

    def reload_web_config(self) -> tuple[bool, str]:
        """Re-read --web.config.file (SIGHUP, POST /-/reload); a bad file keeps the one in force."""
        return self.guard.reload()

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
            if self.guard.path is not None:
                web_ok, web_message = self.reload_web_config()
                ok, message = ok and web_ok, f"{message}; {web_message}"
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
            return _reply(400, b"target: parameter is missing\n")
        budget = probe_timeout_s(request.headers.get("X-Prometheus-Scrape-Timeout-Seconds"))
        try:
            body = await self.probes.async_request(module, target, budget, params)
        except ProbeRequestError as err:
            return _reply(400, (str(err) + "\n").encode("utf-8"))
        except ProbeBusyError as err:
            # Refused at once, never queued: Prometheus counts a failed scrape and asks again next interval.
            resp = _reply(503, (str(err) + "\n").encode("utf-8"))
            resp.headers["Retry-After"] = "1"
            return resp
        return _reply(200, body, CONTENT_TYPE_LATEST)


@contextlib.contextmanager
def serve_in_background(worker: Worker, listen: tuple[str, int] = ("127.0.0.1", 0), *,
                        web_config: WebConfig | None = None, web_config_file: str | Path | None = None,
                        ) -> Iterator[Exporter]:
    """Run `worker` on its own event-loop thread and serve it; stop both on exit (tests, the demo)."""
    exporter = Exporter(worker, listen, web_config=web_config, web_config_file=web_config_file)
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
