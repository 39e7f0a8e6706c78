"""RTSP transport: TCP first, UDP when the server refuses TCP (461), and errors that say what the server did
(issue #19).

The hostile RTSP server's udp-only mode answers SETUP over TCP with 461 and streams
RTP/JPEG datagrams over UDP; udp-silent does the same but sends no datagram (a
firewall dropping UDP). Both on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sitescout.infra.lab.rtsp_hostile import HostileRtspServer
from sitescout.probes.stream.check import StreamChecker, StreamJob
from sitescout.probes.stream.config import DEFAULT_STREAM


@pytest.fixture(scope="module")
def server() -> Iterator[HostileRtspServer]:
    pytest.importorskip("cv2")
    with HostileRtspServer("127.0.0.1", 0) as srv:
        yield srv


@pytest.fixture(scope="module")
def checker() -> Iterator[StreamChecker]:
    with StreamChecker(1) as c:
        yield c


def test_tcp_is_used_when_the_server_takes_it(server: HostileRtspServer, checker: StreamChecker) -> None:
    result = checker.check(StreamJob(server.url("healthy"), 15, (320, 240)))
    assert result.up and result.problems == [] and result.transport == "tcp", result


def test_a_server_that_refuses_tcp_is_read_over_udp(server: HostileRtspServer, checker: StreamChecker) -> None:
    """Before: "unreachable: could not open stream: global cap.cpp:212 open VIDEOIO(FFMPEG) ..."."""
    result = checker.check(StreamJob(server.url("udp-only"), 15, (320, 240)))
    assert result.up and result.error is None and result.problems == [], result.error
    assert result.transport == "udp" and result.fps_ok and result.frozen is False
    assert result.to_check().to_dict()["transport"] == "udp"  # the survey document's extra field
    assert result.duration_s is not None and result.duration_s <= DEFAULT_STREAM.budget_s


def test_udp_that_never_arrives_is_named(server: HostileRtspServer, checker: StreamChecker) -> None:
    result = checker.check(StreamJob(server.url("udp-silent"), 15, (320, 240)))
    assert not result.up and result.transport == "udp"
    assert result.error == ("timeout: the server refuses RTSP over TCP (461); over UDP: no RTP packet arrived "
                            f"within {DEFAULT_STREAM.open_timeout_s:g} s after PLAY (is UDP dropped on the way?)")
    assert result.duration_s is not None and result.duration_s <= DEFAULT_STREAM.budget_s


def test_a_udp_flood_is_bounded_like_a_tcp_one(server: HostileRtspServer, checker: StreamChecker) -> None:
    """Fragments of a never-ending H.264 picture as fast as datagrams go: cut at the memory cap."""
    result = checker.check(StreamJob(server.url("udp-flood"), 15, None))
    assert not result.up and result.error is not None
    assert result.error.startswith("malformed: undecodable: the check grew"), result.error
    assert result.memory_growth_mb is not None and result.memory_growth_mb < 100, result.memory_growth_mb
    assert result.duration_s is not None and result.duration_s < 5


@pytest.mark.netns
def test_survey_reads_a_udp_only_camera_and_names_udp_for_a_dropped_one(tmp_path: object) -> None:
    """End to end: a survey of a lab with a TCP camera, a UDP-only one and one whose UDP never arrives."""
    import json
    import sys

    from sitescout.infra.lab.netns import LabSite
    from sitescout.infra.lab.pytest_plugin import skip_unless_netns
    from sitescout.infra.lab.rtsp import gstreamer_available
    from sitescout.infra.lab.scenario import build_survey_lab, start_hostile_rtsp

    skip_unless_netns()
    if not gstreamer_available():
        pytest.skip("Debian's GStreamer RTSP server is not installed")
    with LabSite() as site:
        lab = build_survey_lab(site, ["hikvision_ds2cd2012i", "axis_q6045e", "trendnet_tvip320pi"], rtsp=True)
        try:
            start_hostile_rtsp(lab, 1, "udp-only")
            start_hostile_rtsp(lab, 2, "udp-silent")
            result = lab.scanner.run([sys.executable, "-m", "sitescout", "survey", "--site", "transports",
                                      "--network", "198.51.100.0/24", "--json", "-"],
                                     timeout=120, capture_output=True, text=True)
        finally:
            lab.close()
    assert result.returncode == 0, result.stderr[-3000:]
    hosts = {h["ip"]: h for h in json.loads(result.stdout)["hosts"]}
    tcp, udp, dropped = (hosts[c.ip]["streams"] for c in lab.cameras)
    assert tcp and all(s["up"] and s["transport"] == "tcp" for s in tcp), tcp
    # (The hostile server's 320x240 15 fps picture need not match the persona's profile: up is what counts.)
    assert udp and all(s["up"] and s["transport"] == "udp" and s["frozen"] is False for s in udp), \
        [(s["transport"], s["error"], s["problems"]) for s in udp]
    assert dropped and all(not s["up"] and "refuses RTSP over TCP (461); over UDP: no RTP packet arrived" in s["error"]
                           for s in dropped), [s["error"] for s in dropped]


def test_the_worker_falls_back_too(server: HostileRtspServer, tmp_path: object) -> None:
    """The worker's stream probe runs the same check: a UDP-only stream is up, a dropped one is a timeout."""
    import time
    from pathlib import Path

    from sitescout.probes.worker.exporter import serve_in_background
    from sitescout.probes.worker.scheduler import FileTargetSource, Worker

    modes = ["udp-only", "udp-silent"]
    lines = ["defaults:", "  stream: {interval_s: 30, window_s: 2, timeout_s: 8}",
             "  link: {interval_s: 300, count: 1, timeout_s: 0.5}", "targets:", "  - site: lab", "    device: cam",
             "    ip: 127.0.0.1", "    streams:"]
    lines += [f"      - {{uri: '{server.url(m, 'w')}', profile: {m}, expected_fps: 15}}" for m in modes]
    targets = Path(str(tmp_path)) / "targets.yml"
    targets.write_text("\n".join(lines) + "\n")
    worker = Worker(FileTargetSource(targets), poll_s=0.5)
    seen: dict[str, object] = {}
    with serve_in_background(worker):
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and len(seen) < len(modes):
            seen = {key[3]: result for key, result in worker.store.snapshot().latest.items() if key[0] == "stream"}
            time.sleep(0.3)
    assert set(seen) == set(modes), seen
    assert seen["udp-only"].up, seen["udp-only"]  # type: ignore[attr-defined]
    assert not seen["udp-silent"].up and seen["udp-silent"].reason == "timeout", seen["udp-silent"]  # type: ignore[attr-defined]


