"""Serve simulated camera streams over RTSP with GStreamer (run with Debian's /usr/bin/python3).

The GObject bindings exist only in Debian's own interpreter, so the venv-side
wrapper (`sitescout.infra.lab.rtsp`) runs this file as a subprocess. It reads a
JSON config from the file named on the command line, or from stdin:

    {"host": "127.0.0.1", "port": 8554,
     "mounts": {"/cam/realmonitor?channel=1&subtype=0":
                {"codec": "h264", "width": 640, "height": 480, "fps": 15,
                 "behaviour": "normal", "stall_after_s": 3, "bitrate_kbps": 1000}}}

and prints "ready" on stdout once listening. SIGTERM/SIGINT stop it cleanly.

Behaviours: normal (scrolling SMPTE bars, every frame differs), frozen (still
colour bars), black, blur (the normal picture through a heavy Gaussian blur, or
a 1/16 downscale-upscale where plugins-bad's gaussianblur is missing), stall
(normal, then every buffer is dropped after stall_after_s while the RTSP session
stays up), hang (no buffer ever flows: OPTIONS is answered, DESCRIBE waits until
the server gives up with 503 after 20 s or more). Stall and hang mounts are not
shared, so each client gets its own pipeline and its own stall clock; the
others are shared between clients.

Mount keys may carry a query string, as real camera URIs do, and two mounts may
differ only by their query (Dahua main/sub streams: `subtype=0` vs `subtype=1`):
see `_QueryMountPoints`. A client asking with an unknown or reordered query gets
the first mount on the bare path. Keys are percent-encoded once here (a space
becomes %20, "ê" becomes %C3%AA), which is how clients send them.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import urllib.parse
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

BEHAVIOURS = ("normal", "frozen", "black", "stall", "blur", "hang")
TRANSPORTS = ("any", "tcp", "udp")
CODECS = ("h264", "mjpeg")
# Characters a client leaves unescaped in an RTSP path or query.
_SAFE = "/?&=:@!$'()*+,;-._~%"


def quote_mount(key: str) -> str:
    """Percent-encode a mount key the way a client puts it on the wire."""
    return urllib.parse.quote(key, safe=_SAFE)


def _source(spec: dict[str, Any]) -> str:
    """Return the raw-video part of the launch line for one behaviour."""
    behaviour = spec["behaviour"]
    pattern = {"frozen": "colors", "black": "black"}.get(behaviour, "smpte")
    # horizontal-speed scrolls the bars so consecutive frames really differ
    # (plain smpte changes only in its small noise patch).
    speed = 0 if behaviour in ("frozen", "black") else 4
    caps = "video/x-raw,width={width},height={height},framerate={fps}/1".format(**spec)
    src = f"videotestsrc name=src is-live=true pattern={pattern} horizontal-speed={speed}"
    if behaviour != "blur":
        return f"{src} ! {caps},format=I420"
    if Gst.ElementFactory.find("gaussianblur") is not None:
        return f"{src} ! {caps} ! videoconvert ! gaussianblur sigma=8 ! videoconvert ! {caps},format=I420"
    small = "video/x-raw,width={},height={}".format(max(spec["width"] // 16, 2), max(spec["height"] // 16, 2))
    return (f"{src} ! {caps},format=I420 ! videoscale method=nearest-neighbour ! {small} "
            f"! videoscale method=bilinear ! {caps},format=I420")


def launch_line(spec: dict[str, Any]) -> str:
    """Return the gst-launch description of one mount (payloader named pay0)."""
    if spec["codec"] == "mjpeg":
        return f"( {_source(spec)} ! jpegenc quality=85 ! rtpjpegpay name=pay0 pt=26 )"
    bitrate = spec.get("bitrate_kbps") or 1000
    return (
        f"( {_source(spec)} ! x264enc tune=zerolatency speed-preset=ultrafast bitrate={bitrate} "
        f"key-int-max={spec['fps'] * 2} ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


def _normalise(key: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and check one mount's spec; raise ValueError naming the mount."""
    spec = {"codec": "h264", "width": 640, "height": 480, "fps": 15, "behaviour": "normal",
            "stall_after_s": 3.0, "bitrate_kbps": None, "transports": "any"}
    unknown = set(raw) - set(spec)
    if unknown:
        raise ValueError(f"mount {key!r}: unknown keys {sorted(unknown)}")
    spec.update(raw)
    if spec["codec"] not in CODECS:
        raise ValueError(f"mount {key!r}: codec must be one of {CODECS}")
    if spec["behaviour"] not in BEHAVIOURS:
        raise ValueError(f"mount {key!r}: behaviour must be one of {BEHAVIOURS}")
    if spec["transports"] not in TRANSPORTS:
        raise ValueError(f"mount {key!r}: transports must be one of {TRANSPORTS}")
    for name in ("width", "height", "fps"):
        value = spec[name]
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"mount {key!r}: {name} must be a positive integer")
    if not key.startswith("/"):
        raise ValueError(f"mount {key!r}: path must start with '/'")
    return spec


