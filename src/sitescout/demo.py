"""`sitescout demo`: a simulated site on loopback, surveyed end to end.

Everything runs on 127.0.0.x with unprivileged ports, so no root is needed and
nothing leaves this machine.  Cameras replay real captured personas; where
Debian's GStreamer RTSP server is missing they stream MJPEG over HTTP instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sitescout.errors import CommandError
from sitescout.cmdutil import write_survey_outputs
from sitescout.demo_layout import (
    DEMO_NETWORK,
    ONVIF_PORT,
    STREAM_PORT,
    DEMO_PERSONAS,
    DEMO_PLAIN_HOSTS,
    DEMO_USER,
    FROZEN_CAMERA,
    SURVEYED_SITE,
)
from sitescout.i18n import _, language

__all__ = ["run", "DEMO_NETWORK"]

log = logging.getLogger(__name__)

@dataclass
class _DemoSite:
    cameras: list[Any]
    plain_hosts: list[Any]
    streams: list[Any]
    credentials_file: Path
    stream_kind: str


def _camera_ip(index: int) -> str:
    return str(ipaddress.ip_address("127.0.0.17") + index)


def _unprivileged_port_start() -> int:
    if os.geteuid() == 0:
        return 0
    try:
        return int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        return 1024


def _start_streams(ip: str, persona: str, paths: list[str], use_rtsp: bool, behaviour: str = "normal") -> Any:
    from sitescout.infra.lab.rtsp import StreamSpec

    if use_rtsp:
        from sitescout.infra.lab.rtsp import RtspServer
        from sitescout.infra.lab.scenario import stream_spec_for

        # Each mount keeps its profile's promise, up to 1080p (bigger ones play at 720p).  The
        # frozen camera plays at 720p: x264 re-encoding a still 1080p30 picture makes key frames
        # differ by more than the frozen threshold (see docs/survey.md), a lab artefact.
        limit = 1280 * 720 if behaviour == "frozen" else 1920 * 1080
        mounts = {p: stream_spec_for(persona, p, behaviour, max_pixels=limit) for p in paths}
        server: Any = RtspServer(ip, STREAM_PORT, mounts)
    else:
        from sitescout.infra.lab.mjpeg import MjpegHttpServer

        server = MjpegHttpServer(ip, STREAM_PORT, StreamSpec(codec="mjpeg", behaviour=behaviour))
    server.start()
    return server


@contextlib.contextmanager
def demo_site(cameras: int, workdir: Path) -> Iterator[_DemoSite]:
    """Start ``cameras`` simulated cameras and a few plain hosts on loopback; stop them on exit."""
    import secrets

    from sitescout.infra.lab.camera import CameraServer
    from sitescout.infra.lab.hosts import PLAIN_HOST_PROFILES, serve_plain_host
    from sitescout.infra.lab.personas import load_persona
    from sitescout.infra.lab.rtsp import gstreamer_available

    use_rtsp = gstreamer_available()
    password = secrets.token_urlsafe(12)
    creds = workdir / "demo-credentials.toml"
    creds.write_text(f'[[credentials]]\nusername = "{DEMO_USER}"\npassword = "{password}"\n')
    creds.chmod(0o600)
    site = _DemoSite([], [], [], creds, "RTSP (GStreamer)" if use_rtsp else "MJPEG over HTTP")
    try:
        for i in range(cameras):
            ip = _camera_ip(i)
            persona = DEMO_PERSONAS[i]
            camera = CameraServer(
                persona, ip, onvif_port=ONVIF_PORT, rtsp_port=STREAM_PORT,
                credentials=(DEMO_USER, password) if i == 0 else None,
                clock_skew_s=2 * 86400.0 if i == 1 else 0.0,
                discovery="unicast", stream_scheme="rtsp" if use_rtsp else "http",
            )
            try:
                camera.start()
            except OSError as err:
                raise CommandError(_("cannot start a simulated camera on {address}: {reason} "
                                     "(is another sitescout demo running?)").format(
                    address=f"{ip}:{ONVIF_PORT}", reason=err.strerror)) from err
            site.cameras.append(camera)
            paths = load_persona(persona).stream_paths()
            if paths:
                behaviour = "frozen" if i == FROZEN_CAMERA else "normal"
                site.streams.append(_start_streams(ip, persona, paths, use_rtsp, behaviour))
        low = _unprivileged_port_start()
        for profile, last_octet in DEMO_PLAIN_HOSTS:
            ports = tuple(p for p in PLAIN_HOST_PROFILES[profile] if p >= low)
            if ports:
                site.plain_hosts.append(serve_plain_host(f"127.0.0.{last_octet}", profile, ports=ports))
        yield site
    finally:
        for thing in site.streams + site.cameras + site.plain_hosts:
            with contextlib.suppress(Exception):
                (thing.stop if hasattr(thing, "stop") else thing.close)()


def _survey(args: argparse.Namespace, site: _DemoSite, out: Any) -> dict:
    from babel.numbers import format_decimal

    from sitescout import console
    from sitescout.probes.credentials import load_credentials
    from sitescout.probes.survey import DEFAULT_SURVEY, async_run_survey

    console.say("sitescout demo: " + _("surveying {network} as the site “{site}”").format(
        network=DEMO_NETWORK, site=SURVEYED_SITE), out)
    config = dataclasses.replace(DEFAULT_SURVEY, multicast=False, wsd_wait_s=1.5)
    started = time.monotonic()
    with console.SurveyProgress() as progress:
        doc = asyncio.run(async_run_survey(
            SURVEYED_SITE, [DEMO_NETWORK],
            credentials=load_credentials(site.credentials_file), config=config, progress=progress.update,
        )).to_dict()
    console.print_summary(doc, to_stderr=out is sys.stderr)
    write_survey_outputs(doc, args.json, args.report)
    console.say("sitescout demo: " + _("survey finished in {seconds} s").format(
        seconds=format_decimal(time.monotonic() - started, format="0.0", locale=language())), sys.stderr)
    return doc


def _wait(seconds: float | None) -> None:
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait(seconds)
    except KeyboardInterrupt:
        pass


def run(args: argparse.Namespace) -> int:
    """Run the demo: the simulated site surveyed, then (unless --once) the whole product on loopback."""
    # With --json - stdout carries the document alone; everything else goes to stderr.
    from sitescout import console

    out = sys.stderr if args.json == "-" else sys.stdout
    with tempfile.TemporaryDirectory(prefix="sitescout-demo-") as tmp, demo_site(args.cameras, Path(tmp)) as site:
        first, last = _camera_ip(0), _camera_ip(args.cameras - 1)
        console.say("sitescout demo: " + _("{cameras} simulated cameras on {first}–{last} (ONVIF on port {onvif_port}, "
                                           "streams: {stream_kind} on port {stream_port}), {hosts} plain hosts; "
                                           "everything stays on loopback").format(
            cameras=args.cameras, first=first, last=last, onvif_port=ONVIF_PORT, stream_kind=site.stream_kind,
            stream_port=STREAM_PORT, hosts=len(site.plain_hosts)), out)
        if args.once:
            _survey(args, site, out)
            if args.keep_running:
                console.say("sitescout demo: " + _("the simulated site stays up; Ctrl-C to stop"), sys.stderr)
                _wait(None)
            return 0
        from sitescout.demo_product import run_product

        return run_product(args, site, Path(tmp), lambda: _survey(args, site, out), out, _wait)
