"""TCP port scan of live hosts: asyncio connects, bounded concurrency, every socket closed."""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Sequence

__all__ = ["DEFAULT_PORTS", "PORT_REASONS", "async_scan_ports"]

log = logging.getLogger(__name__)

#: Why each default port is scanned: what it tells a technician about the device behind it.
#: (WS-Discovery's 3702 is UDP and is probed by the discovery module, not here.)
PORT_REASONS: dict[int, str] = {
    22: "SSH: routers, switches, Linux boxes, some NVRs",
    23: "telnet: old switches and Xiongmai-based cameras (a finding to report)",
    80: "HTTP web UI of nearly every camera, NVR, switch and loudspeaker controller",
    81: "alternate web UI on Chinese OEM cameras and DVRs",
    88: "alternate web UI / ONVIF on some OEM cameras (e.g. Foscam-style)",
    443: "HTTPS web UI",
    554: "RTSP: the video stream of cameras and NVRs",
    2020: "ONVIF service on TP-Link Tapo / VIGI cameras",
    3389: "RDP: Windows operator PCs and NVR client stations",
    5000: "web UI of Synology NAS / some NVRs and Uniview devices",
    8000: "Hikvision SDK (iVMS) port; also generic alternate HTTP",
    8080: "alternate HTTP web UI / ONVIF on many cameras",
    8291: "MikroTik Winbox: identifies MikroTik uplink routers",
    8443: "alternate HTTPS web UI (Ubiquiti, some NVRs)",
    8554: "alternate RTSP (go2rtc, some OEM cameras)",
    8899: "ONVIF on Xiongmai/Jovision OEM cameras; control port of IP loudspeaker controllers",
    9000: "Dahua/Reolink media or SDK port, some NVR web UIs",
    34567: "Xiongmai (XMEye) DVR/camera SDK port",
    37777: "Dahua SDK port (cameras and NVRs)",
}

DEFAULT_PORTS: tuple[int, ...] = tuple(sorted(PORT_REASONS))

# A refusal or unreachable means "closed": nothing to report.  Anything else
# unexpected is logged at debug and also counted as closed.
_CLOSED_ERRNOS = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ECONNRESET}


async def _try_connect(ip: str, port: int, timeout_s: float) -> bool:
    writer = None
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), timeout_s)
        return True
    except (TimeoutError, ConnectionError):
        return False
    except OSError as err:
        if err.errno not in _CLOSED_ERRNOS:
            log.debug("%s:%d: connect failed: %s", ip, port, err)
        return False
    finally:
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), timeout_s)
            except (TimeoutError, OSError):
                pass


async def async_scan_ports(ips: Sequence[str], ports: Sequence[int] = DEFAULT_PORTS, *,
                           timeout_s: float = 1.0, concurrency: int = 512) -> dict[str, list[int]]:
    """Return the open TCP ports (sorted) of every address in `ips`; every address gets a key."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")
    found: dict[str, list[int]] = {ip: [] for ip in ips}
    # Workers pull from one iterator: at most `concurrency` sockets exist at a
    # time and no task is created per (host, port) pair, so a /16 stays cheap.
    pairs = iter([(ip, port) for ip in found for port in ports])

    async def worker() -> None:
        for ip, port in pairs:
            if await _try_connect(ip, port, timeout_s):
                found[ip].append(port)

    n = len(found) * len(ports)
    await asyncio.gather(*(worker() for _ in range(min(concurrency, max(n, 1)))))
    for open_ports in found.values():
        open_ports.sort()
    log.debug("scanned %d ports on %d hosts: %d open", n, len(found), sum(len(p) for p in found.values()))
    return found
