"""The web process's own metrics at /metrics: requests, their duration, and sites by health at scrape time."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterator

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

__all__ = ["init_app", "SiteHealthCollector", "count_refusal"]

log = logging.getLogger(__name__)

_HEALTHS = ("ok", "warning", "problem", "unknown")
#: Requests refused, or told to come back, because of what they would cost (pre-created at 0).
_REFUSALS = {"plan": ("cost", "memory", "cpu", "busy"), "pdf": ("being_made", "too_large", "failed")}


class SiteHealthCollector:
    """Count the inventory's sites by health: figures at most METRICS_CACHE_SECONDS old, built by one scrape.

    `/metrics` is open to anyone who can reach the port; counting sites by health reads every
    device's latest observations (the whole site list), so building it on each anonymous scrape let
    anyone make the server do that work in a loop.  The tally is kept for METRICS_CACHE_SECONDS
    (default 15, Prometheus's usual scrape interval); when it is older, one scrape rebuilds it while
    the others answer with the previous figures (or wait for the very first ones).
    """

    #: Longest a scrape waits for figures being built when there are none yet.
    WAIT_S = 10.0

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._tally: Tally[str] | None = None
        self._expires = 0.0

    def collect(self) -> Iterator[Metric]:
        """Yield sitescout_web_sites{health} from the cached tally (rebuilt when older than its time to live)."""
        tally = self._figures()
        if tally is None:
            return
        family = GaugeMetricFamily("sitescout_web_sites", "Sites in the inventory by health", labels=["health"])
        for health in _HEALTHS:
            family.add_metric([health], tally.get(health, 0))
        yield family

    def _figures(self) -> Tally[str] | None:
        tally = self._tally
        if tally is not None and time.monotonic() < self._expires:
            return tally
        if not self._lock.acquire(blocking=tally is None, timeout=self.WAIT_S if tally is None else -1):
            return tally  # another scrape is counting: the figures a few seconds old will do
        try:
            if self._tally is not None and time.monotonic() < self._expires:
                return self._tally  # counted while this scrape waited
            ttl = float(self._app.config.get("METRICS_CACHE_SECONDS", 15.0) or 0.0)
            fresh = self._count()
            if fresh is not None:
                self._tally = fresh
            # Also after a failure: a database away is asked again after the same delay, not on every scrape.
            self._expires = time.monotonic() + ttl
            return self._tally
        finally:
            self._lock.release()

    def _count(self) -> Tally[str] | None:
        from sitescout.inventory import store

        try:
            with self._app.extensions["sitescout_db"].session() as session:
                return Tally(str(s.health) for s in store.list_sites(session))
        except Exception:  # a scrape must still answer while the database is away
            log.warning("inventory unreadable while collecting site health", exc_info=True)
            return None


class _PdfCollector:
    """Report PDFs rendered (child processes started) by the app's PdfCache."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        """Yield sitescout_web_pdf_renders_total."""
        from prometheus_client.core import CounterMetricFamily

        cache = self._app.extensions.get("sitescout_pdf_cache")
        family = CounterMetricFamily("sitescout_web_pdf_renders", "Report PDFs rendered in a child process")
        family.add_metric([], getattr(cache, "renders", 0))
        yield family


def count_refusal(kind: str, reason: str) -> None:
    """Count one request refused (or told to come back) because of its cost: kind plan|pdf."""
    current_app.extensions["sitescout_refusals"].labels(kind, reason).inc()


def init_app(app: Flask) -> None:
    """Give the app its own registry (one per app, so tests can build many) and the /metrics route."""
    registry = CollectorRegistry()
    requests = Counter("sitescout_web_requests", "HTTP requests answered", ["endpoint", "method", "status"],
                       registry=registry)
    duration = Histogram("sitescout_web_request_duration_seconds", "Time to answer an HTTP request",
                         ["endpoint"], registry=registry,
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
    refusals = Counter("sitescout_web_refusals", "Requests refused or told to come back because of what they "
                       "would cost", ["kind", "reason"], registry=registry)
    for kind, reasons in _REFUSALS.items():
        for reason in reasons:
            refusals.labels(kind, reason)
    ProcessCollector(registry=registry)
    registry.register(SiteHealthCollector(app))
    registry.register(_PdfCollector(app))
    app.extensions["sitescout_metrics"] = registry
    app.extensions["sitescout_refusals"] = refusals

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        endpoint = request.url_rule.endpoint if request.url_rule else "none"
        started = g.get("request_started")
        if started is not None:
            duration.labels(endpoint).observe(time.perf_counter() - started)
        requests.labels(endpoint, request.method, str(response.status_code)).inc()
        return response

    def metrics_view() -> Response:
        return Response(generate_latest(current_app.extensions["sitescout_metrics"]), mimetype=CONTENT_TYPE_LATEST)

    app.add_url_rule("/metrics", "metrics", metrics_view)
