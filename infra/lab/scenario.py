"""Ready-made lab sites: cameras replaying personas and plain hosts behind one switch.

Used by the survey tests, the benchmarks and (on loopback) the demo.  Addresses:
scanner 198.51.100.2, router .1 / 203.0.113.1, cameras from .10, plain hosts from
.100; cameras on the routed VLAN from 203.0.113.10.
"""

from __future__ import annotations

import logging
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sitescout.infra.lab.hosts import PLAIN_HOST_PROFILES
from sitescout.infra.lab.netns import LabError, LabHost, LabSite

__all__ = ["LabCamera", "LabPlainHost", "SurveyLab", "build_survey_lab", "start_hostile_rtsp", "stream_spec_for",
           "wait_ready"]

log = logging.getLogger(__name__)

SCANNER_IP = "198.51.100.2"
ROUTER_IPS = ("198.51.100.1", "203.0.113.1")


@dataclass
class LabCamera:
    """One simulated camera of a lab site."""

    host: LabHost
    persona: str
    endpoint: str
    credentials: tuple[str, str] | None = None
    clock_skew_s: float = 0.0
    onvif_port: int = 80
    rtsp_port: int = 554

    @property
    def ip(self) -> str:
        """Return the camera's address."""
        return self.host.ip


@dataclass
class LabPlainHost:
    """One plain host (switch, loudspeaker …) of a lab site."""

    host: LabHost
    profile: str

    @property
    def ports(self) -> tuple[int, ...]:
        """Return the TCP ports this host listens on."""
        return PLAIN_HOST_PROFILES[self.profile]


@dataclass
class SurveyLab:
    """A lab site ready to be surveyed from ``scanner``."""

    site: LabSite
    scanner: LabHost
    cameras: list[LabCamera] = field(default_factory=list)
    plain_hosts: list[LabPlainHost] = field(default_factory=list)
    rtsp_servers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        """Stop the RTSP servers (the site itself is closed by its owner)."""
        for server in self.rtsp_servers:
            server.stop()
        self.rtsp_servers.clear()

    def survey(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``sitescout survey ARGS`` inside the scanner namespace."""
        return self.scanner.run([sys.executable, "-m", "sitescout", "survey", *args], timeout=timeout)


def wait_ready(procs: Sequence[tuple[str, subprocess.Popen[str]]], timeout_s: float = 20.0) -> None:
    """Wait until every process has printed its ``ready`` line; raise LabError naming the ones that did not."""
    pending = {p.stdout.fileno(): (name, p) for name, p in procs if p.stdout is not None}
    deadline = time.monotonic() + timeout_s
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        readable, _, _ = select.select(list(pending), [], [], left)
        for fd in readable:
            name, proc = pending[fd]
            line = proc.stdout.readline() if proc.stdout else ""
            if line.startswith("ready"):
                del pending[fd]
            elif line == "" and proc.poll() is not None:
                err = proc.stderr.read() if proc.stderr else ""
                raise LabError(f"{name} exited with {proc.returncode} before it was ready: {err[-500:]}")
    if pending:
        raise LabError(f"not ready after {timeout_s:.0f} s: {', '.join(n for n, _ in pending.values())}")


def build_survey_lab(
    site: LabSite,
    personas: Sequence[str],
    plain_profiles: Sequence[str] = (),
    *,
    routed_personas: Sequence[str] = (),
    credentials: Mapping[int, tuple[str, str]] | None = None,
    clock_skew_s: Mapping[int, float] | None = None,
    hostile: Mapping[int, str] | None = None,
    rtsp: bool = False,
    stream_behaviour: Mapping[int, str] | None = None,
) -> SurveyLab:
    """Build a site with a scanner, cameras (index i gets 198.51.100.10+i) and plain hosts.

    ``credentials``, ``clock_skew_s`` and ``hostile`` (a mode of
    ``sitescout.infra.lab.camera_hostile.HOSTILE_MODES``) are keyed by camera index; a
    ``wsd_spoof`` camera claims the endpoints and addresses of all the others.  With
    ``routed_personas`` a router and a second subnet are added.  With ``rtsp``
    every camera also gets a GStreamer RTSP server with its persona's mounts,
    each keeping its profile's promise (codec, size, frame rate), or misbehaving
    as ``stream_behaviour`` says (keyed by camera index: frozen, black, stall, blur, hang).
    """
    credentials = credentials or {}
    clock_skew_s = clock_skew_s or {}
    hostile = hostile or {}
    scanner = site.add_scanner(f"{SCANNER_IP}/24")
    if routed_personas:
        site.add_router(f"{ROUTER_IPS[0]}/24", f"{ROUTER_IPS[1]}/24")
    lab = SurveyLab(site, scanner)
    procs: list[tuple[str, subprocess.Popen[str]]] = []
    layout = [(p, "a", f"198.51.100.{10 + i}") for i, p in enumerate(personas)]
    layout += [(p, "b", f"203.0.113.{10 + i}") for i, p in enumerate(routed_personas)]
    for index, (persona, subnet, ip) in enumerate(layout):
        host = site.add_host(f"cam{index}", f"{ip}/24", subnet=subnet)
        endpoint = _lab_endpoint(site, ip)
        camera = LabCamera(host, persona, f"urn:uuid:{endpoint}", credentials.get(index),
                           clock_skew_s.get(index, 0.0))
        argv = [sys.executable, "-m", "sitescout.infra.lab.camera", "--persona", persona, "--ip", ip,
                "--discovery", "multicast", "--endpoint-uuid", endpoint, "--mac", host.mac,
                "--clock-skew", str(camera.clock_skew_s)]
        if camera.credentials:
            argv += ["--user", camera.credentials[0], "--password", camera.credentials[1]]
        if index in hostile:
            argv += ["--hostile", hostile[index]]
        if hostile.get(index) == "wsd_spoof":
            # The spoofer claims every other camera's endpoint and address.
            for _, _, other_ip in layout:
                if other_ip != ip:
                    argv += ["--spoof", f"urn:uuid:{_lab_endpoint(site, other_ip)}@{other_ip}"]
        procs.append((f"camera {ip} ({persona})",
                      host.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        lab.cameras.append(camera)
    for i, profile in enumerate(plain_profiles):
        ip = f"198.51.100.{100 + i}"
        host = site.add_host(f"h{i}", f"{ip}/24")
        procs.append((f"plain host {ip} ({profile})", host.popen(
            [sys.executable, "-m", "sitescout.infra.lab.hosts", "--ip", ip, "--profile", profile],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        lab.plain_hosts.append(LabPlainHost(host, profile))
    wait_ready(procs)
    if rtsp:
        try:
            _start_rtsp(lab, stream_behaviour or {})
        except BaseException:
            lab.close()
            raise
    return lab


def _lab_endpoint(site: LabSite, ip: str) -> str:
    """Return the stable endpoint UUID of the lab camera on ``ip``."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sitescout-lab/{site.prefix}/{ip}"))