_QUERY_MARK = "/~q~"


def internal_key(key: str) -> str:
    """Return the query-free mount path a "path?query" mount key is served on."""
    path, sep, query = key.partition("?")
    return f"{path}{_QUERY_MARK}{query}" if sep else key


class _QueryMountPoints(GstRtspServer.RTSPMountPoints):
    """Mount points that tell mounts apart by their query string.

    The stock lookup drops the query, so Dahua's `?channel=1&subtype=0` and
    `subtype=1` would be one mount. DESCRIBE goes through `make_path`, and the
    server builds Content-Base from its result without the query; so a known
    "path?query" maps to the query-free `internal_key`, and the client's
    SETUP/PLAY (made from Content-Base) land on that mount too. An unknown query
    falls back to the bare path.
    """

    def __init__(self, query_keys: set[str]) -> None:
        super().__init__()
        self._query_keys = query_keys

    def do_make_path(self, url: GstRtspServer.RTSPUrl) -> str:
        path, query = url.abspath or "/", url.query
        if query and f"{path}?{query}" in self._query_keys:
            return internal_key(f"{path}?{query}")
        return path


class _StreamGate:
    """Pad probe that drops every buffer once `drop_after_s` has passed since the first."""

    def __init__(self, drop_after_s: float) -> None:
        self._drop_after_s = drop_after_s
        self._first: float | None = None

    def __call__(self, pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        now = time.monotonic()
        if self._first is None:
            self._first = now
        if now - self._first >= self._drop_after_s:
            return Gst.PadProbeReturn.DROP
        return Gst.PadProbeReturn.OK


def _on_media_configure(factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia,
                        spec: dict[str, Any]) -> None:
    """Attach a fresh stall gate to each new pipeline of a stall/hang mount."""
    src = media.get_element().get_by_name("src")
    drop_after_s = 0.0 if spec["behaviour"] == "hang" else float(spec["stall_after_s"])
    src.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, _StreamGate(drop_after_s))


def build_server(config: dict[str, Any]) -> GstRtspServer.RTSPServer:
    """Create (not yet attach) an RTSP server with every configured mount."""
    mounts = {quote_mount(k): _normalise(k, v or {}) for k, v in config.get("mounts", {}).items()}
    server = GstRtspServer.RTSPServer()
    server.set_address(str(config.get("host", "127.0.0.1")))
    server.set_service(str(int(config.get("port", 8554))))
    points = _QueryMountPoints({k for k in mounts if "?" in k})
    bare_done: set[str] = set()
    for key, spec in mounts.items():
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(spec))
        # A stall is timed per client: a shared, already stalled pipeline would
        # hand a later client nothing at all.
        factory.set_shared(spec["behaviour"] not in ("stall", "hang"))
        if spec["transports"] != "any":
            # A UDP-only mount answers SETUP over TCP with 461 Unsupported Transport.
            lower = GstRtsp.RTSPLowerTrans.UDP if spec["transports"] == "udp" else GstRtsp.RTSPLowerTrans.TCP
            factory.set_protocols(lower)
        if spec["behaviour"] in ("stall", "hang"):
            factory.connect("media-configure", _on_media_configure, spec)
        points.add_factory(internal_key(key), factory)
        if "?" in key:
            # Clients that build SETUP from the request URL, not Content-Base.
            points.add_factory(key, factory)
        bare = key.split("?", 1)[0]
        if bare != key and bare not in mounts and bare not in bare_done:
            points.add_factory(bare, factory)  # fallback for an unknown query
            bare_done.add(bare)
    server.set_mount_points(points)
    return server


def _read_config(argv: list[str]) -> dict[str, Any]:
    """Load the JSON config from argv[1] or stdin."""
    if len(argv) > 1 and argv[1] != "-":
        with open(argv[1], encoding="utf-8") as fh:
            return json.load(fh)
    return json.load(sys.stdin)


def main(argv: list[str]) -> int:
    """Run the server until SIGTERM/SIGINT."""
    Gst.init(None)
    try:
        server = build_server(_read_config(argv))
    except (ValueError, OSError, json.JSONDecodeError) as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"error: cannot listen on {server.get_address()}:{server.get_service()}",
              file=sys.stderr, flush=True)
        return 1
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"ready {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