@pytest.mark.gstreamer
def test_gstreamer_udp_only_mounts_are_judged_as_over_tcp(checker: StreamChecker) -> None:
    """The lab's GStreamer server restricted to UDP (461 over TCP): live, black and frozen read as they are."""
    from sitescout.infra.lab.rtsp import RtspServer, StreamSpec, gstreamer_available

    if not gstreamer_available():
        pytest.skip("Debian's GStreamer RTSP server is not installed")
    mounts = {"/live": StreamSpec(transports="udp"), "/black": StreamSpec(behaviour="black", transports="udp"),
              "/frozen": StreamSpec(behaviour="frozen", transports="udp"), "/tcp": StreamSpec(transports="tcp")}
    with RtspServer("127.0.0.1", 0, mounts) as lab:
        results = {m: checker.check(StreamJob(lab.url(m), 15, (640, 480))) for m in mounts}
    expected = {"/live": ([], "udp"), "/black": (["black"], "udp"), "/frozen": (["frozen"], "udp"), "/tcp": ([], "tcp")}
    for mount, (problems, transport) in expected.items():
        r = results[mount]
        assert r.up and r.problems == problems and r.transport == transport, (mount, r.error, r.problems, r.transport)


def test_a_server_that_never_answers_tcp_setup_is_read_over_udp(server: HostileRtspServer,
                                                                  checker: StreamChecker) -> None:
    """SETUP over TCP swallowed (no answer, the connection open): UDP within the same budget, not "timeout"."""
    before = len(server.setups)
    result = checker.check(StreamJob(server.url("udp-setup-silent"), 15, (320, 240)))
    assert result.up and result.error is None and result.problems == [], result.error
    assert result.transport == "udp" and result.fps_ok and result.frozen is False
    assert server.setups[before:] == [("udp-setup-silent", "tcp"), ("udp-setup-silent", "udp")]
    assert result.duration_s is not None and result.duration_s <= DEFAULT_STREAM.budget_s


