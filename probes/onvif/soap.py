"""Bounded, typed SOAP calls to one ONVIF camera: envelopes, WS-Security, HTTP Digest, reply parsing.

Library decision (issue: "onvif-zeep or onvif-zeep-async, say which"): we use
**onvif-zeep-async** (4.3), the maintained fork Home Assistant uses, but only
for what it does well:

* its **bundled WSDLs** (``onvif/wsdl/devicemgmt.wsdl``, ``media.wsdl``),
  loaded once through zeep with its ``AsyncSafeTransport`` (local files only,
  no remote schema fetches) and lax settings; zeep's ``create_message`` then
  builds every Device and Media1 request envelope, so request bodies follow
  the schema (e.g. GetStreamUri's nested StreamSetup);
* its ``UsernameDigestTokenDtDiff`` to sign requests: WS-Security
  PasswordDigest (or PasswordText) with ``Created`` shifted into the camera's
  clock (``dt_diff``) and written with a ``Z`` suffix.

We do **not** use its ``ONVIFCamera``/zeep transport to send or parse: it has
30 s/90 s timeouts, reads whole bodies, flattens faults into one error type,
has no Media2 WSDL and parses strictly against the schema.  Instead this
module owns the transport (aiohttp with explicit connect/read timeouts, the
caller's remaining device budget, and a body read capped at
``max_reply_bytes`` that stops as soon as the cap is passed) and parses
replies namespace-agnostically with :mod:`sitescout.probes.onvif.soapxml` (no DTD,
no entities), so a non-conformant camera yields a typed error, never a crash.
Media2 (``ver20/media``) has no bundled WSDL: its three read-only requests
are written out here.  Only read-only operations exist in this module.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import yarl
from lxml import etree

from sitescout.device_uris import may_send_credentials, same_host, uri_host
from sitescout.probes.credentials import Credential
from sitescout.probes.errors import (
    AuthError,
    MalformedError,
    ProbeError,
    ProbeTimeout,
    UnreachableError,
    UnsupportedError,
)
from sitescout.probes.onvif.soapxml import SoapFault, find_local, parse_xml, soap_fault

__all__ = [
    "AuthMethod",
    "BudgetExhausted",
    "DigestChallenge",
    "SoapCaller",
    "Service",
    "async_load_wsdls",
    "build_request",
]

log = logging.getLogger(__name__)

Service = Literal["device", "media", "media2"]
AuthMethod = Literal["wsse-digest", "http-digest", "wsse-text"]

_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
_NS = {
    "device": "http://www.onvif.org/ver10/device/wsdl",
    "media": "http://www.onvif.org/ver10/media/wsdl",
    "media2": "http://www.onvif.org/ver20/media/wsdl",
}
_BINDINGS = {"device": ("devicemgmt.wsdl", "DeviceBinding"), "media": ("media.wsdl", "MediaBinding")}
# The read-only operations this survey may send; anything else is a bug.
READ_ONLY_OPERATIONS = frozenset(
    {
        "GetSystemDateAndTime", "GetDeviceInformation", "GetServices", "GetCapabilities",
        "GetNetworkInterfaces", "GetScopes", "GetProfiles", "GetStreamUri", "GetSnapshotUri",
    }
)
# Fault subcodes (local part) that mean "your credentials were not accepted".
_AUTH_SUBCODES = frozenset(
    {"NotAuthorized", "FailedAuthentication", "InvalidSecurityToken", "FailedCheck",
     "SecurityTokenUnavailable", "MessageExpired", "AccessDenied"}
)
_AUTH_REASON = re.compile(r"not authori[sz]ed|authenticat|authority failure|wsse", re.IGNORECASE)
_CHUNK = 64 * 1024


class BudgetExhausted(ProbeTimeout):
    """The per-device time budget is used up: stop interrogating this device."""


def _import_onvif_client() -> Any:
    """Import ``onvif.client`` without letting its import-time ``logging.basicConfig(INFO)`` stick."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    import onvif.client

    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    return onvif.client


