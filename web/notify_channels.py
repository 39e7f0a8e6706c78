"""Where a message to a person goes: an SMS gateway over HTTP, a Zalo Official Account, e-mail over SMTP.

Standard library only (urllib, smtplib): the web process sends these itself, so ``web/`` needs no probe
code and the inventory stays pure.  Each channel takes a contact's address for it and a short text;
a failure raises `ChannelError` with a reason that never carries a secret (API keys and the Zalo access
token travel in headers or form fields, and neither is ever put in the message).
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

from sitescout.inventory.alert_models import Contact
from sitescout.web.errors import ChannelError  # defined with the package's other errors; kept importable here

__all__ = ["Channel", "ChannelError", "SmsHttpChannel", "ZaloOaChannel", "EmailChannel", "ZALO_OA_CS_URL"]

log = logging.getLogger(__name__)

#: Zalo OA API v3.0, customer-service message (text): POST, header ``access_token``, JSON body
#: ``{"recipient": {"user_id": …}, "message": {"text": …}}``; answers ``{"error": 0, "message": "Success", …}``.
ZALO_OA_CS_URL = "https://openapi.zalo.me/v3.0/oa/message/cs"
_ZALO_TEXT_MAX = 2000


class Channel(Protocol):
    """One way of reaching a person."""

    @property
    def name(self) -> str:
        """The channel's name in records and logs ("sms", "zalo", "email")."""

    def address(self, contact: Contact) -> str:
        """Return the contact's address on this channel, or "" when it has none."""

    def send(self, address: str, subject: str, text: str) -> None:
        """Deliver one message or raise ChannelError."""


def _post(request: urllib.request.Request, timeout_s: float, who: str) -> bytes:
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310 (configured URL)
            return answer.read(65536)
    except urllib.error.HTTPError as err:
        raise ChannelError(f"{who} answered HTTP {err.code}") from err
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        reason = getattr(err, "reason", err)
        raise ChannelError(f"{who} unreachable: {reason}") from err


@dataclass(frozen=True)
class SmsHttpChannel:
    """A generic SMS gateway: POST form fields to a URL; ``{phone}`` and ``{text}`` are filled in.

    Most Vietnamese gateways (and Kannel, Twilio-style APIs) take this form, e.g. ``url:
    https://sms.example.vn/api/send`` with ``fields: {to: "{phone}", message: "{text}", api_key: "…"}``.
    A gateway that wants the text in the URL gets ``{phone}``/``{text}`` URL-quoted there.
    """

    url: str
    fields: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0
    name: str = "sms"

    def address(self, contact: Contact) -> str:
        """Return the contact's phone number."""
        return contact.phone or ""

    def send(self, address: str, subject: str, text: str) -> None:
        """POST the message to the gateway; any 2xx is accepted."""
        quoted = {"phone": urllib.parse.quote(address, safe=""), "text": urllib.parse.quote(text, safe="")}
        url = self.url.format(**quoted)
        values = {"phone": address, "text": text}
        body = urllib.parse.urlencode({k: v.format(**values) for k, v in self.fields.items()}).encode()
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8", **self.headers})
        _post(request, self.timeout_s, "SMS gateway")


@dataclass(frozen=True)
class ZaloOaChannel:
    """A Zalo Official Account: a customer-service text message to the follower's user_id.

    Zalo lets an OA send such messages to users who interacted with it recently; for messages at any time
    its transaction (template) messages are the route, with the same request shape and another URL.
    """

    access_token: str
    url: str = ZALO_OA_CS_URL
    timeout_s: float = 10.0
    name: str = "zalo"

    def address(self, contact: Contact) -> str:
        """Return the contact's Zalo user id (as the OA sees them)."""
        return contact.zalo_user_id or ""

    def send(self, address: str, subject: str, text: str) -> None:
        """POST the message; Zalo answers HTTP 200 with ``error`` 0 on success, another number otherwise."""
        body = json.dumps({"recipient": {"user_id": address}, "message": {"text": text[:_ZALO_TEXT_MAX]}},
                          ensure_ascii=False).encode()
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "access_token": self.access_token})
        raw = _post(request, self.timeout_s, "Zalo OA")
        try:
            answer = json.loads(raw)
        except ValueError as err:
            raise ChannelError("Zalo OA answered something that is not JSON") from err
        if not isinstance(answer, dict) or answer.get("error") != 0:
            code = answer.get("error") if isinstance(answer, dict) else None
            message = str(answer.get("message", ""))[:200] if isinstance(answer, dict) else ""
            raise ChannelError(f"Zalo OA refused the message: error {code} {message}".strip())


@dataclass(frozen=True)
class EmailChannel:
    """E-mail over SMTP (STARTTLS when asked; login when a user is given)."""

    host: str
    port: int = 25
    sender: str = "sitescout@localhost"
    starttls: bool = False
    username: str = ""
    password: str = ""
    timeout_s: float = 10.0
    name: str = "email"

    def address(self, contact: Contact) -> str:
        """Return the contact's e-mail address."""
        return contact.email or ""

    def send(self, address: str, subject: str, text: str) -> None:
        """Send one plain-text UTF-8 message."""
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, address, subject
        message.set_content(text)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as err:
            raise ChannelError(f"SMTP server {self.host}:{self.port}: {type(err).__name__}: {err}") from err
