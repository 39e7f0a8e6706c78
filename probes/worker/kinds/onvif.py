"""The ``onvif`` kind: a camera's identity and clock offset, read over ONVIF (read-only).

A target gets an ONVIF job when it has an endpoint.  The endpoint is bound to the target's own
address before anything is sent (a credential goes only to the camera it belongs to); a camera
that answers but refuses every credential is an ``auth`` failure, not a camera "up" with an empty
identity.  ``/probe`` module: ``onvif`` (target ``IP[:PORT]`` or an ``http(s)://`` endpoint).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from sitescout.device_uris import UriCode, bind_to_device
from sitescout.probes.onvif.interrogate import async_interrogate
from sitescout.probes.onvif.types import OnvifConfig, OnvifTarget
from sitescout.probes.worker import metric_defs as md
from sitescout.probes.worker.jobs import (Family, Gauge, Kind, ProbeContext, ProbeJob, ProbeResult, reason_of,
                                          credentials_allowed)
from sitescout.probes.worker.probe_request import ProbeRequestError, check_ip
from sitescout.probes.worker.records import Target

if TYPE_CHECKING:
    from sitescout.probes.worker.store import StoreSnapshot

__all__ = ["DEFAULT_ONVIF_SETTINGS", "KIND", "OnvifSettings", "probe_onvif"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnvifSettings:
    """ONVIF identity/clock probe every `interval_s`, within `timeout_s` per camera."""

    batched: ClassVar[bool] = False
    interval_s: float = 600.0
    timeout_s: float = 20.0
    concurrency: int = 16
    #: Also try WS-Security PasswordText, which sends the password in clear (old cameras only).
    allow_plaintext_auth: bool = False

    @property
    def budget_s(self) -> float:
        """Return the hard limit of one interrogation."""
        return self.timeout_s


DEFAULT_ONVIF_SETTINGS = OnvifSettings()


async def probe_onvif(jobs: Sequence[ProbeJob], settings: OnvifSettings, ctx: ProbeContext) -> list[ProbeResult]:
    """Read each camera's identity and clock offset over ONVIF (read-only), within `timeout_s`."""
    budget = settings.timeout_s
    config = OnvifConfig(connect_timeout_s=min(3.0, budget), read_timeout_s=min(10.0, budget),
                         device_budget_s=budget, allow_plaintext_auth=settings.allow_plaintext_auth)
    return [await _probe_one(job, config, ctx) for job in jobs]


async def _probe_one(job: ProbeJob, config: OnvifConfig, ctx: ProbeContext) -> ProbeResult:
    """Interrogate one camera: its endpoint bound to its own address, then identity and clock."""
    started = time.monotonic()
    target = job.target
    # Defence in depth: targets are bound when loaded; an endpoint on another host is re-based here too.
    bound = bind_to_device(target.onvif or "", target.ip, ("http", "https"))
    if bound.uri is None or UriCode.USERINFO_REMOVED in bound.codes:
        detail = "malformed: the ONVIF endpoint is not a credential-free http(s) URL"
        return ProbeResult(job, False, "malformed", detail, time.monotonic() - started)
    if UriCode.REBASED in bound.codes:
        log.warning("%s/%s: onvif: endpoint host %s is not the device's address %s; re-based", target.site,
                    target.device, bound.params["host"], target.ip)
        target = dataclasses.replace(target, onvif=bound.uri)
    credentials = ctx.credentials if credentials_allowed(target, bound.uri) else ()
    got = await async_interrogate(OnvifTarget(target.ip, bound.uri), credentials, config, memory=ctx.auth_memory)
    elapsed = time.monotonic() - started
    if got.info is None:
        first = got.errors[0] if got.errors else "no answer"
        log.info("%s/%s: onvif: %s", target.site, target.device, first)
        return ProbeResult(job, False, reason_of(got.error_codes[0] if got.error_codes else None), first, elapsed)
    values = {"clock_offset_seconds": got.info.clock_offset_s} if got.info.clock_offset_s is not None else {}
    if got.info.auth == "failed":
        # The camera answers but refuses every credential: the NOC must see it (an `auth` error),
        # not a camera "up" with an empty identity.  Its clock was still measured.
        detail = "; ".join(got.errors) or "no credential set accepted"
        log.info("%s/%s: onvif: %s", target.site, target.device, detail)
        return ProbeResult(job, False, "auth", detail, elapsed, values=values)
    info = {"manufacturer": got.info.manufacturer, "model": got.info.model, "firmware": got.info.firmware}
    return ProbeResult(job, True, None, "; ".join(got.errors) or None, elapsed, values=values, info=info)


def plan(target: Target) -> list[ProbeJob]:
    """Return a target's ONVIF job: one when it has an endpoint."""
    return [ProbeJob("onvif", target)] if target.onvif else []


def families(snap: StoreSnapshot) -> Iterator[Family]:
    """Yield the ONVIF families of /metrics: ONVIF up, clock offset and camera identity."""
    cams = [t for t in snap.targets if t.onvif]
    onvif = [(t, snap.latest.get(("onvif", t.site, t.device, ""))) for t in cams]
    yield md.ONVIF_UP, [((t.site, t.device), 1.0 if r is not None and r.up else 0.0) for t, r in onvif], ()
    yield md.ONVIF_CLOCK_OFFSET, [((t.site, t.device), snap.clock_offset.get(t.key, 0.0)) for t in cams], ()
    no_id = {"manufacturer": "", "model": "", "firmware": ""}
    info = [(t, snap.identity.get(t.key, no_id)) for t in cams]
    yield (md.CAMERA_INFO,
           [((t.site, t.device, i.get("manufacturer", ""), i.get("model", ""), i.get("firmware", "")), 1.0)
            for t, i in info], ())


def build(module: str, target: str, budget_s: float, params: dict[str, str],
          onvif: OnvifSettings) -> tuple[ProbeJob, OnvifSettings]:
    """Return the job and settings of a /probe ``onvif`` request (IP[:PORT] or an http(s) URL) within `budget_s`."""
    url = target if "://" in target else f"http://{target}/onvif/device_service"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ProbeRequestError("target: not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ProbeRequestError("target: an ONVIF target is IP[:PORT] or an http(s):// URL")
    if parts.username is not None:
        raise ProbeRequestError("target: must not carry credentials (the worker's --credentials are used)")
    settings = dataclasses.replace(onvif, timeout_s=max(min(onvif.timeout_s, budget_s - 0.5), 0.5))
    return ProbeJob("onvif", Target("", target, check_ip(parts.hostname or ""), onvif=url)), settings


def gauges(result: ProbeResult) -> Iterator[Gauge]:
    """Yield the ONVIF gauges of a /probe answer (identity only when it was read)."""
    yield md.ONVIF_UP, 1.0 if result.up else 0.0, None
    yield md.ONVIF_CLOCK_OFFSET, result.values.get("clock_offset_seconds", 0.0), None
    if result.info:
        yield md.CAMERA_INFO, 1.0, result.info


KIND = Kind("onvif", OnvifSettings, DEFAULT_ONVIF_SETTINGS, probe_onvif, plan, families, {"onvif": 8}, build, gauges)