@functools.cache
def _wsdl_clients() -> dict[str, tuple[Any, Any]]:
    """Load the bundled Device and Media WSDLs once (about 0.2 s); local files only."""
    onvif_client = _import_onvif_client()
    import zeep
    from onvif.transport import ASYNC_TRANSPORT
    from zeep.settings import Settings

    clients: dict[str, tuple[Any, Any]] = {}
    for service, (wsdl, binding) in _BINDINGS.items():
        client = zeep.Client(
            os.path.join(onvif_client._WSDL_PATH, wsdl),
            transport=ASYNC_TRANSPORT,
            settings=Settings(strict=False, xml_huge_tree=False),
        )
        proxy = client.create_service(f"{{{_NS[service]}}}{binding}", "http://localhost/")
        clients[service] = (client, proxy)
    return clients


_wsdl_lock = threading.Lock()


def _load_wsdl_clients() -> dict[str, tuple[Any, Any]]:
    with _wsdl_lock:
        return _wsdl_clients()


async def async_load_wsdls() -> None:
    """Load the bundled WSDLs in a worker thread, so the first request does not block the event loop."""
    await asyncio.to_thread(_load_wsdl_clients)


def _media2_body(operation: str, params: dict[str, Any]) -> etree._Element:
    ns = _NS["media2"]
    op = etree.Element(f"{{{ns}}}{operation}", nsmap={"tr2": ns})
    if operation == "GetProfiles":
        etree.SubElement(op, f"{{{ns}}}Type").text = "All"
    elif operation == "GetStreamUri":
        etree.SubElement(op, f"{{{ns}}}Protocol").text = "RTSP"
    if "ProfileToken" in params:
        etree.SubElement(op, f"{{{ns}}}ProfileToken").text = str(params["ProfileToken"])
    env = etree.Element(f"{{{_SOAP12}}}Envelope", nsmap={"s": _SOAP12})
    etree.SubElement(env, f"{{{_SOAP12}}}Body").append(op)
    return env


def build_request(
    service: Service,
    operation: str,
    params: dict[str, Any] | None = None,
    *,
    credential: Credential | None = None,
    use_digest: bool = True,
    clock_offset_s: float | None = None,
) -> bytes:
    """Return the SOAP 1.2 request for a read-only operation, signed with WS-Security when a credential is given."""
    if operation not in READ_ONLY_OPERATIONS:
        raise ValueError(f"{operation} is not a read-only operation")
    params = params or {}
    if service == "media2":
        envelope = _media2_body(operation, params)
    else:
        client, proxy = _load_wsdl_clients()[service]
        envelope = client.create_message(proxy, operation, **params)
    if credential is not None:
        UsernameDigestTokenDtDiff = _import_onvif_client().UsernameDigestTokenDtDiff
        dt_diff = dt.timedelta(seconds=clock_offset_s) if clock_offset_s else None
        token = UsernameDigestTokenDtDiff(
            credential.username, credential.password, dt_diff=dt_diff, use_digest=use_digest
        )
        envelope, _ = token.apply(envelope, {})
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def _fault_error(target: str, fault: SoapFault) -> ProbeError:
    """Translate a SOAP 1.1/1.2 Fault into a typed error (auth or unsupported)."""
    codes = "/".join(fault.subcodes) or fault.code or "SOAP fault"
    detail = f"{codes} ({fault.reason[:200]})" if fault.reason else codes
    names = {code.rsplit(":", 1)[-1] for code in [*fault.subcodes, fault.code]}
    if names & _AUTH_SUBCODES or _AUTH_REASON.search(fault.reason):
        return AuthError(target, detail)
    return UnsupportedError(target, detail)


