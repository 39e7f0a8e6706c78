"""The worker's ``--web.config.file``: TLS and basic auth in the Prometheus exporter-toolkit format.

The same file node_exporter or blackbox_exporter take (exporter-toolkit ``web/tls_config.go``)::

    tls_server_config:
      cert_file: worker.crt            # relative paths are from this file's directory
      key_file: worker.key
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: prometheus-ca.crt
      min_version: TLS12
    http_server_config:
      headers: {X-Content-Type-Options: nosniff}
    rate_limit: {interval: 100ms, burst: 20}
    basic_auth_users:
      prometheus: $2b$12$...            # bcrypt hash (htpasswd -nBC 12 '' | tr -d ':\\n')

Loading is strict, as exporter-toolkit's ``yaml.UnmarshalStrict``: an unknown or repeated key,
a value of the wrong type, a bad bcrypt hash or an unreadable certificate is refused with the file,
line and key named (:class:`WebConfigError`).  What Python's ``ssl`` cannot do is refused by name
rather than silently ignored: ``client_auth_type`` RequestClientCert and RequireAnyClientCert
(Python verifies every client certificate it asks for), more than one ``curve_preferences``
entry.  ``http2`` is accepted and has no effect (the worker speaks HTTP/1.1).
"""

from __future__ import annotations

import dataclasses
import os
import re
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sitescout.probes.errors import WebConfigError  # defined with the package's other errors; kept importable here

__all__ = ["RateLimit", "TlsSettings", "WebConfig", "WebConfigError", "load_web_config", "parse_go_duration"]

_TOP_KEYS = ("tls_server_config", "http_server_config", "rate_limit", "basic_auth_users")
_TLS_KEYS = ("cert", "key", "client_ca", "cert_file", "key_file", "client_auth_type", "client_ca_file",
             "cipher_suites", "curve_preferences", "min_version", "max_version", "prefer_server_cipher_suites",
             "client_allowed_sans")
_HTTP_KEYS = ("http2", "headers")
_RATE_KEYS = ("burst", "interval")
_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1, "TLS12": ssl.TLSVersion.TLSv1_2,
             "TLS13": ssl.TLSVersion.TLSv1_3}
_CLIENT_AUTH = {"": ssl.CERT_NONE, "NoClientCert": ssl.CERT_NONE, "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
                "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}
_CLIENT_AUTH_UNSUPPORTED = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")
#: Go's names of the TLS 1.2 suites worth configuring -> OpenSSL's (TLS 1.3 suites are not configurable in Go either).
_CIPHERS = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
}
_CURVES = {"CurveP256": "prime256v1", "CurveP384": "secp384r1", "CurveP521": "secp521r1", "X25519": "X25519"}
#: Response headers the file may set, and their allowed values (None: any), as exporter-toolkit.
_HEADERS: Mapping[str, tuple[str, ...] | None] = {
    "Strict-Transport-Security": None, "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"), "X-XSS-Protection": None, "Content-Security-Policy": None}
_BCRYPT = re.compile(r"^\$2[abxy]?\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class RateLimit:
    """At most `burst` requests at once, refilled one per `interval_s` (a token bucket)."""

    interval_s: float
    burst: int


@dataclass(frozen=True)
class TlsSettings:
    """``tls_server_config``, paths resolved; :meth:`ssl_context` builds the server context."""

    cert_file: str = ""
    key_file: str = ""
    cert: str = field(default="", repr=False)
    key: str = field(default="", repr=False)
    client_ca_file: str = ""
    client_ca: str = ""
    client_auth: ssl.VerifyMode = ssl.CERT_NONE
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3
    ciphers: tuple[str, ...] = ()
    curve: str | None = None
    prefer_server_cipher_suites: bool = True
    client_allowed_sans: tuple[str, ...] = ()

    def ssl_context(self) -> ssl.SSLContext:
        """Return a server context with the certificate loaded.

        Raises:
            ssl.SSLError, OSError: the certificate, key or CA cannot be loaded.
        """
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version, ctx.maximum_version = self.min_version, self.max_version
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file or None)
        else:
            _load_inline_chain(ctx, self.cert, self.key, self.key_file)
        if self.client_ca_file:
            ctx.load_verify_locations(cafile=self.client_ca_file)
        elif self.client_ca:
            ctx.load_verify_locations(cadata=self.client_ca)
        ctx.verify_mode = self.client_auth
        if self.ciphers:
            ctx.set_ciphers(":".join(self.ciphers))
        if self.curve:
            ctx.set_ecdh_curve(self.curve)
        if self.prefer_server_cipher_suites:
            ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        return ctx


