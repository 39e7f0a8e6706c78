"""The survey encodes a stream snapshot only while the camera has none (issue 17: the survey check's extra CPU).

A camera keeps one snapshot; each extra JPEG encode of a 1080p first picture cost ~4 ms CPU
(docs/benchmarks.md). Real checks against the hostile RTSP server's healthy mode on 127.0.0.1;
the checker is wrapped only to see which StreamConfig each check was given.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from sitescout.infra.lab.rtsp_hostile import HostileRtspServer
from sitescout.probes.models import HostRecord, MediaProfile, OnvifInfo
from sitescout.probes.stream import survey_stage
from sitescout.probes.stream.check import StreamChecker


def test_only_the_first_stream_of_a_camera_encodes_a_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("cv2")
    asked: list[tuple[str, bool]] = []
    kept: list[bool] = []

    class Watched(StreamChecker):
        def check(self, job: Any, config: Any = None) -> Any:
            result = super().check(job, config)
            asked.append((job.profile, (config or self.config).snapshot))
            kept.append(result.snapshot_jpeg is not None)
            return result

    monkeypatch.setattr(survey_stage, "StreamChecker", Watched)
    with HostileRtspServer("127.0.0.1", 0) as server:
        profiles = [MediaProfile(f"p{i}", f"p{i}", "JPEG", 320, 240, 15.0, stream_uri=server.url("healthy", f"s{i}"))
                    for i in range(3)]
        record = HostRecord("127.0.0.1", kind="camera", onvif=OnvifInfo("http://127.0.0.1/onvif", profiles=profiles))
        stage = survey_stage.StreamStageConfig(concurrency=1)
        asyncio.run(survey_stage.async_check_streams([record], lambda r: None, stage))
    assert [s.up for s in record.streams] == [True, True, True], [s.error for s in record.streams]
    assert asked == [("p0", True), ("p1", False), ("p2", False)], asked
    assert kept == [True, False, False]
    assert record.snapshot is not None and record.snapshot.source == "stream"
    assert base64.b64decode(record.snapshot.jpeg_base64 or "")[:2] == b"\xff\xd8"
