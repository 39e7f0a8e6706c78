"""Bounds and thresholds of a stream check (:class:`StreamConfig`) and its two presets.

Shared by the parent side (:mod:`sitescout.probes.stream.check`) and the measuring child
(:mod:`sitescout.probes.stream.child`), which rebuilds the config from its fields.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_STREAM", "MONITORING_STREAM", "PROBE_DECODERS", "PROBE_NOISE", "USER_AGENT", "StreamConfig"]

#: The User-Agent of the credentials pre-flight (stream.auth) AND of FFmpeg's own requests (stream.child
#: passes it as FFmpeg's ``user_agent`` option): a server must not tell the two apart by it and answer
#: them differently.  Kept here so the worker has it without importing stream.auth (ssl, hashlib), which
#: it imports only for a check with credentials.
USER_AGENT = "sitescout"

#: FFmpeg's ``codec_whitelist`` for every open of a check (the stream's and the key-frame scratch file's):
#: the decoders FFmpeg's stream probe (``avformat_find_stream_info``) may open.  H.264 and HEVC are left
#: out: their probe decoded a picture only to throw it away (it also "guesses the decode delay"), 2-4 ms
#: of CPU per open, while the parser already gives the size, the format and the parameter sets, and the
#: check reads those streams in raw mode and decodes its key frames itself.  OpenCV opens its own decoder
#: without this list, so nothing else changes (docs/benchmarks.md, issue #17).  Every other video and
#: audio codec a camera sends is listed and probed as before; one not listed is only probed without a
#: decode (the probe then reads up to `StreamConfig.probesize_bytes`, as it does for H.264).
PROBE_DECODERS = ",".join((
    "mjpeg", "jpeg2000", "mpeg4", "h263", "h263p", "h261", "mpeg1video", "mpeg2video", "vp8", "vp9", "av1",
    "libdav1d", "cavs", "vc1", "wmv3", "theora", "rawvideo",
    "pcm_mulaw", "pcm_alaw", "pcm_s16be", "pcm_s16le", "pcm_s24be", "pcm_s8", "pcm_u8", "aac", "aac_fixed",
    "aac_latm", "adpcm_g722", "adpcm_g726", "adpcm_g726le", "g723_1", "g729", "gsm", "gsm_ms", "ilbc", "amrnb",
    "amrwb", "opus", "libopus", "mp2", "mp2float", "mp3", "mp3float", "speex", "libspeex", "vorbis", "flac",
    "alac", "ac3", "eac3", "qcelp",
))
#: FFmpeg's lines about the decoders `PROBE_DECODERS` leaves out: expected, so dropped from the log
#: the check's errors are read from (stream.child._log_tail).
PROBE_NOISE = ("not on whitelist", "Failed to open codec in avformat_find_stream_info")


@dataclass(frozen=True)
class StreamConfig:
    """Bounds and thresholds of one stream check; every default says why it is what it is."""

    #: Seconds of stream watched after the open. 4 s holds 100 frames at 25 fps, two
    #: key frames at the common 2 s GOP (frozen needs two pictures), and a 2 s second
    #: half for the fps figure once the open's buffered burst is behind us.
    window_s: float = 4.0
    #: Given to the VideoCapture constructor; a silent server otherwise blocks 30 s.
    open_timeout_s: float = 3.0
    #: Per-read bound inside FFmpeg (constructor parameter too).
    read_timeout_s: float = 3.0
    #: Wall-clock "no new frame" limit. 2 s is Frigate's stall floor (max(2/fps, 2 s));
    #: a stalled stream keeps returning ok=True for a while, so we never trust ok.
    stall_s: float = 2.0
    #: Whole-check limit enforced by killing the worker: open + window + one read
    #: timeout + 2 s slack for process and decoder set-up.
    budget_s: float = 12.0
    #: Mean luma (0-255) at or below which a picture is black. OpenCV decodes black
    #: as 0 (full range); a night scene with a lit street lamp averages 15-40.
    black_luma_max: float = 10.0
    #: Variance of the Laplacian at 640 px width below which a picture is blurred.
    #: Lab: sharp test pattern 900-7000, Gaussian sigma=8 blur 2-3; outdoor scenes in
    #: focus read in the hundreds, fog or a smeared dome in the tens. Scene-dependent:
    #: the raw figure is reported so a per-camera baseline can replace this default.
    blur_laplacian_min: float = 30.0
    #: Mean absolute luma difference (0-255) between sampled pictures at or below
    #: which the stream is frozen. Re-encoded key frames of a still picture differ by
    #: ~0.1 at 640x480 and up to ~0.8 at 720p30 and 1080p25 (lab: x264's rate control
    #: re-quantises each key frame differently); sensor noise of a live static scene
    #: after encoding is expected to be above that (not measured on a real camera).
    frozen_diff_max: float = 1.0
    #: Decode a key frame at most once per this many frames (at 25 fps: one per 4 s);
    #: the first key frame and the last one of the window are always decoded, so a
    #: 4 s window at 25 fps costs two key-frame decodes (1080p: ~8 ms CPU for both).
    decode_every: int = 100
    #: Measured fps within ±15 % of the expected rate is a match (a 2 s count at 25 fps
    #: is quantised to ±2 %, delivery jitter adds a few per cent; 10 vs 25 is far out).
    fps_tolerance: float = 0.15
    #: RTSP transport named in OPENCV_FFMPEG_CAPTURE_OPTIONS (setting that variable
    #: replaces OpenCV's default, so it is always named): tcp survives NAT and loss.
    rtsp_transport: str = "tcp"
    #: FFmpeg probing limits: 0.5 s / 32 KiB open in ~0.25 s instead of ~2 s (lab-notes).
    analyzeduration_us: int = 500_000
    probesize_bytes: int = 32_768
    #: Growth of the worker's resident memory (MB) over its size at the check's start
    #: beyond which the check is killed.  While a picture is decoded the worker is
    #: allowed `memory_per_pixel_bytes` more per pixel (of the stream's declared size,
    #: at least a 4K picture, at most 16 MP).  A stream that never ends a frame
    #: makes FFmpeg's parser join fragments without limit (lab: over 1 GB in 7 s on
    #: loopback) without decoding anything.  Legitimate checks grow 37 MB at 1080p and
    #: 123-144 MB at 4K (the latter on a loaded CI machine), at the key-frame decode
    #: (16 B/pixel: 48 + 127 MB at 4K, with room), and pass
    #: with a 40 MB cap outside it (lab, 320x240 to 4K; larger sensors not measured).
    #: The flood grows 65-240 MB/s on loopback, and jumps by ~20-40 MB when FFmpeg's
    #: buffer passes 32 MB (a fresh mmap while the old block stays in the kept heap):
    #: a 48 MB cap, watched every 20-100 ms as the headroom shrinks once growth is seen
    #: (woken by the worker's page faults before that, stream.memory), stops it at
    #: 48-72 MB of growth (lab, 240 MB/s).
    memory_cap_mb: float = 48.0
    memory_per_pixel_bytes: float = 16.0
    #: Width of the luma picture the image checks run on (thresholds assume it).
    analysis_width: int = 640
    #: Keep a full-size JPEG of the first decoded key frame (MJPEG: the frame as
    #: received). The survey keeps it; a monitoring check need not (1080p: ~6 ms CPU
    #: of JPEG encoding per check, see MONITORING_STREAM).
    snapshot: bool = True

    def __post_init__(self) -> None:
        for name in ("window_s", "open_timeout_s", "read_timeout_s", "stall_s", "budget_s", "memory_cap_mb"):
            if getattr(self, name) <= 0:
                raise ValueError(f"StreamConfig.{name} must be > 0")
        if self.decode_every < 1:
            raise ValueError("StreamConfig.decode_every must be >= 1")
        if self.rtsp_transport not in ("tcp", "udp", "http"):
            raise ValueError("StreamConfig.rtsp_transport must be tcp, udp or http")


DEFAULT_STREAM = StreamConfig()
#: Repeated health checks (the worker/exporter): the same bounds and thresholds, no snapshot.
MONITORING_STREAM = StreamConfig(snapshot=False)
