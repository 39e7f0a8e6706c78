"""The web process's own metrics at /metrics: requests, their duration, and sites by health at scrape time."""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from collections.abc import Iterator

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

__all__ = ["init_app", "SiteHealthCollector"]

log = logging.getLogger(__name__)

_HEALTHS = ("ok", "warning", "problem", "unknown")


class SiteHealthCollector:
    """Count the inventory's sites by health on each scrape (keeps no state between scrapes)."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        """Yield sitescout_web_sites{health} from the inventory as it is now."""
        from sitescout.inventory import store

        family = GaugeMetricFamily("sitescout_web_sites", "Sites in the inventory by health", labels=["health"])
        try:
            with self._app.extensions["sitescout_db"].session() as session:
                tally = Tally(str(s.health) for s in store.list_sites(session))
        except Exception:  # a scrape must still answer while the database is away
            log.warning("inventory unreadable while collecting site health", exc_info=True)
            return
        for health in _HEALTHS:
            family.add_metric([health], tally.get(health, 0))
        yield family


def init_app(app: Flask) -> None:
    """Give the app its own registry (one per app, so tests can build many) and the /metrics route."""
    registry = CollectorRegistry()
    requests = Counter("sitescout_web_requests", "HTTP requests answered", ["endpoint", "method", "status"],
                       registry=registry)
    duration = Histogram("sitescout_web_request_duration_seconds", "Time to answer an HTTP request",
                         ["endpoint"], registry=registry,
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
    ProcessCollector(registry=registry)
    registry.register(SiteHealthCollector(app))
    app.extensions["sitescout_metrics"] = registry

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
