"""Error pages in the reader's language (their choice, then the browser's); JSON under /api and /sd.

Werkzeug's own titles and descriptions are English ("Not Found", "The requested URL was not
found on the server…"): a page shows ours instead, from the web catalogue.  A description a
view gave (``abort(404, description=_("No site has this number."))``) is already in the
reader's language and is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from flask import Response, make_response, render_template, request
from flask_babel import gettext as _
from markupsafe import escape

from sitescout.web.errors import api_error

__all__ = ["ERROR_WORDS", "is_api_request", "error_response"]

log = logging.getLogger(__name__)


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated when the page is made."""
    return message


#: status -> (title, what to do), in the web catalogue.
ERROR_WORDS: dict[int, tuple[str, str]] = {
    400: (N_("Bad request"), N_("The server could not understand this request. Go back, reload the page and try "
                                "again.")),
    401: (N_("Login required"), N_("Log in to see this page.")),
    403: (N_("Not allowed"), N_("Your account may not see or do this. Ask an administrator if you need it.")),
    404: (N_("Page not found"), N_("Nothing is at this address. Check the link, or start again from the map.")),
    405: (N_("Not allowed here"), N_("This address does not take this kind of request. Go back and use the page's "
                                      "own links and buttons.")),
    413: (N_("Too large"), N_("What was sent is larger than this server accepts. Send a smaller file.")),
    429: (N_("Too many requests"), N_("Too many requests in a short time. Wait a little and try again.")),
    500: (N_("Server error"), N_("Something went wrong on the server. Try again; if it happens again, tell the "
                                 "administrator.")),
    501: (N_("Not available"), N_("This server cannot do this.")),
    503: (N_("Server busy"), N_("The server is busy. Try again in a few seconds.")),
}


def is_api_request() -> bool:
    """Return whether this request is for the REST API or Prometheus (answered in JSON)."""
    return request.path.startswith(("/api/", "/sd/"))


def _words(code: int, description: str | None) -> tuple[str, str]:
    title, advice = ERROR_WORDS.get(code, ERROR_WORDS[500 if code >= 500 else 400])
    return _(title), description or _(advice)


def error_response(code: int, description: str | None = None, headers: Iterable[tuple[str, str]] = (),
                   json_error: str | None = None) -> Response:
    """Return the error answer for this request: a page in the reader's language, or JSON for the API.

    `description` is a sentence already in the reader's language (None: the status's own words);
    `json_error` is what the API says instead: a code of ``web.errors.API_WORDS`` (or a sentence).
    The API's answer is ``{"error", "code", "message"}`` in the reader's language (web/errors.py).
    """
    if is_api_request():
        response = api_error(code, json_error or description)
    else:
        title, message = _words(code, description)
        try:
            page = render_template("error.html", code=code, title=title, message=message)
        except Exception:  # noqa: BLE001 - the page itself failed (database down, say): plain words still answer
            log.exception("error page %d could not be rendered", code)
            page = f"<!doctype html><title>{code}</title><h1>{code} · {escape(title)}</h1><p>{escape(message)}</p>"
        response = make_response(page)
    response.status_code = code
    for name, value in headers:
        if name.lower() != "content-type":
            response.headers[name] = value
    return response