def stream_spec_for(persona: str, path: str, behaviour: str = "normal", *, max_pixels: int | None = None) -> Any:
    """Return a lab stream that keeps the promise of the first profile served on ``path``.

    With ``max_pixels``, larger profiles are served at 1280x720 instead (a demo on a
    laptop need not encode 5-megapixel streams); the survey then reports the mismatch.
    """
    from urllib.parse import urlsplit

    from sitescout.infra.lab.personas import load_persona
    from sitescout.infra.lab.rtsp import StreamSpec

    for profile in load_persona(persona).expected_identity()["profiles"]:
        if profile["stream_uri"] and urlsplit(profile["stream_uri"]).path == path:
            codec = "mjpeg" if profile["encoding"].upper() == "JPEG" else "h264"
            fps = int(min(profile["fps_limit"] or 15, 30))
            width, height = profile["width"] or 640, profile["height"] or 480
            if max_pixels is not None and width * height > max_pixels:
                width, height = 1280, 720
            return StreamSpec(codec=codec, width=width, height=height, fps=fps, behaviour=behaviour)
    return StreamSpec(behaviour=behaviour)


def _start_rtsp(lab: SurveyLab, behaviours: Mapping[int, str]) -> None:
    from sitescout.infra.lab.personas import load_persona
    from sitescout.infra.lab.rtsp import RtspServer

    for index, camera in enumerate(lab.cameras):
        paths = load_persona(camera.persona).stream_paths()
        if not paths:
            continue
        behaviour = behaviours.get(index, "normal")
        mounts = {p: stream_spec_for(camera.persona, p, behaviour) for p in paths}
        server = RtspServer(camera.ip, camera.rtsp_port, mounts, netns=camera.host.netns)
        server.start()
        lab.rtsp_servers.append(server)


class _HostileRtspProcess:
    """A hostile RTSP server process (``rtsp_hostile``) in a camera's namespace; `stop` ends its group."""

    def __init__(self, host: str, proc: subprocess.Popen[str]) -> None:
        self.host, self._proc = host, proc

    def stop(self) -> None:
        """Stop the server's process group."""
        from sitescout.infra.lab.netns import stop_process_group

        stop_process_group(self._proc)


def start_hostile_rtsp(lab: SurveyLab, index: int, mode: str) -> None:
    """Serve camera ``index``'s stream paths from ``rtsp_hostile`` in ``mode``, in place of its GStreamer server."""
    camera = lab.cameras[index]
    for server in [s for s in lab.rtsp_servers if getattr(s, "host", None) == camera.ip]:
        server.stop()
        lab.rtsp_servers.remove(server)
    proc = camera.host.popen([sys.executable, "-m", "sitescout.infra.lab.rtsp_hostile", "--host", camera.ip,
                              "--port", str(camera.rtsp_port), "--default-mode", mode],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # nobody reads its log
    server = _HostileRtspProcess(camera.ip, proc)
    try:
        wait_ready([(f"hostile RTSP {camera.ip} ({mode})", proc)])
    except BaseException:
        server.stop()
        raise
    lab.rtsp_servers.append(server)
