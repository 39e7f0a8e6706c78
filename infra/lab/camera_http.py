"""The simulated camera's HTTP side: ONVIF SOAP requests and snapshots, answered through its ``CameraServer``."""

from __future__ import annotations

import logging
import re
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lxml import etree

from sitescout.infra.lab.camera_hostile import hostile_reply, stream_huge, stream_slow, stream_snapshot_forever
from sitescout.infra.lab.camera_soap import _SOAP_CT, _WELLFORMED_FAULT, MEDIA2_NS, _find, _local
from sitescout.infra.lab.personas import parse_xml

if TYPE_CHECKING:
    from sitescout.infra.lab.camera import CameraServer

log = logging.getLogger("sitescout.infra.lab.camera")  # the camera's logger, as before the split

_MAX_BODY = 1 << 20


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "webs"
    sys_version = ""
    timeout = 15
    cam: CameraServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s: %s", self.cam.ip, format % args)

    def handle(self) -> None:
        if not self.cam._conn_slots.acquire(blocking=False):
            return
        try:
            if self.cam.hostile == "hang":
                self.cam._stop.wait(600)
                return
            super().handle()
        except (ConnectionError, TimeoutError, OSError):
            pass
        finally:
            self.cam._conn_slots.release()

    # -- plumbing -------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str = _SOAP_CT, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _challenge(self) -> None:
        self._send(401, b"<html><body><h1>401 Unauthorized</h1></body></html>", "text/html",
                   {"WWW-Authenticate": self.cam._guard.challenge()})

    # -- snapshot -------------------------------------------------------------
    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path not in self.cam.snapshot_paths:
            self._send(404, b"<html><body>404 Not Found</body></html>", "text/html")
            return
        if self.cam.credentials is not None:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Digest "):
                self._challenge()
                return
            ok, user = self.cam._guard.check_digest(header, "GET")
            if self.cam._guard.is_locked():
                self.cam._guard.record(user, "digest", "locked")
                self._challenge()
                return
            self.cam._guard.record(user, "digest", "ok" if ok else "failed")
            if not ok:
                self._challenge()
                return
        if self.cam.hostile in ("snapshot_endless", "snapshot_drip"):
            stream_snapshot_forever(self, self.cam.jpeg, drip=self.cam.hostile == "snapshot_drip", stop=self.cam._stop)
            return
        self._send(200, self.cam.jpeg, "image/jpeg")

    # -- SOAP -----------------------------------------------------------------
    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path not in self.cam.service_paths:
            self._send(404, b"<html><body>404 Not Found</body></html>", "text/html")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._send(411, b"", "text/plain")
            return
        if length > _MAX_BODY or length < 0:
            self._send(413, b"", "text/plain")
            self.close_connection = True
            return
        data = self.rfile.read(length)
        try:
            root = parse_xml(data)
        except etree.XMLSyntaxError:
            self._send(400, _WELLFORMED_FAULT)
            return
        action, token = self._action(root, path)
        status, body = self.cam._dispatch(action, root, token, self.headers.get("Authorization", ""))
        if status == 401 and body == b"":
            self._challenge()
            return
        self._reply(action, status, body)

    def _auth_headers(self, status: int) -> dict[str, str]:
        if status == 401 and "digest" in self.cam.auth and self.cam.credentials is not None:
            return {"WWW-Authenticate": self.cam._guard.challenge()}
        return {}

    def _action(self, root: etree._Element, path: str) -> tuple[str, str | None]:
        body = _find(root, "Body")
        first = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
        if first is not None:
            name, ns = _local(first.tag), etree.QName(first.tag).namespace or ""
        else:
            m = re.search(r'action="?([^";]+)', self.headers.get("Content-Type", ""))
            url = m.group(1) if m else ""
            name, ns = url.rstrip("/").rsplit("/", 1)[-1], url
        media2 = MEDIA2_NS in ns or (not ns and path.lower().endswith("media2"))
        token_el = _find(first, "ProfileToken") if first is not None else None
        token = (token_el.text or "").strip() if token_el is not None else None
        return (f"Media2.{name}" if media2 else name), token

    def _reply(self, action: str, status: int, body: bytes) -> None:
        mode = self.cam.hostile
        if mode in ("huge", "huge_chunked"):
            stream_huge(self, status, body, chunked=mode == "huge_chunked", stop=self.cam._stop)
        elif mode == "slow":
            stream_slow(self, status, body, stop=self.cam._stop)
        else:
            status, body, ctype = hostile_reply(mode, action, status, body)
            self._send(status, body, ctype, extra=self._auth_headers(status))

