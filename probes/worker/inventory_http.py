"""HTTP to the inventory, for the worker: the paths, one request, an answer's error text.

The token is sent as ``Authorization: Bearer`` and never logged or shown in a repr.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["OBSERVATIONS_PATH", "SD_PATH", "Answer", "check_url", "error_text", "request"]

SD_PATH = "/sd/prometheus"
OBSERVATIONS_PATH = "/api/v1/observations"


def check_url(url: str) -> str:
    """Return the inventory URL without its trailing slash, or raise ValueError naming --inventory."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--inventory must be an http:// or https:// URL, not {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("--inventory must not carry a user or password; give the token with --token-file")
    return url.rstrip("/")


@dataclass
class Answer:
    """One HTTP answer: its status and body, whatever the status."""

    status: int
    body: bytes


def request(url: str, token: str, timeout_s: float, data: bytes | None = None) -> Answer:
    """Make one HTTP request; any status is an answer, no answer raises OSError."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": "sitescout-worker"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 - scheme checked
            return Answer(resp.status, resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return Answer(err.code, err.read())


def error_text(answer: Answer) -> str:
    """Return the error an answer carries (its JSON ``error``, else the start of its body)."""
    try:
        doc = json.loads(answer.body)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        return doc["error"]
    return answer.body[:200].decode("utf-8", "replace").strip() or "(no message)"