@dataclass
class DigestChallenge:
    """An HTTP Digest challenge from a 401 reply (RFC 7616; MD5 and SHA-256, qop=auth)."""

    realm: str
    nonce: str
    qop: str | None
    algorithm: str
    opaque: str | None
    nc: int = 0

    @classmethod
    def parse(cls, header: str) -> DigestChallenge | None:
        """Return the challenge in a WWW-Authenticate value, or None when it is not Digest."""
        if not header.lower().lstrip().startswith("digest"):
            return None
        fields = dict(
            (k.lower(), v1 if v1 else v2)
            for k, v1, v2 in re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))', header.split(None, 1)[-1])
        )
        if "nonce" not in fields:
            return None
        qops = [q.strip() for q in fields.get("qop", "").split(",") if q.strip()]
        return cls(
            realm=fields.get("realm", ""),
            nonce=fields["nonce"],
            qop="auth" if "auth" in qops else None,
            algorithm=fields.get("algorithm", "MD5"),
            opaque=fields.get("opaque"),
        )

    def authorization(self, credential: Credential, method: str, uri: str) -> str:
        """Return the Authorization header answering this challenge."""
        algo = self.algorithm.upper().removesuffix("-SESS")
        hfun = hashlib.sha256 if algo == "SHA-256" else hashlib.md5

        def h(text: str) -> str:
            return hfun(text.encode("utf-8")).hexdigest()

        self.nc += 1
        nc = f"{self.nc:08x}"
        cnonce = os.urandom(8).hex()
        ha1 = h(f"{credential.username}:{self.realm}:{credential.password}")
        if self.algorithm.upper().endswith("-SESS"):
            ha1 = h(f"{ha1}:{self.nonce}:{cnonce}")
        ha2 = h(f"{method}:{uri}")
        if self.qop:
            response = h(f"{ha1}:{self.nonce}:{nc}:{cnonce}:{self.qop}:{ha2}")
        else:
            response = h(f"{ha1}:{self.nonce}:{ha2}")
        parts = [
            f'username="{credential.username}"', f'realm="{self.realm}"', f'nonce="{self.nonce}"',
            f'uri="{uri}"', f'response="{response}"', f"algorithm={self.algorithm}",
        ]
        if self.qop:
            parts += [f"qop={self.qop}", f"nc={nc}", f'cnonce="{cnonce}"']
        if self.opaque is not None:
            parts.append(f'opaque="{self.opaque}"')
        return "Digest " + ", ".join(parts)


