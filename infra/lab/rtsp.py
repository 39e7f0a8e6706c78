"""Run the lab's RTSP streams (a GStreamer subprocess) and a TCP server that never answers.

GStreamer's Python bindings live only in Debian's /usr/bin/python3, so
`RtspServer` runs `rtsp_server_main.py` with that interpreter (optionally inside
a network namespace) and talks to it through a JSON config on stdin and a
"ready PORT" line on stdout.
"""

from __future__ import annotations

import functools
import json
import logging
import queue
import socket
import subprocess
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from sitescout.infra.lab.netns import stop_process_group

log = logging.getLogger(__name__)

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server_main.py")
CODECS = ("h264", "mjpeg")
BEHAVIOURS = ("normal", "frozen", "black", "stall", "blur", "hang")
TRANSPORTS = ("any", "tcp", "udp")
# Same safe set as rtsp_server_main.quote_mount: how a client writes the path.
_URL_SAFE = "/?&=:@!$'()*+,;-._~%"
_GST_CHECK = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0')\n"
    "from gi.repository import Gst, GstRtspServer\n"
    "Gst.init(None)\n"
    "missing = [n for n in ('videotestsrc', 'x264enc', 'rtph264pay', 'jpegenc', 'rtpjpegpay')"
    " if Gst.ElementFactory.find(n) is None]\n"
    "raise SystemExit(1 if missing else 0)\n"
)


class RtspServerError(RuntimeError):
    """The lab RTSP server could not start."""


@dataclass
class StreamSpec:
    """What one simulated stream looks like (see rtsp_server_main for behaviours)."""

    codec: str = "h264"
    width: int = 640
    height: int = 480
    fps: int = 15
    behaviour: str = "normal"
    stall_after_s: float = 3.0
    bitrate_kbps: int | None = None
    #: RTP lower transports the mount accepts: "any", "tcp" or "udp" (a UDP-only mount answers
    #: SETUP over TCP with 461, as some encoders and NVRs do: issue #19).
    transports: str = "any"

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise ValueError(f"codec {self.codec!r}: expected one of {CODECS}")
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour {self.behaviour!r}: expected one of {BEHAVIOURS}")
        if self.transports not in TRANSPORTS:
            raise ValueError(f"transports {self.transports!r}: expected one of {TRANSPORTS}")
        for name in ("width", "height", "fps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


@functools.cache
def gstreamer_available() -> bool:
    """Tell whether /usr/bin/python3 can import GstRtspServer and find the encoders."""
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", _GST_CHECK], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        log.debug("GStreamer check failed: %s", err)
        return False
    return done.returncode == 0


def lab_url(scheme: str, host: str, port: int, path: str) -> str:
    """Build a URL, bracketing IPv6 hosts and percent-encoding the path."""
    netloc = f"[{host}]" if ":" in host else host
    path = path if path.startswith("/") else "/" + path
    return f"{scheme}://{netloc}:{port}{urllib.parse.quote(path, safe=_URL_SAFE)}"


class RtspServer:
    """A GStreamer RTSP server subprocess serving several mounts.

    Usage::

        with RtspServer("127.0.0.1", 0, {"/live": StreamSpec(fps=10)}) as srv:
            url = srv.url("/live")

    Port 0 picks a free port; `port` holds the bound one after `start()` and is
    kept on `restart_if_dead()` so URLs stay valid.
    """

    def __init__(self, host: str, port: int, mounts: Mapping[str, StreamSpec], *,
                 netns: str | None = None) -> None:
        self.host = host
        self.port = port
        self.mounts = dict(mounts)
        self.netns = netns
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: deque[str] = deque(maxlen=40)

    def __repr__(self) -> str:
        return f"RtspServer({self.host}:{self.port}, {len(self.mounts)} mounts, netns={self.netns})"

    def _config(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port,
                "mounts": {path: asdict(spec) for path, spec in self.mounts.items()}}

    def start(self, timeout_s: float = 10.0) -> None:
        """Spawn the server and wait for it to listen.

        Raises:
            RtspServerError: it exited, or printed nothing within timeout_s.
        """
        if self.is_alive():
            return
        argv = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "-"]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        self._stderr.clear()
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        self._proc = proc
        assert proc.stdin and proc.stdout and proc.stderr
        proc.stdin.write(json.dumps(self._config()).encode())
        proc.stdin.close()
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump, args=(proc.stdout, lines.put), daemon=True).start()
        threading.Thread(target=_pump, args=(proc.stderr, self._note_stderr), daemon=True).start()
        try:
            line = lines.get(timeout=timeout_s)
        except queue.Empty:
            self.stop()
            raise RtspServerError(f"{self}: not ready after {timeout_s:.0f} s") from None
        if not line.startswith("ready"):
            time.sleep(0.1)  # let the stderr pump catch the reason
            self.stop()
            raise RtspServerError(f"{self}: {line or 'exited'}; {' | '.join(self._stderr)}")
        self.port = int(line.split()[1])
        log.debug("%s: ready", self)

    def _note_stderr(self, line: str) -> None:
        if line:
            self._stderr.append(line)

    def stop(self) -> None:
        """Terminate the server's whole process group (SIGTERM, then SIGKILL)."""
        proc, self._proc = self._proc, None
        stop_process_group(proc)

    def is_alive(self) -> bool:
        """Tell whether the server process is running."""
        return self._proc is not None and self._proc.poll() is None

    def restart_if_dead(self, timeout_s: float = 10.0) -> bool:
        """Start the server again if it died; return True if it was restarted.

        GStreamer's RTSP server once aborted on an internal assertion when four
        UDP clients opened a shared H.264 mount at once (lab-notes).
        """
        if self._proc is None or self.is_alive():
            return False
        log.warning("%s: died with status %s; restarting (%s)", self, self._proc.returncode,
                    " | ".join(list(self._stderr)[-3:]))
        self._proc = None
        self.start(timeout_s)
        return True

    def url(self, path: str) -> str:
        """Return the rtsp:// URL of one mount (path may carry a query)."""
        return lab_url("rtsp", self.host, self.port, path)

    def __enter__(self) -> RtspServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _pump(stream: Any, sink: Any) -> None:
    """Feed decoded lines of a pipe to sink until EOF, then an empty line."""
    for raw in stream:
        sink(raw.decode(errors="replace").rstrip())
    sink("")


class HangingTcpServer:
    """A TCP listener that accepts connections and never sends a byte.

    Models a camera whose RTSP/HTTP service is wedged: connect succeeds, every
    request waits forever. Runs in this process, so it listens in the current
    network namespace.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._sock: socket.socket | None = None
        self._held: list[socket.socket] = []
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen and start accepting in a daemon thread."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        sock.settimeout(0.2)
        self._sock, self.port = sock, sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_forever, daemon=True)
        self._thread.start()

    def _accept_forever(self) -> None:
        while (sock := self._sock) is not None:
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(conn)  # keep it open, read nothing, answer nothing

    def stop(self) -> None:
        """Close the listener and every held connection."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for conn in self._held:
            conn.close()
        self._held.clear()

    def url(self, path: str = "/", scheme: str = "rtsp") -> str:
        """Return a URL pointing at this listener."""
        return lab_url(scheme, self.host, self.port, path)

    def __enter__(self) -> HangingTcpServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
