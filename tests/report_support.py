"""Survey documents for the report tests: many cameras with long addresses, every state and problem."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po
from web_seed import _jpeg_base64

_STATES = [  # (auth, stream up, problems, stalled)
    ("ok", True, ["frozen", "size_mismatch"], False),
    ("not_needed", True, ["black"], False),
    ("ok", True, ["fps_mismatch", "blurred"], False),
    ("failed", False, [], True),
    ("required", None, [], False),
    ("ok", False, [], False),
    ("ok", True, [], False),
]


def _camera(i: int) -> dict[str, Any]:
    ip = f"198.51.100.{30 + i}"
    auth, up, problems, stalled = _STATES[i % len(_STATES)]
    long_path = "/Streaming/Channels/10" + str(i) + "?transportmode=unicast&profile=Profile_" + "x" * 40 + f"&cam={i}"
    profiles = []
    streams = []
    for j, (name, w, h, fps) in enumerate([("mainStream", 2560, 1440, 25.0), ("subStream", 640, 360, 12.5),
                                           ("thirdStream", 1280, 720, 15.0)]):
        uri = f"rtsp://{ip}:554{long_path}&s={j}"
        profiles.append({"token": f"Profile_{j}", "name": name, "encoding": "H264", "width": w, "height": h,
                         "fps_limit": fps, "bitrate_kbps": 4096 // (j + 1), "stream_uri": uri,
                         "snapshot_uri": f"http://{ip}/onvif/snapshot/very/long/path/{'y' * 50}/{j}.jpg"})
        streams.append({"uri": uri, "profile": name, "up": up, "open_s": 0.3, "fps": fps - 1 if up else None,
                        "width": w if up else None, "height": h if up else None, "frozen": "frozen" in problems,
                        "black": "black" in problems, "sharpness": 80.0, "bitrate_kbps": 1234.5 if up else None,
                        "stalled": stalled, "expected_fps": fps, "expected_width": w, "expected_height": h,
                        "problems": problems if j == 0 else [], "error": None if up in (True, None) else "timeout"})
    return {
        "ip": ip, "mac": f"44:19:b6:00:00:{i:02x}", "vendor": "Hangzhou Hikvision Digital Technology",
        "open_ports": [80, 443, 554, 8000, 8443], "kind": "camera",
        "link": {"sent": 20, "received": 18, "loss_ratio": 0.1, "rtt_min_ms": 0.4, "rtt_avg_ms": 1.5,
                 "rtt_max_ms": 9.0, "jitter_ms": 0.7},
        "onvif": {"endpoint": f"urn:uuid:cafe{i:04d}", "xaddrs": [], "scopes": [], "manufacturer": "HIKVISION",
                  "model": "DS-2CD2143G2-IU-LONG-MODEL-NAME", "firmware": "V5.7.3 build 220112",
                  "serial": f"DS-2CD2143G2-IU20220101AAWR{i:09d}", "hardware_id": "88",
                  "clock_offset_s": 3 * 86400.0 if i == 1 else 0.5, "auth": auth, "findings": [],
                  "profiles": profiles},
        "streams": streams, "snapshot": {"jpeg_base64": _jpeg_base64(), "source": "stream"},
        "errors": ["onvif: GetProfiles: unsupported: ter:ActionNotSupported"] if i == 2 else [],
    }


def many_camera_survey(cameras: int = 7, site: str = "Thôn Đồng Bùa") -> dict[str, Any]:
    """Return a survey in English data terms: `cameras` cameras (every auth state, every stream problem), two hosts."""
    hosts = [_camera(i) for i in range(cameras)]
    hosts.append({"ip": "198.51.100.2", "mac": None, "vendor": None, "open_ports": [], "kind": "host",
                  "link": None, "onvif": None, "streams": [], "errors": []})
    hosts.append({"ip": "198.51.100.1", "mac": "00:00:5e:00:53:01", "vendor": "Ubiquiti", "open_ports": [22, 443],
                  "kind": "host", "link": None, "onvif": None, "streams": [], "errors": []})
    return {"site": site, "started_at": "2026-11-29T10:00:00+00:00", "finished_at": "2026-11-29T10:04:30+00:00",
            "networks": ["198.51.100.0/24"], "hosts": hosts}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def visible_text(html: str) -> str:
    """Return the words a reader sees in an HTML page: no style or script, no tags, entities decoded."""
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S | re.I)
    return unescape(re.sub(r"<[^>]+>", " ", html))


def english_catalogue_phrases(po_paths: list[Path]) -> list[str]:
    """Return the English text of every message whose Vietnamese differs, cut at its placeholders.

    "camera clock is off by {offset_s}" gives "camera clock is off by"; pieces without a word of
    two letters or more (punctuation between placeholders) are dropped.
    """
    phrases: set[str] = set()
    for path in po_paths:
        with path.open("rb") as f:
            catalogue = read_po(f, locale="vi")
        for message in catalogue:
            if not message.id or not isinstance(message.id, str) or str(message.string).lower() == message.id.lower():
                continue
            for piece in re.split(r"\{[^}]*\}|%\([^)]*\)[sd]|%[sd]", message.id):
                piece = piece.strip(" .,:;()—-·/")
                if piece and piece.lower() in str(message.string).lower():
                    continue  # a word the Vietnamese keeps (docs/glossary.md: "switch", "firmware")
                if re.search(r"[A-Za-z]{2,}", piece):
                    phrases.add(piece)
    return sorted(phrases, key=len, reverse=True)


#: Raw codes and stamps that must never reach a reader (the issue's examples), whatever the catalogue says.
RAW_CODES = ["not_needed", "size_mismatch", "fps_mismatch", "+00:00", "frozen", "down", "required", "failed"]


def english_left(html: str, phrases: list[str], data: Any = None) -> list[str]:
    """Return the English phrases (and raw codes) found in the page's visible text, the document's own data removed."""
    text = visible_text(html)
    for value in sorted(_strings(data), key=len, reverse=True):
        # codes (frozen, not_needed) stay in the text: those must have become words
        if len(value) > 1 and not re.fullmatch(r"[a-z_]+", value):
            text = text.replace(value, " ")
    found = [p for p in phrases if re.search(r"(?<![\w/_=.-])" + re.escape(p) + r"(?![\w/_=-])", text)]
    found += [code for code in RAW_CODES if re.search(r"(?<![\w/_=.-])" + re.escape(code) + r"(?![\w/_=-])", text)]
    return found
