"""Authentication of the simulated camera: WS-UsernameToken and HTTP Digest, with a failure lockout."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import threading
import time
from collections import deque
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from lxml import etree

from sitescout.infra.lab.camera_soap import _find

if TYPE_CHECKING:
    from sitescout.infra.lab.camera import CameraServer

log = logging.getLogger("sitescout.infra.lab.camera")  # the camera's logger, as before the split

_WSSE_WINDOW_S = 5.0
_NONCE_TTL_S = 300.0


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class _AuthGuard:
    """WS-UsernameToken and HTTP Digest checks, with a bounded failure lockout."""

    def __init__(self, server: CameraServer) -> None:
        self.cam = server
        self.secret = os.urandom(16)
        self.failures: deque[float] = deque(maxlen=1000)
        self.locked_until = 0.0
        self.lock = threading.Lock()

    def is_locked(self) -> bool:
        return time.monotonic() < self.locked_until

    def record(self, username: str, method: str, outcome: str) -> None:
        with self.lock:
            self.cam.auth_log.append({"time": time.time(), "username": username[:64],
                                      "method": method, "outcome": outcome})
            if outcome == "ok":
                return
            self.cam.failed_auth_attempts += 1
            if outcome == "locked":
                return
            now = time.monotonic()
            self.failures.append(now)
            recent = [t for t in self.failures if now - t <= 60.0]
            if len(recent) >= self.cam.lockout_threshold:
                self.locked_until = now + self.cam.lockout_seconds
                log.info("%s: locked out after %d failed attempts", self.cam.ip, len(recent))

    def check_wsse(self, root: etree._Element) -> tuple[bool | None, str]:
        """Return (None, "") without a token, else (valid, username)."""
        token = _find(root, "UsernameToken")
        if token is None:
            return None, ""
        user = _find(token, "Username")
        pwd = _find(token, "Password")
        nonce = _find(token, "Nonce")
        created = _find(token, "Created")
        username = (user.text or "").strip() if user is not None else ""
        assert self.cam.credentials is not None
        good_user, good_pass = self.cam.credentials
        if pwd is None or username != good_user:
            return False, username
        given = (pwd.text or "").strip()
        created_text = (created.text or "").strip() if created is not None else ""
        if pwd.get("Type", "").endswith("#PasswordText"):
            ok = hmac.compare_digest(given.encode(), good_pass.encode())
        else:
            try:
                raw_nonce = base64.b64decode((nonce.text or "").strip()) if nonce is not None else b""
            except ValueError:
                return False, username
            want = base64.b64encode(hashlib.sha1(raw_nonce + created_text.encode() + good_pass.encode()).digest())
            ok = hmac.compare_digest(given.encode(), want)
        if ok and created_text:
            try:
                stamp = datetime.fromisoformat(created_text.replace("Z", "+00:00"))
                if stamp.tzinfo is None:
                    stamp = stamp.replace(tzinfo=timezone.utc)
            except ValueError:
                return False, username
            if abs((stamp - self.cam.now()).total_seconds()) > _WSSE_WINDOW_S:
                return False, username
        return ok, username

    def challenge(self) -> str:
        stamp = f"{int(time.time()):x}"
        sig = hmac.new(self.secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        return (f'Digest realm="{self.cam.realm}", qop="auth", nonce="{stamp}{sig}", '
                f'opaque="{self.secret.hex()[:16]}", algorithm=MD5')

    def check_digest(self, header: str, method: str) -> tuple[bool, str]:
        params = dict((k.lower(), v1 or v2) for k, v1, v2 in
                      re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))', header[len("Digest"):]))
        username = params.get("username", "")
        assert self.cam.credentials is not None
        good_user, good_pass = self.cam.credentials
        nonce = params.get("nonce", "")
        stamp, sig = nonce[:-24], nonce[-24:]
        want_sig = hmac.new(self.secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        try:
            fresh = abs(time.time() - int(stamp, 16)) <= _NONCE_TTL_S
        except ValueError:
            fresh = False
        if username != good_user or not fresh or not hmac.compare_digest(sig, want_sig):
            return False, username
        ha1 = _md5(f"{good_user}:{params.get('realm', '')}:{good_pass}")
        ha2 = _md5(f"{method}:{params.get('uri', '')}")
        if params.get("qop"):
            want = _md5(f"{ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:{params.get('qop')}:{ha2}")
        else:
            want = _md5(f"{ha1}:{nonce}:{ha2}")
        ok = params.get("realm") == self.cam.realm and hmac.compare_digest(params.get("response", ""), want)
        return ok, username


