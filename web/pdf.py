"""PDF of a printable HTML page, made with WeasyPrint: no browser, no network; once per document, capped.

WeasyPrint needs about 13 ms of CPU per host row of a survey report: the outside review's
3,000-host survey took 56 s of CPU on every viewer's GET.  `PdfCache` renders each distinct
document (keyed by the SHA-256 of its HTML, which holds the survey, the language and everything
else that changes the output) once, in a child process capped in memory and CPU
(web.isolation), one render at a time, and keeps the bytes (least recently used out first,
PDF_CACHE_BYTES in all).  A viewer waits at most PDF_WAIT_S for a render in progress, then is told
to come back; concurrent viewers of one document share one render.  A document whose render hits
a cap is remembered as too large for PDF_FAIL_SECONDS, and its viewers get a page saying so and
pointing to the HTML report, which any browser prints to PDF with the viewer's own CPU.  Abridging
the PDF instead was rejected: a survey report is a record, and a PDF missing hosts would pass for
the whole of it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from collections.abc import Callable, Hashable
from typing import Any

from sitescout.web.errors import WebError
from sitescout.web.isolation import JobFailed, run_isolated

__all__ = ["html_to_pdf", "PdfUnavailable", "PdfPending", "PdfTooLarge", "PdfCache", "PdfLimits"]

log = logging.getLogger(__name__)

#: Document names remembered (a few dozen bytes each): stored surveys by language and zone.
ALIASES = 4096


class PdfUnavailable(WebError, RuntimeError):
    """WeasyPrint (or the Pango it needs) is not installed; the message says how to get it."""


def _data_only_fetcher() -> Any:
    # Reports embed snapshots as data: URIs; nothing else may be fetched while rendering (no SSRF, offline).
    from weasyprint import urls

    if hasattr(urls, "URLFetcher"):  # WeasyPrint >= 66
        return urls.URLFetcher(allowed_protocols=["data"], timeout=5)

    def fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:  # older releases (Debian 12 ships 57)
        if not url.startswith("data:"):
            raise ValueError(f"report PDF does not fetch {url[:60]!r}")
        return urls.default_url_fetcher(url, *args, **kwargs)

    return fetch


def html_to_pdf(html: str) -> bytes:
    """Return the PDF of a self-contained HTML document."""
    try:
        import weasyprint
    except (ImportError, OSError) as err:
        raise PdfUnavailable(
            "PDF needs WeasyPrint (pip install weasyprint; it uses the system's Pango): "
            f"{err}; the HTML report prints to PDF from any browser meanwhile"
        ) from err
    return weasyprint.HTML(string=html, url_fetcher=_data_only_fetcher()).write_pdf()


class PdfPending(WebError, RuntimeError):
    """The document's PDF is being made (or waits its turn); ask again in a little while."""


class PdfTooLarge(WebError, RuntimeError):
    """The document's PDF could not be made within the limits; `reason` is memory|cpu|time."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class PdfLimits:
    """What making one PDF may cost, how long a viewer waits, and what is kept."""

    cpu_s: float = 120.0
    memory_bytes: int = 1024 * 1024 * 1024
    wait_s: float = 20.0
    cache_bytes: int = 64 * 1024 * 1024
    fail_seconds: float = 3600.0
    queue: int = 4  # documents waiting for their render, beyond the one being rendered
    waiters: int = 2  # requests (server threads) waiting for renders at once; more are answered at once


@dataclass
class _Entry:
    done: threading.Event = field(default_factory=threading.Event)
    data: bytes | None = None
    failure: Exception | None = None
    failed_until: float = 0.0


class PdfCache:
    """Rendered PDFs by document, made once each, one at a time, in a capped child process."""

    def __init__(self, limits: PdfLimits) -> None:
        self.limits = limits
        self.renders = 0  # child processes started (for /metrics and tests)
        self._lock = threading.Lock()
        self._turn = threading.Lock()  # one render at a time
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._aliases: OrderedDict[Hashable, str] = OrderedDict()  # alias -> key, most recent last
        self._bytes = 0
        self._waiting = 0
        self._waiters = 0

    def pdf(self, html: str | Callable[[], str], *, alias: Hashable | None = None) -> bytes:
        """Return the PDF of `html`: cached, or made now (waiting at most `wait_s` for it).

        `html` may be a function making the document; with an `alias` (a name that always means the
        same document, e.g. a stored survey in one language) a document seen before is not made again.
        """
        with self._lock:
            key = self._aliases.get(alias) if alias is not None else None
        text = None
        if key is None:
            text = html() if callable(html) else html
            key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
            if alias is not None:
                self._remember(alias, key)
        entry, start = self._claim(key)
        if start:
            if text is None:
                text = html() if callable(html) else html
            threading.Thread(target=self._render, args=(key, entry, text), name="pdf-render", daemon=True).start()
        if not self._wait(entry):
            raise PdfPending("the PDF of this report is being made")
        if entry.failure is not None:
            raise entry.failure
        assert entry.data is not None
        return entry.data

    def _remember(self, alias: Hashable, key: str) -> None:
        with self._lock:
            self._aliases[alias] = key
            self._aliases.move_to_end(alias)
            while len(self._aliases) > ALIASES:
                self._aliases.popitem(last=False)

    def _wait(self, entry: _Entry) -> bool:
        # Each waiting request holds one of the server's few threads: only `waiters` of them wait.
        with self._lock:
            may_wait = self._waiters < self.limits.waiters
            self._waiters += may_wait
        try:
            return entry.done.wait(self.limits.wait_s if may_wait else 0.0)
        finally:
            with self._lock:
                self._waiters -= may_wait

    def _claim(self, key: str) -> tuple[_Entry, bool]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and not (entry.done.is_set() and entry.failure is not None
                                          and entry.failed_until <= time.monotonic()):
                self._entries.move_to_end(key)
                return entry, False
            if self._waiting > self.limits.queue:
                raise PdfPending("other PDFs are being made")
            entry = _Entry()
            self._entries[key] = entry
            self._waiting += 1
            return entry, True

    def _render(self, key: str, entry: _Entry, html: str) -> None:
        try:
            with self._turn:
                self.renders += 1
                limits = self.limits
                entry.data = run_isolated(html_to_pdf, html, memory_bytes=limits.memory_bytes, cpu_s=limits.cpu_s,
                                          wall_s=2 * limits.cpu_s + 10)
        except JobFailed as err:
            log.warning("report PDF %s… not made: %s", key[:12], err)
            entry.failure = PdfTooLarge(err.reason, str(err)) if err.reason in ("memory", "cpu", "time") else err
        except Exception as err:  # noqa: BLE001 - PdfUnavailable, or WeasyPrint failing on the document
            entry.failure = err
        finally:
            with self._lock:
                self._waiting -= 1
                if entry.failure is not None:
                    entry.failed_until = time.monotonic() + self.limits.fail_seconds
                else:
                    self._bytes += len(entry.data or b"")
                    self._evict()
            entry.done.set()

    def _evict(self) -> None:
        for old_key in list(self._entries):  # least recently used first; renders in progress stay
            if self._bytes <= self.limits.cache_bytes:
                return
            old = self._entries[old_key]
            if old.done.is_set() and old.data is not None:
                del self._entries[old_key]
                self._bytes -= len(old.data)