def _load_inline_chain(ctx: ssl.SSLContext, cert: str, key: str, key_file: str) -> None:
    """Load an inline PEM certificate (and key) through a private temporary file (ssl reads only files)."""
    fd, name = tempfile.mkstemp(prefix="sitescout-tls-", suffix=".pem")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(cert.strip() + "\n" + (key.strip() + "\n" if key else ""))
        ctx.load_cert_chain(name, key_file or None)
    finally:
        os.unlink(name)


@dataclass(frozen=True)
class WebConfig:
    """What the file asks for: TLS (None: plain HTTP), basic-auth users, extra headers, a rate limit."""

    tls: TlsSettings | None = None
    users: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)
    rate_limit: RateLimit | None = None

    @property
    def is_protected(self) -> bool:
        """Return True when requests need a password or a verified client certificate."""
        return bool(self.users) or (self.tls is not None and self.tls.client_auth == ssl.CERT_REQUIRED)


def parse_go_duration(text: str) -> float:
    """Return the seconds in a Go duration (``1m30s``, ``100ms``).

    Raises:
        ValueError: not a duration.
    """
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise ValueError(f"not a duration like 100ms or 1m30s: {text!r}")
    return total


class _Reader:
    """Walks the composed YAML with line numbers; every error names the file, line and key."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, node: yaml.Node, message: str) -> WebConfigError:
        return WebConfigError(self.path, node.start_mark.line + 1, message)

    def mapping(self, node: yaml.Node, where: str, allowed: tuple[str, ...] | None) -> dict[str, yaml.Node]:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{where}: must be a mapping")
        out: dict[str, yaml.Node] = {}
        for key_node, value in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            name = f"{where}.{key}" if where else str(key)
            if not isinstance(key, str):
                raise self.fail(key_node, f"{where or 'file'}: keys must be strings")
            if allowed is not None and key not in allowed:
                raise self.fail(key_node, f"{name}: unknown key (expected one of: {', '.join(allowed)})")
            if key in out:
                raise self.fail(key_node, f"{name}: repeated key")
            out[key] = value
        return out

    def text(self, node: yaml.Node, where: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag not in ("tag:yaml.org,2002:str",
                                                                        "tag:yaml.org,2002:null"):
            raise self.fail(node, f"{where}: must be a string")
        return "" if node.tag.endswith("null") else str(node.value)

    def boolean(self, node: yaml.Node, where: str) -> bool:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:bool":
            raise self.fail(node, f"{where}: must be true or false")
        return bool(yaml.safe_load(node.value))

    def texts(self, node: yaml.Node, where: str) -> list[tuple[yaml.Node, str]]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{where}: must be a list")
        return [(child, self.text(child, f"{where}[{i}]")) for i, child in enumerate(node.value)]


def _path(base: Path, text: str) -> str:
    return "" if not text else str(base / text) if not os.path.isabs(text) else text


def _read_tls(r: _Reader, node: yaml.Node, base: Path) -> TlsSettings | None:
    raw = r.mapping(node, "tls_server_config", _TLS_KEYS)
    values: dict[str, Any] = {}
    for key in ("cert", "key", "client_ca", "cert_file", "key_file", "client_ca_file", "client_auth_type",
                "min_version", "max_version"):
        if key in raw:
            values[key] = r.text(raw[key], f"tls_server_config.{key}")
    enabled = any(values.get(k) for k in ("cert", "key", "client_ca", "cert_file", "key_file", "client_ca_file",
                                          "client_auth_type"))
    if not enabled:
        return None  # as exporter-toolkit: no certificate, no TLS
    settings = TlsSettings(cert_file=_path(base, values.get("cert_file", "")),
                           key_file=_path(base, values.get("key_file", "")), cert=values.get("cert", ""),
                           key=values.get("key", ""), client_ca_file=_path(base, values.get("client_ca_file", "")),
                           client_ca=values.get("client_ca", ""))
    if not settings.cert_file and not settings.cert:
        raise r.fail(node, "tls_server_config: missing one of cert or cert_file")
    if not settings.key_file and not settings.key:
        raise r.fail(node, "tls_server_config: missing one of key or key_file")
    changes: dict[str, Any] = {}
    for key, attr in (("min_version", "min_version"), ("max_version", "max_version")):
        if values.get(key):
            if values[key] not in _VERSIONS:
                raise r.fail(raw[key], f"tls_server_config.{key}: expected one of {', '.join(_VERSIONS)}, "
                                       f"not {values[key]!r}")
            changes[attr] = _VERSIONS[values[key]]
    auth = values.get("client_auth_type", "")
    if auth in _CLIENT_AUTH_UNSUPPORTED:
        raise r.fail(raw["client_auth_type"], f"tls_server_config.client_auth_type: {auth} is not supported "
                     "(Python's ssl verifies every client certificate it asks for); use VerifyClientCertIfGiven "
                     "or RequireAndVerifyClientCert")
    if auth not in _CLIENT_AUTH:
        raise r.fail(raw["client_auth_type"], f"tls_server_config.client_auth_type: expected one of "
                     f"{', '.join(k for k in _CLIENT_AUTH if k)}, not {auth!r}")
    changes["client_auth"] = _CLIENT_AUTH[auth]
    has_ca = bool(settings.client_ca_file or settings.client_ca)
    if has_ca and changes["client_auth"] == ssl.CERT_NONE:
        raise r.fail(node, "tls_server_config: client CA's have been configured without a client_auth_type")
    if not has_ca and changes["client_auth"] != ssl.CERT_NONE:
        raise r.fail(raw["client_auth_type"], f"tls_server_config.client_auth_type: {auth} needs client_ca_file "
                                              "or client_ca (the CA that signs the clients' certificates)")
    if "cipher_suites" in raw:
        names = r.texts(raw["cipher_suites"], "tls_server_config.cipher_suites")
        for child, name in names:
            if name not in _CIPHERS:
                raise r.fail(child, f"tls_server_config.cipher_suites: unknown cipher: {name}")
        changes["ciphers"] = tuple(_CIPHERS[name] for _, name in names)
    if "curve_preferences" in raw:
        curves = r.texts(raw["curve_preferences"], "tls_server_config.curve_preferences")
        for child, name in curves:
            if name not in _CURVES:
                raise r.fail(child, f"tls_server_config.curve_preferences: unknown curve: {name}")
        if len(curves) > 1:
            raise r.fail(raw["curve_preferences"], "tls_server_config.curve_preferences: Python's ssl sets one "
                                                   "curve only; give one")
        changes["curve"] = _CURVES[curves[0][1]] if curves else None
    if "prefer_server_cipher_suites" in raw:
        changes["prefer_server_cipher_suites"] = r.boolean(raw["prefer_server_cipher_suites"],
                                                           "tls_server_config.prefer_server_cipher_suites")
    if "client_allowed_sans" in raw:
        if changes["client_auth"] != ssl.CERT_REQUIRED:
            raise r.fail(raw["client_allowed_sans"], "tls_server_config.client_allowed_sans: needs client_auth_type "
                                                     "RequireAndVerifyClientCert")
        changes["client_allowed_sans"] = tuple(t for _, t in r.texts(raw["client_allowed_sans"],
                                                                      "tls_server_config.client_allowed_sans"))
    settings = dataclasses.replace(settings, **changes)
    if settings.min_version > settings.max_version:
        raise r.fail(node, "tls_server_config: min_version is above max_version")
    try:
        settings.ssl_context()  # the certificate, key and CA load now, not at the first handshake
    except (OSError, ssl.SSLError, ValueError) as err:
        raise r.fail(node, f"tls_server_config: cannot load the certificate, key or CA: "
                           f"{getattr(err, 'strerror', None) or err}") from None
    return settings


def _read_users(r: _Reader, node: yaml.Node) -> dict[str, bytes]:
    users = {}
    for user, value in r.mapping(node, "basic_auth_users", None).items():
        hashed = r.text(value, f"basic_auth_users.{user}")
        if not _BCRYPT.match(hashed):
            raise r.fail(value, f"basic_auth_users.{user}: not a bcrypt hash (make one with "
                                "htpasswd -nBC 12 '' | tr -d ':\\n')")
        users[user] = hashed.encode("ascii")
    return users


def _read_http(r: _Reader, node: yaml.Node) -> dict[str, str]:
    raw = r.mapping(node, "http_server_config", _HTTP_KEYS)
    if "http2" in raw:
        r.boolean(raw["http2"], "http_server_config.http2")  # accepted; the worker speaks HTTP/1.1
    headers = {}
    for name, value in r.mapping(raw["headers"], "http_server_config.headers", None).items() \
            if "headers" in raw else ():
        text = r.text(value, f"http_server_config.headers.{name}")
        if name not in _HEADERS:
            raise r.fail(value, f"http_server_config.headers.{name}: HTTP header {name!r} can not be configured "
                                f"(expected one of: {', '.join(_HEADERS)})")
        allowed = _HEADERS[name]
        if allowed is not None and text not in allowed:
            raise r.fail(value, f"http_server_config.headers.{name}: expected one of {', '.join(allowed)}, "
                                f"not {text!r}")
        headers[name] = text
    return headers


def _read_rate(r: _Reader, node: yaml.Node) -> RateLimit | None:
    raw = r.mapping(node, "rate_limit", _RATE_KEYS)
    interval = 0.0
    if "interval" in raw:
        try:
            interval = parse_go_duration(r.text(raw["interval"], "rate_limit.interval"))
        except ValueError as err:
            raise r.fail(raw["interval"], f"rate_limit.interval: {err}") from None
    burst = 0
    if "burst" in raw:
        node_b = raw["burst"]
        if not isinstance(node_b, yaml.ScalarNode) or node_b.tag != "tag:yaml.org,2002:int":
            raise r.fail(node_b, "rate_limit.burst: must be an integer")
        burst = int(node_b.value)
    if interval == 0:
        return None  # as exporter-toolkit: no interval, no limiter
    if burst < 1:
        raise r.fail(node, "rate_limit.burst: must be at least 1 when an interval is given")
    return RateLimit(interval, burst)


def load_web_config(path: str | Path) -> WebConfig:
    """Read and check a web config file (an empty file means plain HTTP, no auth).

    Raises:
        WebConfigError: unreadable or invalid, with the file, line and key.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise WebConfigError(name, 0, f"cannot read: {getattr(err, 'strerror', None) or err}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise WebConfigError(name, mark.line + 1 if mark else 0, f"not valid YAML: {err}") from None
    if root is None:
        return WebConfig()
    r = _Reader(name)
    top = r.mapping(root, "", _TOP_KEYS)
    base = Path(path).resolve().parent
    return WebConfig(
        tls=_read_tls(r, top["tls_server_config"], base) if "tls_server_config" in top else None,
        users=_read_users(r, top["basic_auth_users"]) if "basic_auth_users" in top else {},
        headers=_read_http(r, top["http_server_config"]) if "http_server_config" in top else {},
        rate_limit=_read_rate(r, top["rate_limit"]) if "rate_limit" in top else None)