def test_a_server_that_answers_nothing_is_not_retried_over_udp(server: HostileRtspServer,
                                                                checker: StreamChecker) -> None:
    """No DESCRIBE answer: nothing says TCP is the trouble, so no UDP attempt; a plain timeout."""
    before = server.connections
    result = checker.check(StreamJob(server.url("silent"), 15, (320, 240)))
    assert not result.up and result.transport == "tcp"
    assert result.error is not None and result.error.startswith("timeout: stream did not open"), result.error
    assert server.connections == before + 1


@pytest.mark.netns
def test_survey_reads_a_silent_setup_camera_over_udp_and_bounds_a_udp_flood(tmp_path: object) -> None:
    """End to end in namespaces: SETUP over TCP swallowed -> read over UDP; a UDP flood -> cut at the memory cap."""
    import json
    import sys

    from sitescout.infra.lab.netns import LabSite
    from sitescout.infra.lab.pytest_plugin import skip_unless_netns
    from sitescout.infra.lab.rtsp import gstreamer_available
    from sitescout.infra.lab.scenario import build_survey_lab, start_hostile_rtsp

    skip_unless_netns()
    if not gstreamer_available():
        pytest.skip("Debian's GStreamer RTSP server is not installed")
    with LabSite() as site:
        lab = build_survey_lab(site, ["hikvision_ds2cd2012i", "axis_q6045e"], rtsp=True)
        try:
            start_hostile_rtsp(lab, 0, "udp-setup-silent")
            start_hostile_rtsp(lab, 1, "udp-flood")
            result = lab.scanner.run([sys.executable, "-m", "sitescout", "survey", "--site", "transports",
                                      "--network", "198.51.100.0/24", "--json", "-"],
                                     timeout=180, capture_output=True, text=True)
        finally:
            lab.close()
    assert result.returncode == 0, result.stderr[-3000:]
    hosts = {h["ip"]: h for h in json.loads(result.stdout)["hosts"]}
    silent, flood = (hosts[c.ip]["streams"] for c in lab.cameras)
    assert silent and all(s["up"] and s["transport"] == "udp" and s["frozen"] is False for s in silent), \
        [(s["transport"], s["error"], s["problems"]) for s in silent]
    assert flood and all(not s["up"] and s["error"].startswith("malformed: undecodable: the check grew")
                         for s in flood), [s["error"] for s in flood]


def test_a_silent_tcp_setup_and_dropped_udp_are_both_named(server: HostileRtspServer, checker: StreamChecker) -> None:
    """SETUP over TCP unanswered, then no datagram over UDP: the error says both, within the budget."""
    result = checker.check(StreamJob(server.url("udp-setup-silent-dropped"), 15, (320, 240)))
    assert not result.up and result.transport == "udp", result
    assert result.error is not None and result.error.startswith(
        f"timeout: the server did not answer SETUP over TCP within {DEFAULT_STREAM.open_timeout_s:g} s; over UDP: "
        "no RTP packet arrived within "), result.error
    assert result.error.endswith("after PLAY (is UDP dropped on the way?)"), result.error
    assert result.duration_s is not None and result.duration_s <= DEFAULT_STREAM.budget_s


@pytest.mark.gstreamer
def test_rtsp_tunnelled_over_http_when_asked(tmp_path: object) -> None:
    """StreamConfig(rtsp_transport="http") / --rtsp-transport http: RTSP over HTTP on the RTSP port, no fallback."""
    import json
    import subprocess
    import sys

    from sitescout.infra.lab.rtsp import RtspServer, StreamSpec, gstreamer_available

    if not gstreamer_available():
        pytest.skip("Debian's GStreamer RTSP server is not installed")
    with RtspServer("127.0.0.1", 0, {"/live": StreamSpec()}) as lab:
        done = subprocess.run([sys.executable, "-m", "sitescout.probes.stream.check", "--json", "--rtsp-transport",
                               "http", "--expected-fps", "15", lab.url("/live")],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (result,) = json.loads(done.stdout)
    assert result["up"] and result["transport"] == "http" and result["frozen"] is False, result
