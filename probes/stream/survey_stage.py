"""The survey's stream stage: check every distinct stream of every camera, and keep a snapshot.

Cameras often hand out one URI for several profiles; each distinct URI is
checked once, against the first profile that names it, and the check lists
every profile it serves.  A camera keeps one snapshot: the ONVIF snapshot URI's picture, else
the first stream frame, so a check JPEG-encodes its first picture (1080p: ~4 ms CPU, the
whole difference between a survey and a monitoring check, docs/benchmarks.md) only while
the camera has no snapshot yet.  Checks run in worker processes (see
:mod:`~sitescout.probes.stream.check`), a few at a time, so a hung FFmpeg never holds the survey.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sitescout.probes.credentials import Credential
from sitescout.probes.models import HostRecord, Snapshot
from sitescout.probes.stream.check import StreamChecker, StreamJob, StreamResult
from sitescout.probes.stream.config import DEFAULT_STREAM, StreamConfig
from sitescout.probes.stream.snapshot import check_snapshot

__all__ = ["StreamStageConfig", "async_check_streams"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamStageConfig:
    """How the survey checks streams: how many at once, and each check's bounds."""

    concurrency: int = 3
    stream: StreamConfig = DEFAULT_STREAM
    snapshot_timeout_s: float = 5.0
    #: Answer a snapshot's or a stream's Basic challenge (the password in clear): off unless asked for.
    allow_plaintext_auth: bool = False


def _jobs_for(record: HostRecord, credential: Credential | None,
              allow_plaintext_auth: bool = False) -> list[tuple[StreamJob, list[str]]]:
    """Return one job per distinct stream URI, with every profile token it serves."""
    jobs: dict[str, tuple[StreamJob, list[str]]] = {}
    assert record.onvif is not None
    for profile in record.onvif.profiles:
        if not profile.stream_uri:
            continue
        if profile.stream_uri in jobs:
            jobs[profile.stream_uri][1].append(profile.token)
            continue
        size = (profile.width, profile.height) if profile.width and profile.height else None
        job = StreamJob(profile.stream_uri, expected_fps=profile.fps_limit, expected_size=size,
                        credentials=credential, profile=profile.token, allow_plaintext_auth=allow_plaintext_auth)
        jobs[profile.stream_uri] = (job, [profile.token])
    return list(jobs.values())


def _snapshot_from_stream(results: Sequence[StreamResult]) -> Snapshot | None:
    for result in results:
        if result.snapshot_jpeg:
            return Snapshot("stream", result.uri, result.width, result.height, len(result.snapshot_jpeg),
                            base64.b64encode(result.snapshot_jpeg).decode("ascii"))
    return None


def _has_snapshot(results: Sequence[StreamResult], http: asyncio.Task[Snapshot | None]) -> bool:
    """Say whether the camera already has its snapshot: from an earlier stream, or its snapshot URI's."""
    if any(r.snapshot_jpeg for r in results):
        return True
    if not http.done() or http.cancelled() or http.exception() is not None:
        return False
    got = http.result()
    return got is not None and got.error is None


async def _async_snapshot(record: HostRecord, credential: Credential | None, timeout_s: float,
                          allow_basic: bool = False) -> Snapshot | None:
    assert record.onvif is not None
    uri = next((p.snapshot_uri for p in record.onvif.profiles if p.snapshot_uri), None)
    if uri is None:
        return None
    result = await asyncio.to_thread(check_snapshot, uri, credentials=credential, timeout_s=timeout_s,
                                     allow_basic=allow_basic)
    if not result.up or result.jpeg is None:
        return Snapshot("http", result.url, error=result.error, error_code=result.error_code)
    return Snapshot("http", result.url, result.width, result.height, result.size_bytes,
                    base64.b64encode(result.jpeg).decode("ascii"))


async def async_check_streams(
    records: Sequence[HostRecord],
    credential_for: Callable[[HostRecord], Credential | None],
    config: StreamStageConfig = StreamStageConfig(),
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> None:
    """Fill ``streams`` and ``snapshot`` of every camera record that has profiles."""
    cameras = [r for r in records if r.onvif is not None and r.onvif.profiles]
    work = [(r, _jobs_for(r, credential_for(r), config.allow_plaintext_auth)) for r in cameras]
    total = sum(len(jobs) for _, jobs in work)
    done = 0
    progress(0, total)
    with StreamChecker(concurrency=config.concurrency, config=config.stream) as checker:
        async def one_camera(record: HostRecord, jobs: list[tuple[StreamJob, list[str]]]) -> None:
            nonlocal done
            snapshot_task = asyncio.create_task(
                _async_snapshot(record, credential_for(record), config.snapshot_timeout_s,
                                config.allow_plaintext_auth))
            results: list[StreamResult] = []
            for job, tokens in jobs:
                stream = config.stream if not _has_snapshot(results, snapshot_task) else \
                    replace(config.stream, snapshot=False)  # the camera has its picture: no JPEG encode
                result = await asyncio.to_thread(checker.check, job, stream)
                check = result.to_check()
                check.profiles = tokens
                record.streams.append(check)
                results.append(result)
                done += 1
                progress(done, total)
            snapshot = await snapshot_task
            if snapshot is None or snapshot.error:
                snapshot = _snapshot_from_stream(results) or snapshot
            record.snapshot = snapshot

        await asyncio.gather(*(one_camera(r, jobs) for r, jobs in work))
