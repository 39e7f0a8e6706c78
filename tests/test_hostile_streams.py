"""The RTSP half of the hostile device zoo: every hostile stream ends within its budget with a clear error.

Three levels, each with healthy streams in the same batch:
1. the stream-check API against `HostileRtspServer` on 127.0.0.1 (no GStreamer, no root);
2. ``sitescout survey`` in a lab namespace where some cameras' RTSP servers are hostile;
3. the worker, in-process on loopback, with stream targets pointing at hostile streams.
Memory is the peak resident size of the stream-check worker processes (VmHWM).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sitescout.infra.lab.rtsp_hostile import MODES, HostileRtspServer, jpeg_rtp_payloads
from sitescout.probes.credentials import Credential
from sitescout.probes.stream.check import StreamChecker, StreamJob
from sitescout.probes.stream.config import DEFAULT_STREAM
from sitescout.probes.stream.redact import scrub

USER, SECRET = "admin", "h0stile-Secret/9"
CREDS = Credential(USER, SECRET)
BASIC = base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
LEAKS = (SECRET, BASIC, BASIC.rstrip("="), "h0stile-Secret%2F9")
MEMORY_LIMIT_MB = 100.0

#: Mode -> (accepted error prefixes). garbage-bytes is "malformed" when FFmpeg happened to
#: parse the noise as an RTSP reply before the open gave up, else indistinguishable from silence.
EXPECTED = {
    "auth-forever": ("auth: the camera refused the credentials (RTSP 401)",),
    "redirect-self": ("malformed: redirect loop: ",),
    "redirect-pingpong": ("malformed: redirect loop: ",),
    "silent": ("timeout: stream did not open within",),
    "stall-mid": ("timeout: stalled: no new frame",),
    "silent-after-play": ("timeout: no video within",),
    "garbage-bytes": (
        "malformed: undecodable: the server sent data that is not a video stream",
        "timeout: no video within",
    ),
    "garbage-rtp": ("timeout: no video within",),
    "endless-frame": ("timeout: no video within",),
    "flood-fragment": ("malformed: undecodable: the check grew",),
}
#: Modes that check how credentials are answered (tests/test_stream_credentials.py, test_stream_preflight_match.py).
CREDENTIAL_MODES = {"basic-only", "digest-only", "redirect-other", "redirect-other-basic", "udp-only", "udp-silent",
                    "udp-flood", "ua-split", "udp-then-basic",
                    "udp-setup-silent", "udp-setup-silent-dropped"}  # the udp-* modes: tests/test_stream_transport.py
assert set(EXPECTED) == set(MODES) - {"healthy"} - CREDENTIAL_MODES
BASIC_REFUSED = "auth: the camera asks for RTSP Basic, which sends the password in clear: not answered without " \
                "--allow-plaintext-auth"


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileRtspServer]:
    pytest.importorskip("cv2")
    with HostileRtspServer("127.0.0.1", 0, stall_after_s=1.0) as server:
        yield server


def _status_mb(pid: int, field: str) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class WorkerPeaks:
    """Sample the peak resident size (VmHWM) of every stream-check process below this one, every 50 ms."""

    def __init__(self) -> None:
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WorkerPeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in _descendants(os.getpid()):
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"spawn_main" in cmdline:
                    peak = _status_mb(pid, "VmHWM")
                    if peak is not None:
                        self.peaks[pid] = max(peak, self.peaks.get(pid, 0.0))
            self._stop.wait(0.05)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@pytest.fixture(scope="module")
def idle_worker_mb() -> float:
    """Resident size of a ready stream-check worker (OpenCV imported), the baseline of every growth figure."""
    pytest.importorskip("cv2")
    with StreamChecker(1) as checker:
        checker.check(StreamJob("rtsp://127.0.0.1:9/none", None, None))  # refused at once; leaves the worker idle
        (pid,) = checker.worker_pids()
        rss = _status_mb(pid, "VmRSS")
    assert rss is not None
    return rss


# ---------------------------------------------------------------------------
# Level 1: the stream-check API.


def test_rtp_jpeg_payloads_carry_the_whole_scan() -> None:
    cv2 = pytest.importorskip("cv2")
    np = pytest.importorskip("numpy")
    ok, jpeg = cv2.imencode(".jpg", np.full((240, 320, 3), 90, np.uint8))
    assert ok
    payloads = jpeg_rtp_payloads(jpeg.tobytes(), max_payload=400)
    assert len(payloads) >= 2 and all(len(p) <= 400 for p in payloads)
    assert payloads[0][4:8] == bytes([1, 255, 40, 30])  # type 1 (4:2:0), Q 255, 320/8, 240/8
    assert payloads[0][8:12] == bytes([0, 0, 0, 128])  # in-band tables: two 64-byte tables
    offsets = [int.from_bytes(p[1:4], "big") for p in payloads]
    assert offsets[0] == 0 and offsets == sorted(offsets)


def test_every_hostile_stream_ends_in_budget_with_a_clear_error(
    hostile: HostileRtspServer, idle_worker_mb: float, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sitescout")
    hostile_modes = list(EXPECTED)
    # Healthy streams between the hostile ones: they share the checker's two workers with them.
    names = ["healthy-1", *hostile_modes[:5], "healthy-2", *hostile_modes[5:], "healthy-3"]
    # Basic allowed: the worst case, where the password is sent and echoed back.
    jobs = [StreamJob(hostile.url(n.split("-")[0] if n.startswith("healthy") else n, n), 15, (320, 240), CREDS, n,
                      allow_plaintext_auth=True) for n in names]
    started = time.monotonic()
    with WorkerPeaks() as peaks, StreamChecker(2) as checker:
        results = {r.profile: r for r in checker.check_many(jobs)}
    total = time.monotonic() - started
    for name, r in results.items():
        print(f"\nFIGURE check {name} | {r.duration_s:.2f} s | {r.memory_growth_mb} MB | {r.error}")
        assert r.duration_s is not None and r.duration_s <= DEFAULT_STREAM.budget_s + 0.5, (name, r.duration_s)
        assert r.memory_growth_mb is not None and r.memory_growth_mb < MEMORY_LIMIT_MB, (name, r.memory_growth_mb)
        if name.startswith("healthy"):
            assert r.up and r.problems == [] and r.error is None, (name, r)
            assert r.fps_ok and r.size_ok and r.frozen is False and r.decode_errors == 0
            continue
        assert not r.up and r.error and r.error.startswith(EXPECTED[name]), (name, r.error)
        assert "\n" not in r.error and len(r.error) < 300
    # The flood is cut at the memory cap, long before its budget.
    assert (results["flood-fragment"].duration_s or 99) < 5
    assert results["auth-forever"].duration_s is not None and results["auth-forever"].duration_s < 1
    # Peak resident size of every worker process, sampled from outside: < idle + 100 MB.
    assert peaks.peaks and max(peaks.peaks.values()) - idle_worker_mb < MEMORY_LIMIT_MB, (idle_worker_mb, peaks.peaks)
    assert total < 60, total
    # The auth-forever server echoed the password (plain and base64) in its 401 reason phrase,
    # and redirect-self echoed it into the Location's userinfo: none of it may come out.
    dumped = caplog.text + "".join(repr(r) + json.dumps(r.to_dict()) + json.dumps(r.to_check().to_dict())
                                   for r in results.values())
    for leak in LEAKS:
        assert leak not in dumped, leak


def test_credentials_embedded_in_the_uri_do_not_leak_either(hostile: HostileRtspServer,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sitescout")
    userinfo = f"{USER}:{SECRET.replace('/', '%2F')}@"
    jobs = [StreamJob(hostile.url(m).replace("rtsp://", "rtsp://" + userinfo), 15, (320, 240), None, m,
                      allow_plaintext_auth=True) for m in ("auth-forever", "redirect-self")]
    config = replace(DEFAULT_STREAM, open_timeout_s=1.0)
    with StreamChecker(2, config) as checker:
        results = checker.check_many(jobs)
    assert results[0].error == "auth: the camera refused the credentials (RTSP 401)"
    assert results[1].error and results[1].error.startswith("malformed: redirect loop")
    dumped = caplog.text + "".join(repr(r) + json.dumps(r.to_dict()) + repr(j) for r, j in zip(results, jobs))
    for leak in LEAKS:
        assert leak not in dumped, leak
    assert all("@" not in r.uri for r in results)


def test_basic_challenges_get_nothing_by_default(hostile: HostileRtspServer) -> None:
    """Without --allow-plaintext-auth the Basic-only servers never see an Authorization header."""
    before = len(hostile.authorizations)
    jobs = [StreamJob(hostile.url(m), 15, None, CREDS, m) for m in ("auth-forever", "redirect-self")]
    with StreamChecker(2) as checker:
        results = checker.check_many(jobs)
    assert [r.error for r in results] == [BASIC_REFUSED, BASIC_REFUSED]
    assert hostile.authorizations[before:] == []


def test_401_without_credentials_says_none_were_given(hostile: HostileRtspServer) -> None:
    with StreamChecker(1) as checker:
        result = checker.check(StreamJob(hostile.url("auth-forever"), None, None))
    assert result.error == "auth: the camera requires credentials (RTSP 401) and none were given"


def test_scrub_removes_basic_auth_echoes() -> None:
    text = f"401 (Unauthorized {USER}:{SECRET} Basic {BASIC} at rtsp://{USER}:x@h/p)"
    cleaned = scrub(text, CREDS)
    for leak in LEAKS:
        assert leak not in cleaned
    assert cleaned == "401 (Unauthorized admin:*** Basic *** at rtsp://h/p)"


# ---------------------------------------------------------------------------
# Level 3: the worker (in-process, loopback).

WORKER_MODES = ("auth-forever", "redirect-pingpong", "silent", "stall-mid", "garbage-rtp", "endless-frame",
                "flood-fragment")
STREAM_TIMEOUT_S = 6.0


def test_worker_keeps_answering_and_counts_hostile_streams_by_reason(
    hostile: HostileRtspServer, idle_worker_mb: float, tmp_path: Path
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from sitescout.probes.worker.exporter import serve_in_background
    from sitescout.probes.worker.jobs import ProbeContext
    from sitescout.probes.worker.scheduler import FileTargetSource, Worker

    streams = ["healthy", *WORKER_MODES, "healthy"]
    lines = ["defaults:",
             f"  stream: {{interval_s: 5, window_s: 2, timeout_s: {STREAM_TIMEOUT_S:g}}}",
             "  link: {interval_s: 30, count: 1, timeout_s: 0.5}",
             "targets:",
             "  - site: zoo",
             "    device: cams",
             "    ip: 127.0.0.1",
             "    streams:"]
    for i, mode in enumerate(streams):
        lines.append(f"      - {{uri: '{hostile.url(mode, str(i))}', profile: p{i}-{mode}, expected_fps: 15, "
                     "expected_width: 320, expected_height: 240}")
    targets = tmp_path / "targets.yml"
    targets.write_text("\n".join(lines) + "\n")
    worker = Worker(FileTargetSource(targets), poll_s=0.5, ctx=ProbeContext(credentials=[CREDS]))
    seen: dict[str, list[tuple[bool, str | None, float]]] = {}
    scrape_s: list[float] = []
    with WorkerPeaks() as peaks, serve_in_background(worker) as exporter:
        url = "http://%s:%d/metrics" % exporter.address
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            t = time.monotonic()
            body = urllib.request.urlopen(url, timeout=5).read().decode()
            scrape_s.append(time.monotonic() - t)
            for key, result in worker.store.snapshot().latest.items():
                if key[0] == "stream":
                    runs = seen.setdefault(key[3], [])
                    entry = (result.up, result.reason, result.duration_s)
                    if not runs or runs[-1] != entry:
                        runs.append(entry)
            if len(seen) == len(streams) and all(seen.values()):
                break
            time.sleep(0.3)
    assert len(seen) == len(streams), sorted(seen)
    print(f"\nFIGURE worker | scrapes max {max(scrape_s):.3f} s | peak worker RSS {max(peaks.peaks.values()):.1f} MB "
          f"(idle {idle_worker_mb:.1f}) | {seen}")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(body) for s in fam.samples}
    # Every scrape answered, fast, while hostile checks ran.
    assert max(scrape_s) < 1.0, scrape_s
    for profile, runs in seen.items():
        mode = profile.split("-", 1)[1]
        for up, reason, duration in runs:
            assert duration <= STREAM_TIMEOUT_S + 1.0, (profile, duration)
            if mode == "healthy":
                assert up, (profile, runs)
            else:
                assert not up and reason == EXPECTED[mode][0].split(":")[0], (profile, reason)
    errors = {dict(lab)["reason"]: v for (name, lab), v in samples.items()
              if name == "sitescout_probe_errors_total" and dict(lab)["kind"] == "stream"}
    assert errors["auth"] >= 1 and errors["malformed"] >= 2 and errors["timeout"] >= 4, errors
    assert max(peaks.peaks.values()) - idle_worker_mb < MEMORY_LIMIT_MB, (idle_worker_mb, peaks.peaks)


# ---------------------------------------------------------------------------
# Level 2: a survey in a lab namespace.

PERSONAS = ["hikvision_ds2cd2012i", "axis_q6045e", "trendnet_tvip320pi", "hikvision_ds2df7276ael"]
SURVEY_HOSTILE = {1: "auth-forever", 2: "redirect-self", 3: "flood-fragment"}


@pytest.mark.netns
@pytest.mark.gstreamer
def test_survey_reports_hostile_cameras_and_checks_the_healthy_one(tmp_path: Path, idle_worker_mb: float) -> None:
    from sitescout.infra.lab.netns import LabSite
    from sitescout.infra.lab.pytest_plugin import skip_unless_netns
    from sitescout.infra.lab.rtsp import gstreamer_available
    from sitescout.infra.lab.scenario import build_survey_lab, start_hostile_rtsp

    skip_unless_netns()
    if not gstreamer_available():
        pytest.skip("Debian's GStreamer RTSP server is not installed")
    creds = tmp_path / "cameras.toml"
    creds.write_text(f'[[credentials]]\nusername = "{USER}"\npassword = "{SECRET}"\n')
    report = tmp_path / "report.html"
    with LabSite() as site:
        lab = build_survey_lab(site, PERSONAS, rtsp=True, credentials={i: (USER, SECRET) for i in range(3)})
        try:
            for index, mode in SURVEY_HOSTILE.items():
                start_hostile_rtsp(lab, index, mode)
            started = time.monotonic()
            with WorkerPeaks() as peaks:
                # Plaintext allowed (the flag reaches the stream checks): the password is sent and echoed.
                result = lab.scanner.run([sys.executable, "-m", "sitescout", "-vv", "survey", "--site", "zoo",
                                          "--network", "198.51.100.0/24", "--json", "-", "--credentials", str(creds),
                                          "--allow-plaintext-auth", "--report", str(report)],
                                         timeout=120, capture_output=True, text=True)
            elapsed = time.monotonic() - started
        finally:
            lab.close()
    assert result.returncode == 0, result.stderr[-3000:]
    doc = json.loads(result.stdout)
    hosts = {h["ip"]: h for h in doc["hosts"]}
    healthy = hosts[lab.cameras[0].ip]["streams"]
    assert healthy and all(s["up"] and s["problems"] == [] and s["fps"] for s in healthy), healthy
    for index, mode in SURVEY_HOSTILE.items():
        streams = hosts[lab.cameras[index].ip]["streams"]
        assert streams, mode
        for s in streams:
            assert s["up"] is False and s["error"].startswith(EXPECTED[mode]), (mode, s["error"])
    print(
        f"\nFIGURE survey | {elapsed:.1f} s | peak worker RSS {max(peaks.peaks.values(), default=0):.1f} MB "
        f"(idle {idle_worker_mb:.1f}) | " + " | ".join(s["error"] or "ok" for h in hosts.values() for s in h["streams"])
    )
    assert elapsed < 90, elapsed
    assert peaks.peaks and max(peaks.peaks.values()) - idle_worker_mb < MEMORY_LIMIT_MB, peaks.peaks
    text = result.stdout + result.stderr + report.read_text()
    assert "redirect loop" in text and "RTSP 401" in text
    for leak in LEAKS:
        assert leak not in text, leak


@pytest.mark.gstreamer
def test_memory_cap_leaves_room_for_a_4k_decode() -> None:
    """The cap stops floods, not big pictures: a decode lifts it by 16 B/pixel (4K: +127 MB)."""
    from sitescout.infra.lab.rtsp import RtspServer, StreamSpec, gstreamer_available

    if not gstreamer_available():
        pytest.skip("Debian's GStreamer RTSP server is not installed")
    config = replace(DEFAULT_STREAM, window_s=2.0)
    with RtspServer("127.0.0.1", 0, {"/uhd": StreamSpec(width=3840, height=2160, fps=5)}) as server:
        with StreamChecker(1, config) as checker:
            result = checker.check(StreamJob(server.url("/uhd"), None, None, profile="uhd"))
    assert result.up and result.error is None and (result.width, result.height) == (3840, 2160), result
    assert result.decoded_frames >= 1 and result.memory_growth_mb is not None
    # Lab: ~125 MB, past the flat 48 MB cap (the decode needed its allowance), within cap + allowance.
    allowance = 3840 * 2160 * config.memory_per_pixel_bytes / 2**20
    assert config.memory_cap_mb < result.memory_growth_mb < config.memory_cap_mb + allowance
