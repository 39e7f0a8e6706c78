"""Loopback stand-ins for an SMS gateway, the Zalo OA API and an SMTP server, recording what they receive.

They answer as the real services do (the SMS gateway: 200 with a small JSON; Zalo OA v3.0
``/v3.0/oa/message/cs``: 200 with ``{"error": 0, "message": "Success", "data": {"message_id": …}}``, or a
non-zero error for a wrong ``access_token`` header; SMTP: the RFC 5321 dialogue), so the channels are
tested against their request shapes, not against a mock of our own code.
"""

from __future__ import annotations

import json
import socketserver
import threading
import urllib.parse
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    """One request a stub received."""

    path: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, list[str]] = field(default_factory=dict)
    json: Any = None


class _HttpStub:
    """A threaded HTTP server on 127.0.0.1:0 that records POSTs and answers via `answer(record)`."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.status = 200
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                rec = Recorded(path=self.path, headers={k.lower(): v for k, v in self.headers.items()}, body=body)
                ctype = rec.headers.get("content-type", "")
                if ctype.startswith("application/x-www-form-urlencoded"):
                    rec.form = urllib.parse.parse_qs(body.decode("utf-8"))
                elif ctype.startswith("application/json"):
                    rec.json = json.loads(body)
                stub.requests.append(rec)
                status, answer = stub.answer(rec)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def answer(self, rec: Recorded) -> tuple[int, Any]:
        return self.status, {"status": "queued"}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class SmsGatewayStub(_HttpStub):
    """A generic HTTP SMS gateway: POST form fields (to, message, api_key) to /api/send."""

    def __init__(self, api_key: str = "sms-key") -> None:
        self.api_key = api_key
        super().__init__()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/send"

    def answer(self, rec: Recorded) -> tuple[int, Any]:
        if rec.form.get("api_key") != [self.api_key]:
            return 401, {"status": "error", "reason": "bad api key"}
        return self.status, {"status": "queued", "id": len(self.requests)}

    def messages(self) -> list[tuple[str, str]]:
        """Return (phone, text) of every accepted message."""
        return [
            (r.form["to"][0], r.form["message"][0]) for r in self.requests if r.form.get("api_key") == [self.api_key]
        ]


class ZaloOaStub(_HttpStub):
    """Zalo OA API v3.0: POST /v3.0/oa/message/cs, header access_token, JSON recipient.user_id + message.text."""

    def __init__(self, access_token: str = "zalo-token") -> None:
        self.access_token = access_token
        super().__init__()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v3.0/oa/message/cs"

    def answer(self, rec: Recorded) -> tuple[int, Any]:
        if rec.path != "/v3.0/oa/message/cs":
            return 404, {"error": 404, "message": "not found"}
        if rec.headers.get("access_token") != self.access_token:
            return 200, {"error": -216, "message": "Access token is invalid"}
        body = rec.json or {}
        if not body.get("recipient", {}).get("user_id") or not body.get("message", {}).get("text"):
            return 200, {"error": -201, "message": "Parameters are invalid"}
        return 200, {"error": 0, "message": "Success", "data": {"message_id": f"m{len(self.requests)}",
                                                                "user_id": body["recipient"]["user_id"]}}


class SmtpStub:
    """A minimal SMTP server (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) recording each message."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Any]] = []
        stub = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(b"220 stub ESMTP\r\n")
                sender, rcpts = "", []
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    verb = line[:4].upper()
                    if verb in (b"EHLO", b"HELO"):
                        self.wfile.write(b"250-stub\r\n250 8BITMIME\r\n" if verb == b"EHLO" else b"250 stub\r\n")
                    elif verb == b"MAIL":
                        sender, rcpts = line.decode().split(":", 1)[1].strip().strip("<>").split(">")[0], []
                        self.wfile.write(b"250 ok\r\n")
                    elif verb == b"RCPT":
                        rcpts.append(line.decode().split(":", 1)[1].strip().strip("<>").split(">")[0])
                        self.wfile.write(b"250 ok\r\n")
                    elif verb == b"DATA":
                        self.wfile.write(b"354 go ahead\r\n")
                        data = b""
                        while True:
                            chunk = self.rfile.readline()
                            if chunk in (b".\r\n", b".\n", b""):
                                break
                            data += chunk[1:] if chunk.startswith(b"..") else chunk
                        stub.messages.append((sender, rcpts, message_from_bytes(data, policy=policy.default)))
                        self.wfile.write(b"250 queued\r\n")
                    elif verb == b"QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:  # RSET, NOOP
                        self.wfile.write(b"250 ok\r\n")

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
