"""ONVIF interrogation of one camera: clock, auth, services, identity, network, media profiles and URIs.

Read-only: the survey never changes a camera (no SetSystemDateAndTime, unlike
Home Assistant).  Each stage runs on its own, so one failing stage never hides
the others (HA ``onvif/device.py``); every failure becomes one ``errors``
entry such as ``"GetNetworkInterfaces: unsupported: ter:ActionNotSupported"``.
Bounds: per-call connect/read timeouts, a capped reply size and a per-device
budget (:class:`OnvifConfig`).  Transport and library choice: see
:mod:`sitescout.probes.onvif.soap`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from sitescout.probes.onvif import parse
from sitescout.device_uris import rebase_onto, same_host, service_of
from sitescout.probes.credentials import Credential
from sitescout.probes.errors import (
    AuthError,
    ErrorCode,
    MalformedError,
    ProbeError,
    ProbeTimeout,
    UnreachableError,
    UnsupportedError,
    error_entry,
)
from sitescout.probes.models import MediaProfile, OnvifInfo
from sitescout.probes.onvif.soap import AuthMethod, BudgetExhausted, Service, SoapCaller, async_load_wsdls
from sitescout.probes.onvif.types import DEFAULT_ONVIF, AuthMemory, OnvifConfig, OnvifResult, OnvifTarget
from sitescout.probes.onvif.xaddr import normalize_uri, rebase_url, strip_credentials, url_host

__all__ = [
    "DEFAULT_ONVIF",
    "AuthMemory",
    "OnvifConfig",
    "OnvifResult",
    "OnvifTarget",
    "async_interrogate",
]

log = logging.getLogger(__name__)

# Errors a stage records and survives; the next stage still runs.
STAGE_ERRORS = (AuthError, UnsupportedError, MalformedError, ProbeTimeout, UnreachableError)
# At the first call these mean "nothing answers ONVIF here": stop instead of timing out N more times.
NOT_ANSWERING_ERRORS = (UnreachableError, ProbeTimeout)
# GetServices failures that send us to GetCapabilities (Axis Q6045-E "Action failed",
# Hikvision DS-2CD2012-I ter:InvalidParameter, devices answering HTML or junk).
GET_SERVICES_FALLBACK_ERRORS = (UnsupportedError, MalformedError)
# ONVIF Core "PRE_AUTH" operations: answered without credentials by conformant devices.
PRE_AUTH_OPERATIONS = frozenset({"GetSystemDateAndTime", "GetCapabilities", "GetServices"})
# Media2 failures after which Media1 is tried for the same data.
MEDIA2_FALLBACK_ERRORS = (UnsupportedError, MalformedError, AuthError)


class _Interrogation:
    """State of one interrogation: the SOAP caller, auth state, partial result."""

    def __init__(
        self,
        target: OnvifTarget,
        credentials: Sequence[Credential],
        config: OnvifConfig,
        memory: AuthMemory | None,
        caller: SoapCaller,
    ) -> None:
        self.target = target
        self.credentials = list(credentials)
        self.config = config
        self.memory = memory
        self.memory_key = target.endpoint or target.ip
        self.caller = caller
        self.info = OnvifInfo(
            endpoint=target.endpoint, xaddrs=list(target.xaddrs) or [target.xaddr], scopes=list(target.scopes)
        )
        self.errors: list[str] = []
        #: The ``error_codes`` entry of each of ``errors``, in the same order.
        self.error_codes: list[dict[str, Any]] = []
        self.clock_offset_s: float | None = None
        self.credential_index: int | None = None
        self.method: AuthMethod | None = None
        self.auth_tried = False
        self.attempts = 0
        parts = urlsplit(target.xaddr)
        self.answer_host = parts.hostname or target.ip
        self.answer_port = parts.port
        self._unsupported: set[tuple[str, str]] = set()

    # -- calls and authentication -------------------------------------------------

    async def call(
        self, url: str, service: Service, operation: str, params: dict[str, Any] | None = None
    ) -> etree._Element:
        """Call with the current auth; authenticate on the first auth refusal (once per device)."""
        cred = self.credentials[self.credential_index] if self.credential_index is not None else None
        if self.info.auth in ("required", "failed") and operation not in PRE_AUTH_OPERATIONS:
            # Anonymous requests after a refusal only feed the camera's lockout counter.
            raise AuthError(self.target.ip, f"not sent (credentials {self.info.auth})")
        try:
            return await self.caller.call(
                url, service, operation, params,
                credential=cred, method=self.method, clock_offset_s=self.clock_offset_s,
            )
        except AuthError as err:
            if cred is not None or self.auth_tried:
                raise
            if not self.credentials:
                self.info.auth = "required"
                raise AuthError(self.target.ip, f"credentials required ({err.detail})") from err
            return await self._authenticate(url, service, operation, params, err)

    def _plan(self, refusal: AuthError) -> list[tuple[int, AuthMethod]]:
        # A 401 with a Digest challenge means HTTP Digest is what the camera checks
        # (Hikvision "digest only", Axis); a SOAP NotAuthorized means WS-Security.
        if self.caller.challenge is not None and "HTTP 401" in refusal.detail:
            methods: list[AuthMethod] = ["http-digest", "wsse-digest", "wsse-text"]
        else:
            methods = ["wsse-digest", "http-digest", "wsse-text"]
        plan: list[tuple[int, AuthMethod]] = []
        known = self.memory.recall(self.memory_key) if self.memory else None
        if known is not None and known[0] < len(self.credentials) \
                and (known[1] != "wsse-text" or self.config.allow_plaintext_auth):
            plan.append(known)
        for method in methods:
            if method == "http-digest" and self.caller.challenge is None:
                continue  # no challenge seen: the camera does not speak HTTP Digest here
            if method == "wsse-text" and not self.config.allow_plaintext_auth:
                continue  # a device refusing the digests must not be handed the password in clear
            plan += [(i, method) for i in range(len(self.credentials)) if (i, method) not in plan]
        return plan

    async def _authenticate(
        self, url: str, service: Service, operation: str, params: dict[str, Any] | None, refusal: AuthError
    ) -> etree._Element:
        self.auth_tried = True
        last: AuthError = refusal
        for index, method in self._plan(refusal):
            if self.attempts >= self.config.max_auth_attempts:
                break
            self.attempts += 1
            log.debug("%s: trying credential %d with %s", self.target.ip, index, method)
            try:
                reply = await self.caller.call(
                    url, service, operation, params,
                    credential=self.credentials[index], method=method, clock_offset_s=self.clock_offset_s,
                )
            except AuthError as err:
                last = err
                continue
            self.credential_index, self.method = index, method
            self.info.auth = "ok"
            if self.memory is not None:
                self.memory.remember(self.memory_key, index, method)
            log.debug("%s: credential %d accepted with %s", self.target.ip, index, method)
            return reply
        self.info.auth = "failed"
        if self.memory is not None:
            self.memory.forget(self.memory_key)
        log.warning("%s: no credential set accepted after %d attempt(s)", self.target.ip, self.attempts)
        raise AuthError(
            self.target.ip, f"no credential set accepted after {self.attempts} attempt(s) (last: {last.detail})"
        ) from last

    def fail(self, operation: str, err: ProbeError, suffix: str = "", **params: Any) -> None:
        """Record one failed operation: its text in ``errors``, its code beside it (once)."""
        where = f"{operation}({params['profile']})" if "profile" in params else operation
        text = f"{where}: {err.as_text()}{suffix}"
        if text not in self.errors:
            self.errors.append(text)
            self.error_codes.append(err.as_code(operation=operation, **params))

    async def stage_raw(self, name: str, coro: object) -> None:
        """Await a stage whose errors the caller handles; only budget exhaustion is recorded here."""
        try:
            await coro  # type: ignore[misc]
        except BudgetExhausted as err:
            self.fail(name, err, f" ({self.config.device_budget_s:g} s)", budget_s=self.config.device_budget_s)
            raise

    async def stage(self, name: str, coro: object) -> bool:
        """Await one stage; record its failure as an error entry and go on."""
        try:
            await coro  # type: ignore[misc]
            return True
        except BudgetExhausted as err:
            self.fail(name, err, f" ({self.config.device_budget_s:g} s)", budget_s=self.config.device_budget_s)
            raise
        except STAGE_ERRORS as err:
            log.debug("%s: %s failed: %s", self.target.ip, name, err.as_text())
            self.fail(name, err)
            return False

    # -- address handling ---------------------------------------------------------

    def clean_url(self, url: str, what: str, *, http_service: bool, onvif_service: bool = False) -> str:
        """Strip whitespace and credentials; re-base on the interrogated endpoint.

        An ONVIF service XAddr (`onvif_service`) keeps only its path and query: scheme, host and port
        are the endpoint's (signed calls go nowhere else, not even another port of the camera's
        address).  Any other URL (a stream or snapshot URI) is re-based only when its host differs.
        """
        text = normalize_uri(url)
        clean = strip_credentials(text)
        if clean != text:
            self.note(f"{what} carried credentials; removed")
        host = url_host(clean)
        if onvif_service and service_of(clean) is not None and (
                service_of(clean) != service_of(self.target.xaddr) or not same_host(host, self.answer_host)):
            try:
                rebased = rebase_onto(clean, self.target.xaddr)
            except ValueError:
                return clean
            if not same_host(host, self.answer_host):
                self.note(f"{what} points at {host}, camera answers on {self.answer_host}; re-based")
            else:
                self.note(f"{what} names another port or scheme than the endpoint's; re-based onto the endpoint")
            return rebased
        if host and host.strip("[]") != self.answer_host.strip("[]"):
            rebased = rebase_url(clean, self.answer_host, self.answer_port if http_service else None)
            self.note(f"{what} points at {host}, camera answers on {self.answer_host}; re-based")
            return rebased
        return clean

    def note(self, finding: str) -> None:
        """Add a finding once."""
        if finding not in self.info.findings:
            self.info.findings.append(finding)

    # -- stages ---------------------------------------------------------------------

    async def clock(self) -> None:
        """Read the camera clock without credentials; offset = camera UTC - our UTC at the midpoint."""
        t0 = time.monotonic()
        wall0 = dt.datetime.now(dt.timezone.utc)
        reply = await self.caller.call(self.target.xaddr, "device", "GetSystemDateAndTime")
        midpoint = wall0 + dt.timedelta(seconds=(time.monotonic() - t0) / 2)
        camera = parse.parse_camera_utc(reply)
        if camera is None:
            raise MalformedError(self.target.ip, "no UTCDateTime in the reply")
        self.clock_offset_s = round((camera - midpoint).total_seconds(), 3)
        self.info.clock_offset_s = self.clock_offset_s
        if abs(self.clock_offset_s) > self.config.clock_skew_finding_s:
            self.note(
                f"camera clock is {self.clock_offset_s:+.0f} s off UTC; WS-Security timestamps use the camera's clock"
            )

    async def identity(self) -> None:
        """GetDeviceInformation (with authentication if the camera asks for it)."""
        reply = await self.call(self.target.xaddr, "device", "GetDeviceInformation")
        ident = parse.parse_device_information(reply)
        self.info.manufacturer, self.info.model = ident.manufacturer, ident.model
        self.info.firmware, self.info.serial, self.info.hardware_id = ident.firmware, ident.serial, ident.hardware_id

    async def services(self) -> None:
        """GetServices, falling back to GetCapabilities; every XAddr re-based on the answering address."""
        try:
            reply = await self.call(self.target.xaddr, "device", "GetServices", {"IncludeCapability": False})
            found = parse.parse_services(reply)
        except GET_SERVICES_FALLBACK_ERRORS as err:
            text = f"GetServices failed ({err.as_text()}); used GetCapabilities"
            self.note(text)
            self.info.fallbacks.append(err.as_code(operation="GetServices", used="GetCapabilities", text=text))
            reply = await self.call(self.target.xaddr, "device", "GetCapabilities", {"Category": "All"})
            found = parse.parse_capabilities(reply)
        self.info.services = {
            name: self.clean_url(url, f"{name} service XAddr", http_service=True, onvif_service=True)
            for name, url in found.items()
        }

    async def network(self) -> None:
        """GetNetworkInterfaces: the MAC of the first enabled interface."""
        reply = await self.call(self.target.xaddr, "device", "GetNetworkInterfaces")
        self.info.mac = parse.parse_mac(reply)

    async def scopes(self) -> None:
        """GetScopes, only when discovery gave none."""
        reply = await self.call(self.target.xaddr, "device", "GetScopes")
        self.info.scopes = parse.parse_scopes(reply)

    async def media(self) -> None:
        """Profiles from Media2 where offered (else Media1), then stream and snapshot URIs per profile."""
        services = self.info.services
        media2 = services.get("media2")
        # With no service list at all, try Media1 on the device URL (many cameras serve everything there).
        media1 = services.get("media") or (None if services else self.target.xaddr)
        media2_tokens: list[str] = []
        profiles: list[MediaProfile] = []
        if media2:
            log.debug("%s: fetching Media2 profiles", self.target.ip)
            try:
                reply = await self.call(media2, "media2", "GetProfiles")
                media2_tokens = parse.parse_profile_tokens(reply)
                profiles = parse.parse_profiles(reply, limit=self.config.max_profiles)
            except MEDIA2_FALLBACK_ERRORS as err:
                if media1 is None:
                    raise
                self.fail("Media2.GetProfiles", err)
        if not profiles and media1:
            # Media2 replies without configurations (captures from hikoem/uniview) leave Media1 to fill them.
            log.debug("%s: fetching profiles", self.target.ip)
            reply = await self.call(media1, "media", "GetProfiles")
            profiles = parse.parse_profiles(reply, limit=self.config.max_profiles)
        self.info.profiles = profiles
        for profile in profiles:
            order: list[tuple[str, Service]] = []
            if media2 and profile.token in media2_tokens:
                order.append((media2, "media2"))
            if media1:
                order.append((media1, "media"))
            profile.stream_uri = await self._uri(profile, order, "GetStreamUri", "stream URI")
            profile.snapshot_uri = await self._uri(profile, order, "GetSnapshotUri", "snapshot URI")

    async def _uri(
        self, profile: MediaProfile, order: list[tuple[str, Service]], operation: str, what: str
    ) -> str | None:
        params: dict[str, Any] = {"ProfileToken": profile.token}
        if operation == "GetStreamUri":
            params_media1 = {**params, "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}}
        else:
            params_media1 = params
        failure: tuple[str, ProbeError] | None = None
        for url, service in order:
            label = f"{'Media2.' if service == 'media2' else ''}{operation}"
            if (service, operation) in self._unsupported:
                continue
            try:
                reply = await self.call(url, service, operation, params if service == "media2" else params_media1)
            except BudgetExhausted:
                raise
            except STAGE_ERRORS as err:
                if isinstance(err, UnsupportedError) and "ActionNotSupported" in err.detail:
                    self._unsupported.add((service, operation))
                failure = (label, err)
                continue
            uri = parse.parse_uri(reply)
            if uri.strip():
                return self.clean_url(uri, what, http_service=operation == "GetSnapshotUri")
            failure = (label, MalformedError(uri, "empty Uri"))
        if failure:
            self.fail(failure[0], failure[1], profile=profile.token)
        return None


async def async_interrogate(
    target: OnvifTarget,
    credentials: Sequence[Credential],
    config: OnvifConfig = DEFAULT_ONVIF,
    *,
    memory: AuthMemory | None = None,
) -> OnvifResult:
    """Interrogate one camera read-only within the config's budget; failures become result errors."""
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    # Loading the bundled WSDLs (once per process; about 0.2 s quiet, seconds on a loaded machine) is our
    # cold start, not the camera's slowness: it must not eat the device's budget (the worker's first
    # probes of healthy cameras used to end as "timeout").  It is bounded by the hard stop all the same.
    try:
        async with asyncio.timeout(config.device_budget_s + 2.0):
            await async_load_wsdls()
    except TimeoutError:
        return OnvifResult(info=None, errors=["budget: timeout: loading the ONVIF WSDLs took too long"],
                           error_codes=[error_entry(ErrorCode.TIMEOUT, operation="budget",
                                                    detail="loading the ONVIF WSDLs took too long")],
                           duration_s=round(time.monotonic() - started, 3))
    caller = SoapCaller(
        target.ip,
        endpoint=target.xaddr,
        connect_timeout_s=config.connect_timeout_s,
        read_timeout_s=config.read_timeout_s,
        max_reply_bytes=config.max_reply_bytes,
        deadline=loop.time() + config.device_budget_s,
    )
    job = _Interrogation(target, credentials, config, memory, caller)
    answered = False
    try:
        # The hard stop: the caller already bounds every request by the budget;
        # this also covers anything else (WSDL loading, a stuck close).
        async with asyncio.timeout(config.device_budget_s + 2.0):
            log.debug("%s: reading clock from %s", target.ip, target.xaddr)
            try:
                await job.stage_raw("GetSystemDateAndTime", job.clock())
                answered = True
            except BudgetExhausted:
                raise
            except NOT_ANSWERING_ERRORS as err:
                job.fail("GetSystemDateAndTime", err)
                raise _Stop from err
            except STAGE_ERRORS as err:
                answered = not isinstance(err, MalformedError)
                job.fail("GetSystemDateAndTime", err)
            ok = await job.stage("GetDeviceInformation", job.identity())
            answered = answered or ok
            answered = await job.stage("GetServices", job.services()) or answered
            await job.stage("GetNetworkInterfaces", job.network())
            if not job.info.scopes:
                await job.stage("GetScopes", job.scopes())
            await job.stage("GetProfiles", job.media())
    except _Stop:
        pass
    except BudgetExhausted:
        pass  # already recorded by the stage it interrupted
    except TimeoutError:
        job.fail("budget", ProbeTimeout(target.ip, f"device time budget used up ({config.device_budget_s:g} s)"),
                 budget_s=config.device_budget_s)
    finally:
        await caller.close()
    elapsed = time.monotonic() - started
    log.debug(
        "%s: interrogation done in %.2f s, %d request(s), %d error(s)",
        target.ip,
        elapsed,
        caller.requests,
        len(job.errors),
    )
    return OnvifResult(
        info=job.info if answered else None,
        errors=job.errors,
        error_codes=job.error_codes,
        credential_used=job.credential_index,
        auth_method=job.method,
        auth_attempts=job.attempts,
        requests=caller.requests,
        duration_s=round(elapsed, 3),
    )


class _Stop(Exception):
    """Internal: the device does not answer; end the interrogation."""