class SoapCaller:
    """Sends read-only SOAP requests to one device within its time budget; every failure is a ProbeError."""

    def __init__(
        self,
        target: str,
        *,
        endpoint: str | None = None,
        connect_timeout_s: float,
        read_timeout_s: float,
        max_reply_bytes: int,
        deadline: float,
    ) -> None:
        self.target = target
        #: The device's ONVIF endpoint: a credential goes only to its scheme, host and port.
        self.endpoint = endpoint
        self.max_reply_bytes = max_reply_bytes
        self.deadline = deadline
        self.read_timeout_s = read_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.challenge: DigestChallenge | None = None
        self.requests = 0
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s, sock_read=read_timeout_s),
            connector=aiohttp.TCPConnector(limit_per_host=2, ssl=False),
            auto_decompress=True,
            trust_env=False,
        )

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._session.close()

    def remaining_s(self) -> float:
        """Return how much of the device budget is left."""
        return self.deadline - asyncio.get_running_loop().time()

    async def call(
        self,
        url: str,
        service: Service,
        operation: str,
        params: dict[str, Any] | None = None,
        *,
        credential: Credential | None = None,
        method: AuthMethod | None = None,
        clock_offset_s: float | None = None,
    ) -> etree._Element:
        """POST one operation and return the first element of the reply Body.

        Raises:
            ProbeError: AuthError, UnsupportedError (a SOAP fault), MalformedError,
                UnreachableError, ProbeTimeout, or BudgetExhausted.
        """
        if credential is not None and not same_host(uri_host(url), self.target):
            # The last guard before a credential is serialised: only the device's own address gets it
            # (sitescout.device_uris; an inventory row once pointed a camera's endpoint at another host).
            raise AuthError(self.target, "credentials not sent: the URL is not on the device's address")
        if credential is not None and self.endpoint is not None \
                and not may_send_credentials(url, self.target, [self.endpoint]):
            # ... and only its ONVIF endpoint's scheme and port (a reply naming ":8081" of the same
            # address, at a NAT'd site another camera, gets nothing).
            raise AuthError(self.target, "credentials not sent: the URL is not the device's ONVIF endpoint")
        wsse = credential is not None and method in ("wsse-digest", "wsse-text")
        body = build_request(
            service, operation, params,
            credential=credential if wsse else None,
            use_digest=method != "wsse-text",
            clock_offset_s=clock_offset_s,
        )
        headers = {
            "Content-Type": f'application/soap+xml; charset=utf-8; action="{_NS[service]}/{operation}"',
            "Accept-Encoding": "identity",
        }
        digest = credential if method == "http-digest" else None
        for _ in range(2):
            if digest is not None and self.challenge is not None:
                path = yarl.URL(url).raw_path_qs or "/"
                headers["Authorization"] = self.challenge.authorization(digest, "POST", path)
            status, reply_headers, data = await self._post(url, body, headers)
            if status == 401:
                fresh = DigestChallenge.parse(reply_headers.get("WWW-Authenticate", ""))
                stale = "stale=true" in reply_headers.get("WWW-Authenticate", "").lower()
                if fresh is not None:
                    had_challenge = self.challenge is not None
                    self.challenge = fresh
                    # Retry once only when the credential was never checked (no
                    # challenge yet, or a stale nonce): a plain rejection must not
                    # cost a second login attempt.
                    if digest is not None and (not had_challenge or stale):
                        continue
                raise AuthError(self.target, f"HTTP 401{' (Digest challenge)' if fresh else ''}")
            return self._parse(status, data)
        raise AuthError(self.target, "HTTP 401 after a fresh Digest challenge")

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any, bytes]:
        remaining = self.remaining_s()
        if remaining <= 0:
            raise BudgetExhausted(self.target, "device time budget used up")
        self.requests += 1
        try:
            async with asyncio.timeout(remaining):
                async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                    if resp.status == 401:
                        return resp.status, resp.headers, b""
                    length = resp.content_length
                    if length is not None and length > self.max_reply_bytes:
                        raise MalformedError(
                            self.target, f"reply over {_size(self.max_reply_bytes)} (Content-Length {length})"
                        )
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in resp.content.iter_chunked(_CHUNK):
                        size += len(chunk)
                        if size > self.max_reply_bytes:
                            raise MalformedError(self.target, f"reply over {_size(self.max_reply_bytes)}")
                        chunks.append(chunk)
                    return resp.status, resp.headers, b"".join(chunks)
        except TimeoutError as err:
            if self.remaining_s() <= 0.05:
                raise BudgetExhausted(self.target, "device time budget used up") from err
            if isinstance(err, aiohttp.ConnectionTimeoutError):
                raise ProbeTimeout(self.target, f"no connection within {self.connect_timeout_s:g} s") from err
            raise ProbeTimeout(self.target, f"no reply within {self.read_timeout_s:g} s") from err
        except (aiohttp.ClientConnectorError, ConnectionError) as err:
            raise UnreachableError(self.target, _short(err)) from err
        except (aiohttp.ClientPayloadError, aiohttp.ClientResponseError, aiohttp.ServerDisconnectedError) as err:
            raise MalformedError(self.target, f"bad HTTP reply: {_short(err)}") from err
        except aiohttp.ClientError as err:
            raise UnreachableError(self.target, _short(err)) from err

    def _parse(self, status: int, data: bytes) -> etree._Element:
        try:
            root = parse_xml(data, max_bytes=self.max_reply_bytes, target=self.target)
        except ProbeError as err:
            raise MalformedError(self.target, f"HTTP {status}: {err.detail}" if status != 200 else err.detail) from err
        fault = soap_fault(root)
        if fault is not None:
            raise _fault_error(self.target, fault)
        if status in (403,):
            raise AuthError(self.target, f"HTTP {status}")
        if status != 200:
            raise MalformedError(self.target, f"HTTP {status} without a SOAP fault")
        body = find_local(root, "Body")
        first = None if body is None else next((el for el in body if isinstance(el.tag, str)), None)
        if first is None:
            raise MalformedError(self.target, "reply has no SOAP Body content")
        return first


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{n} bytes"


def _short(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text.splitlines()[0][:200]
