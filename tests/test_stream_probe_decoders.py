"""FFmpeg's stream probe opens no H.264/HEVC decoder (issue #17); its lines saying so stay out of the errors."""

from __future__ import annotations

import tempfile

from sitescout.probes.stream.child import _capture_options, _log_tail
from sitescout.probes.stream.config import DEFAULT_STREAM, PROBE_DECODERS, PROBE_NOISE


def test_the_probe_whitelist_leaves_out_only_the_raw_mode_codecs() -> None:
    names = PROBE_DECODERS.split(",")
    assert "h264" not in names and "hevc" not in names
    # MJPEG (decoded by imdecode, probed as before) and the audio a camera sends are still probed.
    assert {"mjpeg", "mpeg4", "pcm_mulaw", "pcm_alaw", "aac", "adpcm_g726", "opus"} <= set(names)
    assert all(n and n == n.strip() and ";" not in n and "|" not in n for n in names)


def test_every_open_names_the_whitelist() -> None:
    for uri in ("rtsp://127.0.0.1:8554/cam", "http://127.0.0.1:8080/video.mjpg"):
        options = dict(o.split(";", 1) for o in _capture_options(uri, DEFAULT_STREAM).split("|"))
        assert options["codec_whitelist"] == PROBE_DECODERS


def test_the_whitelist_lines_are_dropped_from_the_log_errors_are_read_from() -> None:
    lines = [
        "[OPENCV:FFMPEG:40] SDP:\n",
        "[OPENCV:FFMPEG:16] Codec (h264) not on whitelist 'mjpeg,mpeg4'\n",
        "[OPENCV:FFMPEG:24] Failed to open codec in avformat_find_stream_info\n",
        "[OPENCV:FFMPEG:16] method DESCRIBE failed: 404 Not Found\n",
    ]
    with tempfile.TemporaryFile() as log:
        log.write("".join(lines).encode())
        text = _log_tail(log)
    assert text == lines[0] + lines[3]
    assert not any(noise in text for noise in PROBE_NOISE)
