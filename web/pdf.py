"""PDF of a printable HTML page, made with WeasyPrint in-process: no browser, no network."""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["html_to_pdf", "PdfUnavailable"]

log = logging.getLogger(__name__)


class PdfUnavailable(RuntimeError):
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
