"""Stage 0 and 4: reading frames and writing the anonymized video, faithfully.

Probing uses moviepy 2.x's ffmpeg parser for the basics and :mod:`vidanon.streams` for
the rest (every stream, colour tags, aspect, start times, metadata, and the video's
packets); frames stream through imageio-ffmpeg's bundled ffmpeg binary (no system
ffmpeg needed), in constant memory:

* the reader decodes the first video stream with ``-fps_mode passthrough``, so every
  decoded frame comes out exactly once, rotated upright when the file carries rotation
  metadata, each with its own presentation time (ffmpeg writes them, one line a frame,
  to a second pipe). 8-bit video comes out as RGB24; deeper video (10-bit HDR) as
  RGB48, with an 8-bit copy for the detector and the effects (:class:`Frame`);
* the writer sends the frames to ffmpeg in a minimal Matroska stream that carries each
  frame's time (``V_UNCOMPRESSED``), so the encoder gets the input's timestamps:
  variable frame rates stay variable, a video that starts after its audio still does.
  Colour range, matrix, primaries and transfer, the sample aspect ratio and the bit
  depth (10-bit in, 10-bit out) are the input's. Audio is copied bit for bit when the
  container takes its codec; subtitles, fonts and chapters are carried where the
  container takes them; metadata follows the policy of :func:`streams.split_metadata`;
  whatever is left out is reported;
* the output goes to a hidden temporary file beside the target that is renamed
  over the target only after ffmpeg has finished successfully.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import warnings
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import EncodeError, InputError, OutputError
from .streams import Header, PacketTimes, packet_times, parse_header, split_metadata

CONTAINERS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
}
# Audio codecs each container takes as they are; anything else is re-encoded.
_AUDIO_COPY = {
    "mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
    "mov": {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le"},
    "matroska": None,  # anything
    "webm": {"opus", "vorbis"},
    "avi": {"mp3", "ac3", "pcm_s16le"},
}
_AUDIO_ENCODER = {"mp4": "aac", "mov": "aac", "matroska": "aac", "webm": "libopus", "avi": "libmp3lame"}
DEFAULT_CODEC = {"webm": "libvpx-vp9"}
# Subtitles: text formats are converted to the one the container takes; pictures
# (DVD, Blu-ray, DVB) are copied into Matroska only.
_TEXT_SUBS = {"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text"}
_SUB_CODEC = {"mp4": "mov_text", "mov": "mov_text", "webm": "webvtt", "matroska": None, "avi": False}
_CHAPTERS = {"mp4", "mov", "matroska", "webm"}
# Encoders that store odd sizes in 4:2:0 (H.264 and HEVC cannot: their chroma is cropped in pairs).
_ODD_420 = {"libvpx-vp9", "libvpx", "libaom-av1", "libsvtav1", "librav1e"}
# Encoders that write 10-bit 4:2:0 (what a 10-bit input keeps).
_DEEP_420 = {"libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1", "librav1e", "libkvazaar"}
_HDR_TRC = {"smpte2084", "arib-std-b67"}
# ffmpeg's names for colour matrices in the scale filter.
_SCALE_MATRIX = {"bt709": "bt709", "bt2020nc": "bt2020", "bt2020c": "bt2020", "bt2020": "bt2020",
                 "smpte170m": "smpte170m", "bt470bg": "bt470", "fcc": "fcc", "smpte240m": "smpte240m"}
ODD_SIZES = ("pad", "444")
METADATA_POLICIES = ("private", "keep", "strip")


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    """What the input holds, as far as the container tells before decoding."""

    path: Path
    width: int  # after rotation, as displayed
    height: int
    fps: Fraction
    duration: float
    n_frames: int  # the video packets (= frames); an estimate from the duration if they cannot be listed
    rotation: int
    has_audio: bool
    audio_codec: str | None
    video_codec: str | None
    variable_rate: bool = False  # the frames are not evenly spaced
    header: Header | None = field(default=None, compare=False, repr=False)
    packets: PacketTimes | None = field(default=None, compare=False, repr=False)
    pix_fmt: str | None = None
    color_range: str | None = None  # "tv" or "pc"
    color_space: str | None = None
    color_primaries: str | None = None
    color_trc: str | None = None
    sar: Fraction | None = None  # of the upright frames
    video_start: float | None = None  # the video stream's start time in the file

    @property
    def fps_float(self) -> float:
        return float(self.fps)

    @property
    def deep(self) -> bool:
        """More than 8 bits per sample: decoded to 16-bit RGB, written at 10 bits."""
        return bit_depth(self.pix_fmt) > 8

    @property
    def hdr(self) -> bool:
        return self.color_trc in _HDR_TRC

    @property
    def file_start(self) -> float:
        return self.header.start if self.header is not None else 0.0


def bit_depth(pix_fmt: str | None) -> int:
    if not pix_fmt:
        return 8
    found = re.search(r"p(\d{2})(?:le|be)?$|(\d{2})(?:le|be)$", pix_fmt)
    if found:
        return int(found.group(1) or found.group(2))
    return 16 if pix_fmt.startswith(("rgb48", "bgr48", "rgba64", "gray16")) else 8


def rational_fps(fps: float) -> Fraction:
    """The exact rate behind a printed one: 29.97 -> 30000/1001, 25 -> 25."""
    if fps <= 0 or not np.isfinite(fps):
        raise ValueError("frame rate must be positive")
    ntsc = fps * 1.001
    if abs(ntsc - round(ntsc)) < 0.005 and abs(fps - round(fps)) > 0.005:
        return Fraction(round(ntsc) * 1000, 1001)
    return Fraction(fps).limit_denominator(1000)


def check_input(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"input {path} does not exist")
    if path.is_dir():
        raise InputError(f"input {path} is a directory, not a video file")
    if not os.access(path, os.R_OK):
        raise InputError(f"input {path} cannot be read (check its permissions)")
    if path.stat().st_size == 0:
        raise InputError(f"input {path} is empty")
    return path


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read the container's description of ``path`` (raises :class:`InputError`).

    ffmpeg prints the header once; moviepy's parser reads the basics from that text
    (its warnings, e.g. about subtitle streams, are not for users) and
    :func:`streams.parse_header` the rest. The frame count and the frames' times come
    from the video packets, listed without decoding.
    """
    from moviepy.video.io.ffmpeg_reader import FFmpegInfosParser

    path = check_input(path)
    try:
        proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                              capture_output=True, timeout=120)  # fmt: skip
        header = proc.stderr.decode("utf8", errors="replace")
        _refuse_still_image(path, header)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            infos = FFmpegInfosParser(header, str(path), check_duration=True).parse()
    except InputError:
        raise
    except Exception as exc:
        detail = (header if "header" in locals() else str(exc)).strip().splitlines()
        last = [line for line in detail if line.strip()][-1:] or ["unknown error"]
        raise InputError(f"input {path} is not a readable video ({last[0].strip()[:160]})") from None
    parsed = parse_header(header)
    if not infos.get("video_found") or not infos.get("video_size") or parsed.video is None:
        what = "an audio-only file" if infos.get("audio_found") else "not a video"
        raise InputError(f"input {path} has no video stream ({what})")
    video = parsed.video
    width, height = (int(v) for v in infos["video_size"])
    rotation = video.rotation
    sar = video.sar
    if rotation in (90, 270):
        width, height = height, width
        sar = 1 / sar if sar else sar
    if width < 2 or height < 2:
        raise InputError(f"input {path} is {width}x{height}: frames must be at least 2x2 pixels")
    fps_value = infos.get("video_fps") or 0.0
    try:
        fps = rational_fps(float(fps_value))
    except (TypeError, ValueError):
        raise InputError(f"input {path} has no usable frame rate") from None
    duration = float(infos.get("video_duration") or infos.get("duration") or 0.0)
    packets = packet_times(ffmpeg_exe(), path)
    if packets is not None and packets.count:
        n_frames = packets.count
        variable = _uneven(packets)
    else:
        n_frames = int(infos.get("video_n_frames") or round(duration * float(fps)))
        variable = _variable_rate(header)
    audio = parsed.of_kind("audio")
    return VideoInfo(
        path=path,
        width=width,
        height=height,
        fps=fps,
        duration=duration,
        n_frames=max(n_frames, 0),
        rotation=rotation,
        has_audio=bool(audio) or bool(infos.get("audio_found")),
        audio_codec=audio[0].codec if audio else None,
        video_codec=video.codec or infos.get("video_codec_name"),
        variable_rate=variable,
        header=parsed,
        packets=packets,
        pix_fmt=video.pix_fmt,
        color_range=video.color_range or ("pc" if (video.pix_fmt or "").startswith("yuvj") else None),
        color_space=video.color_space,
        color_primaries=video.color_primaries,
        color_trc=video.color_trc,
        sar=sar if sar and sar != 1 else None,
        video_start=video.start,
    )


def _uneven(packets: PacketTimes) -> bool:
    """True when the frames are not evenly spaced (beyond the time base's rounding)."""
    times = np.asarray(packets.times, np.float64)
    if len(times) < 3:
        return False
    gaps = np.diff(times)
    typical = float(np.median(gaps))
    tolerance = max(1.5 * float(packets.time_base), 0.02 * typical)
    return bool(np.any(np.abs(gaps - typical) > tolerance))


def _refuse_still_image(path: Path, header: str) -> None:
    demuxer = re.search(r"Input #0, (.+?), from ", header)
    if demuxer and (demuxer.group(1).endswith("_pipe") or demuxer.group(1) == "image2"):
        kind = demuxer.group(1).replace("_pipe", "").replace("image2", "image")
        raise InputError(f"input {path} is a still image ({kind}), not a video")


_RATES = re.compile(r"(\d+(?:\.\d+)?) fps, (\d+(?:\.\d+)?)(k?) tbr")


def _variable_rate(header: str) -> bool:
    """True when ffmpeg reports an average rate ("fps") unlike the base rate ("tbr")."""
    match = _RATES.search(header.split("Video:", 1)[-1])
    if not match:
        return False
    avg = float(match.group(1))
    base = float(match.group(2)) * (1000 if match.group(3) else 1)
    return avg > 0 and abs(base - avg) / avg > 0.01


class _StderrTail:
    """Drain a subprocess's stderr in a thread, keeping its last lines."""

    def __init__(self, stream, keep: int = 30) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()

    def _run(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf8", errors="replace").strip()
            if line:
                self.lines.append(line)
                if os.environ.get(DEBUG_ENV):  # --debug: ffmpeg's own messages too
                    print(f"ffmpeg: {line}", file=sys.stderr, flush=True)
        stream.close()

    def join(self) -> None:
        self._thread.join(timeout=5)

    def summary(self) -> str:
        return self.lines[-1] if self.lines else ""


class Frame(np.ndarray):
    """An ``(H, W, 3)`` uint8 RGB frame (what the detector and the effects work on) with
    its presentation time in seconds (``pts``, a Fraction, or None) and, for inputs of
    more than 8 bits, the decoded 16-bit RGB frame (``deep``). Arrays derived from it
    (views, copies, results of the effects) carry neither."""

    pts: Fraction | None = None
    deep: np.ndarray | None = None

    def __array_finalize__(self, obj) -> None:
        self.pts = None
        self.deep = None


def to_8bit(deep: np.ndarray) -> np.ndarray:
    """16-bit samples to 8-bit, rounded: round(x / 257) (ffmpeg scales 8 to 16 bits by 257),
    computed in integers (about twice as fast as a 65536-entry table on a 4K frame)."""
    return ((deep.astype(np.uint32) * 255 + 32895) >> 16).astype(np.uint8)


class FrameReader:
    """Every decoded frame of the first video stream, as :class:`Frame` arrays."""

    def __init__(self, info: VideoInfo, skip: int = 0, limit: int | None = None) -> None:
        """``skip``: frames dropped inside ffmpeg (decoded, never converted or piped);
        ``limit``: at most this many frames are read after them."""
        self.info = info
        self.frames_read = 0
        self.skip = skip
        self.limit = limit
        self.deep = info.deep
        select = ["-vf", f"select=gte(n\\,{int(skip)})"] if skip else []
        self._stats = frame_stats_supported()
        self._file_start = Fraction(info.file_start).limit_denominator(1_000_000)
        stats_r, stats_w = os.pipe()
        stats = ["-stats_enc_pre", f"pipe:{stats_w}", "-stats_enc_pre_fmt", "{ptsi} {tbi}"] if self._stats else []
        cmd = [
            ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", *_threads(),
            "-i", str(info.path),
            "-map", "0:v:0", "-an", "-sn", "-dn", *select,
            "-fps_mode", "passthrough",
            *stats, "-f", "rawvideo", "-pix_fmt", "rgb48le" if self.deep else "rgb24", "pipe:1",
        ]  # fmt: skip
        self._frame_bytes = info.width * info.height * (6 if self.deep else 3)
        try:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                bufsize=max(self._frame_bytes, 1 << 16), pass_fds=(stats_w,),
            )  # fmt: skip
        finally:
            os.close(stats_w)
        self._times = os.fdopen(stats_r, "rb")
        self._stderr = _StderrTail(self._proc.stderr)
        self.decode_warning: str | None = None

    def _next_time(self) -> Fraction | None:
        """The time of the frame just read (ffmpeg writes its line before the frame)."""
        if not self._stats:  # an ffmpeg before 6.1: the packets' times, in order
            packets = self.info.packets
            n = self.skip + self.frames_read
            if packets is not None and n < packets.count:
                return Fraction(packets.times[n]).limit_denominator(1_000_000)
            return None
        line = self._times.readline().decode("ascii", errors="replace").split()
        try:
            # ffmpeg's output times start at the input file's start (0.033 s for many .mkv,
            # 1.4 s for MPEG-TS): added back, they are the file's own, as the packets' are
            return Fraction(int(line[0])) * Fraction(line[1]) + self._file_start
        except (IndexError, ValueError, ZeroDivisionError):
            return None

    def __iter__(self) -> Iterator[Frame]:
        h, w = self.info.height, self.info.width
        stdout = self._proc.stdout
        fallback = 1 / self.info.fps
        last: Fraction | None = None
        while self.limit is None or self.frames_read < self.limit:
            buf = stdout.read(self._frame_bytes)
            if len(buf) < self._frame_bytes:
                break
            pts = self._next_time()
            if pts is None or (last is not None and pts <= last):  # no timestamp: the next slot
                pts = (last + fallback) if last is not None else self._file_start
            last = pts
            if self.deep:
                deep = np.frombuffer(buf, "<u2").reshape(h, w, 3)
                frame = to_8bit(deep).view(Frame)
                frame.deep = deep
            else:
                frame = np.frombuffer(buf, np.uint8).reshape(h, w, 3).view(Frame)
            frame.pts = pts
            self.frames_read += 1
            yield frame
        if self.limit is not None and self.frames_read == self.limit:
            self.close()  # the rest of the stream is not needed
            return
        code = self._proc.wait()
        self._stderr.join()
        if self.frames_read == 0:
            detail = self._stderr.summary() or "no frame could be decoded"
            raise InputError(f"input {self.info.path} has no decodable video frame ({detail[:160]})")
        if code != 0 or self._stderr.lines:
            self.decode_warning = self._stderr.summary()[:200] or f"ffmpeg exited with code {code}"

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()
        self._times.close()


@functools.lru_cache(maxsize=1)
def frame_stats_supported() -> bool:
    """Whether the bundled ffmpeg writes per-frame statistics (``-stats_enc_pre``, 6.1+)."""
    try:
        out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-version"], capture_output=True, text=True,
                             timeout=30).stdout  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    found = re.search(r"version \D*(\d+)\.(\d+)", out)
    if not found:
        return True  # a development build (version N-xxxxx-g...): recent
    return (int(found.group(1)), int(found.group(2))) >= (6, 1)


@functools.lru_cache(maxsize=1)
def _pq_to_sdr() -> np.ndarray:
    """A 256-entry table from PQ-coded (SMPTE 2084) 8-bit samples to SDR-looking ones:
    PQ to light (nits), 100 nits as reference white, extended Reinhard to 1000 nits,
    BT.709-like gamma 1/2.2. Per channel (the gamut stays BT.2020: the detector does not mind)."""
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    e = np.arange(256, dtype=np.float64) / 255.0
    p = e ** (1 / m2)
    nits = 10000.0 * (np.maximum(p - c1, 0.0) / (c2 - c3 * p)) ** (1 / m1)
    x = nits / 100.0
    white = 10.0
    y = np.clip(x * (1 + x / white**2) / (1 + x), 0.0, 1.0)
    return np.round(255.0 * y ** (1 / 2.2)).astype(np.uint8)


def detector_view(frames: np.ndarray, info: VideoInfo) -> np.ndarray:
    """What the detector should see of ``(N, H, W, 3)`` frames: square pixels (see
    :func:`square_pixels`) and, for PQ HDR video, SDR-looking brightness (the frames
    themselves, which the effects work on, keep their PQ coding)."""
    frames = square_pixels(frames, info.sar)
    if info.color_trc == "smpte2084":
        frames = _pq_to_sdr()[frames]
    return frames


def square_pixels(frames: np.ndarray, sar: Fraction | None) -> np.ndarray:
    """``(N, H, W, 3)`` frames resampled (nearest neighbour) so that their pixels are
    square, as they are displayed; boxes normalized to the frame are the same in both."""
    if not sar or sar == 1:
        return frames
    n, h, w = frames.shape[:3]
    if sar > 1:  # wide pixels: more columns
        cols = np.minimum((np.arange(round(w * sar)) + 0.5) / float(sar), w - 1).astype(np.intp)
        return frames[:, :, cols]
    rows = np.minimum((np.arange(round(h / sar)) + 0.5) * float(sar), h - 1).astype(np.intp)
    return frames[:, rows]


def container_of(path: Path) -> str:
    fmt = CONTAINERS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(CONTAINERS))
        raise OutputError(f"output {path} has an unknown container extension; use one of {known}")
    return fmt


# --------------------------------------------------------------------------- the frame pipe

_NS = 1_000_000_000


def _vint(n: int) -> bytes:
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:
            return ((1 << (7 * length)) | n).to_bytes(length, "big")
    raise ValueError("EBML size too large")


def _el(ident: bytes, data: bytes) -> bytes:
    return ident + _vint(len(data)) + data


def _uint(v: int) -> bytes:
    return v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")


def _mkv_header(width: int, height: int, deep: bool, frame_ns: int) -> bytes:
    """A Matroska stream of uncompressed RGB frames (RGB24 or RGB48LE) timed in ns; each
    frame lasts ``frame_ns`` unless the next one starts earlier (the last one's duration:
    without it, MP4's edit list would end where the last frame starts, hiding it)."""
    ebml = _el(b"\x1a\x45\xdf\xa3", _el(b"\x42\x86", _uint(1)) + _el(b"\x42\xf7", _uint(1))
               + _el(b"\x42\xf2", _uint(4)) + _el(b"\x42\xf3", _uint(8)) + _el(b"\x42\x82", b"matroska")
               + _el(b"\x42\x87", _uint(4)) + _el(b"\x42\x85", _uint(2)))  # fmt: skip
    segment = b"\x18\x53\x80\x67" + b"\x01\xff\xff\xff\xff\xff\xff\xff"  # unknown size: a stream
    info = _el(b"\x15\x49\xa9\x66", _el(b"\x2a\xd7\xb1", _uint(1)))  # timestamps in nanoseconds
    video = _el(b"\xe0", _el(b"\xb0", _uint(width)) + _el(b"\xba", _uint(height))
                + _el(b"\x2e\xb5\x24", b"RGB0" if deep else b"RGB\x18"))  # fmt: skip
    track = _el(b"\xae", _el(b"\xd7", _uint(1)) + _el(b"\x73\xc5", _uint(1)) + _el(b"\x83", _uint(1))
                + _el(b"\x9c", _uint(0)) + _el(b"\x22\xb5\x9c", b"und") + _el(b"\x86", b"V_UNCOMPRESSED")
                + _el(b"\x23\xe3\x83", _uint(frame_ns)) + video)  # fmt: skip
    return ebml + segment + info + _el(b"\x16\x54\xae\x6b", track)


def _mkv_frame_head(ns: int, size: int) -> bytes:
    """What precedes a frame of ``size`` bytes: a cluster of its own at ``ns`` (a cluster's
    time is unbounded, a block's only 16 bits) holding one key-frame block."""
    block_head = b"\x81" + struct.pack(">h", 0) + b"\x80"
    block_size = len(block_head) + size
    body = _el(b"\xe7", _uint(ns)) + b"\xa3" + _vint(block_size)
    return b"\x1f\x43\xb6\x75" + _vint(len(body) + block_size) + body + block_head


# --------------------------------------------------------------------------- the writer


@dataclass
class StreamPlan:
    """What besides the video goes into an output: ffmpeg arguments and what is left out."""

    inputs: list[str] = field(default_factory=list)  # "-i" and its options
    args: list[str] = field(default_factory=list)  # maps, codecs, metadata (after the video's map)
    left_out: list[str] = field(default_factory=list)  # one phrase per kind of thing
    metadata_removed: list[str] = field(default_factory=list)
    audio: int = 0


def plan_streams(container: str, source: VideoInfo | None, audio: bool, metadata: str, index: int = 1,
                 shift: float = 0.0) -> StreamPlan:  # fmt: skip
    """Arguments that take audio, subtitles, fonts, chapters and metadata of ``source``
    (input ``index`` of the ffmpeg command; input 0 gives the video) into ``container``."""
    plan = StreamPlan()
    if metadata not in METADATA_POLICIES:
        raise ValueError(f"unknown metadata policy {metadata!r}")
    chapters = "-1"
    if source is None:
        plan.args = ["-map_metadata:g", "-1", "-map_metadata:s", "-1", "-map_chapters", "-1"]
        return plan
    header = source.header
    if header is None:  # not probed by this module: audio only, as it is
        if audio and source.has_audio:
            copyable = _AUDIO_COPY[container]
            codec = "copy" if copyable is None or source.audio_codec in copyable else _AUDIO_ENCODER[container]
            plan.inputs = ["-i", str(source.path)]
            plan.args = ["-map", f"{index}:a?", "-c:a", codec]
            plan.audio = 1
        plan.args += ["-map_metadata:g", "-1", "-map_metadata:s", "-1", "-map_chapters", "-1"]
        return plan
    inputs = ["-itsoffset", f"{-shift:.9f}"] if shift else []
    inputs += ["-i", str(source.path)]
    maps: list[str] = []
    out_kind = {"audio": 0, "subtitle": 0, "attachment": 0}
    removed: list[str] = []
    left = {"subtitle": [], "attachment": [], "data": [], "video": []}

    def keep_tags(spec: str, tags: dict[str, str], language: str | None) -> None:
        kept, gone = split_metadata(tags, metadata)
        removed.extend(gone)
        for key, value in kept.items():
            maps.extend([f"-metadata:s:{spec}", f"{key}={value}"])
        if language and language != "und" and metadata != "strip":
            maps.extend([f"-metadata:s:{spec}", f"language={language}"])

    for s in header.streams:
        if s.kind == "audio":
            if not audio:
                continue
            k = out_kind["audio"]
            copyable = _AUDIO_COPY[container]
            codec = "copy" if copyable is None or s.codec in copyable else _AUDIO_ENCODER[container]
            maps += ["-map", f"{index}:{s.index}", f"-c:a:{k}", codec]
            keep_tags(f"a:{k}", s.metadata, s.language)
            out_kind["audio"] += 1
        elif s.kind == "subtitle":
            target = _SUB_CODEC[container]
            text = s.codec in _TEXT_SUBS
            if target is False or (target is not None and not text):
                left["subtitle"].append(s.codec or "?")
                continue
            if target is None:  # Matroska: as it is (mov_text is MP4's own: to SubRip)
                codec = "srt" if s.codec == "mov_text" else "copy"
            else:
                codec = "copy" if s.codec == target else target
            k = out_kind["subtitle"]
            maps += ["-map", f"{index}:{s.index}", f"-c:s:{k}", codec]
            keep_tags(f"s:{k}", s.metadata, s.language)
            out_kind["subtitle"] += 1
        elif s.kind == "attachment":
            if container != "matroska":
                left["attachment"].append(s.metadata.get("filename") or s.codec or "?")
                continue
            maps += ["-map", f"{index}:{s.index}"]
            k = out_kind["attachment"]
            for key in ("filename", "mimetype"):
                if key in s.metadata:
                    maps += [f"-metadata:s:t:{k}", f"{key}={s.metadata[key]}"]
            out_kind["attachment"] += 1
        elif s.kind == "video":
            if s is not header.video:
                left["video"].append("cover picture" if s.attached_pic else f"video ({s.codec})")
        elif header.chapters and "(text /" in s.line:
            continue  # QuickTime's chapter track: the chapters are carried by -map_chapters
        else:
            left["data"].append(s.codec or s.kind)
    if out_kind["attachment"]:
        maps += ["-c:t", "copy"]
    video = header.video
    if video is not None:
        keep_tags("v:0", video.metadata, video.language)
        if "default" in video.disposition:
            maps += ["-disposition:v:0", "default"]
    kept, gone = split_metadata(header.metadata, metadata)
    removed.extend(gone)
    for key, value in kept.items():
        maps += ["-metadata", f"{key}={value}"]
    if header.chapters:
        if container in _CHAPTERS and metadata != "strip":
            chapters = str(index)
        elif metadata != "strip":
            left["chapters"] = [f"{header.chapters} chapters"]
    names = {"subtitle": "subtitle stream", "attachment": "attachment", "data": "data stream", "video": "extra video stream"}
    for kind, items in left.items():
        if items:
            if kind == "chapters":
                plan.left_out.append(f"{items[0]} ({container} has none)")
                continue
            noun = names[kind] + ("s" if len(items) > 1 else "")
            plan.left_out.append(f"{len(items)} {noun} ({', '.join(items)})")
    plan.inputs = inputs
    plan.args = maps + ["-map_metadata:g", "-1", "-map_metadata:s", "-1", "-map_chapters", chapters]
    plan.metadata_removed = sorted(set(removed), key=str.lower)
    plan.audio = out_kind["audio"]
    return plan


def default_codec(container: str, source: VideoInfo | None = None) -> str:
    """libx264 (libvpx-vp9 for WebM); for a 10-bit input, the input's own family where
    the container takes it (HEVC stays HEVC, AV1 stays AV1), at 10 bits."""
    if source is not None and source.deep:
        family = {"hevc": "libx265", "vp9": "libvpx-vp9", "av1": "libsvtav1"}.get(source.video_codec or "")
        if family and not (container == "webm" and family == "libx265") and container != "avi":
            return family
    return DEFAULT_CODEC.get(container, "libx264")


class VideoWriter:
    """Encode frames to ``path`` with ffmpeg, with what else ``source`` (or ``audio_from``)
    holds: audio (unless ``audio_from`` is None while ``source`` is given), subtitles,
    fonts, chapters and metadata (``metadata``: private, keep or strip)."""

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        fps: Fraction,
        container: str,
        codec: str | None = None,
        crf: int = 18,
        preset: str = "medium",
        audio_from: VideoInfo | None = None,
        source: VideoInfo | None = None,
        metadata: str = "private",
        odd_size: str = "pad",
        extras: bool = True,
    ) -> None:
        self.path = path
        self.frames_written = 0
        self.fps = Fraction(fps)
        self.notes: list[str] = []  # what the user should know about the output
        source = source if source is not None else audio_from
        codec = codec or default_codec(container, source)
        self.codec = codec
        self.width, self.height = width, height
        self.deep = bool(source is not None and source.deep)
        deep_out = self.deep and codec in _DEEP_420
        tonemap = self.deep and not deep_out and source is not None and source.hdr
        self.pad = (0, 0)
        chroma = "420"
        if width % 2 or height % 2:
            if codec in _ODD_420:
                pass
            elif odd_size == "444":
                chroma = "444"
                self.notes.append(f"the size {width}x{height} is odd: written as 4:4:4 at that size "
                                  "(--odd-size 444), which many players and browsers do not play")  # fmt: skip
            else:
                self.pad = (height % 2, width % 2)
                self.notes.append(
                    f"the size {width}x{height} is odd, which {codec} cannot store in 4:2:0: written as "
                    f"{width + self.pad[1]}x{height + self.pad[0]} with the last "
                    f"{'column' if self.pad[1] and not self.pad[0] else 'row' if self.pad[0] and not self.pad[1] else 'row and column'} "
                    "repeated, so that every player can play it (--odd-size 444 keeps the size, as 4:4:4)"
                )  # fmt: skip
        out_w, out_h = width + self.pad[1], height + self.pad[0]
        pix_fmt = {("420", False): "yuv420p", ("444", False): "yuv444p", ("420", True): "yuv420p10le",
                   ("444", True): "yuv444p10le"}[(chroma, deep_out)]  # fmt: skip
        if codec == "libvpx":
            pix_fmt = "yuv420p"
        # Timing: frames keep the input's times relative to the file's start, so the
        # video sits where it sat against the audio (a late start stays late).
        self.shift = Fraction(source.file_start).limit_denominator(1_000_000) if source and source.file_start > 0 else Fraction(0)
        first = Fraction(source.packets.times[0]).limit_denominator(1_000_000) if source and source.packets else Fraction(0)
        self.origin = min(Fraction(0), first - self.shift)  # the pipe's times start at 0 or later
        self._last_ns = -1
        self._last_slot = -1
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        if self.origin:
            cmd += ["-itsoffset", f"{float(self.origin):.9f}"]
        cmd += ["-f", "matroska", "-i", "pipe:0"]
        plan = plan_streams(container, source if extras else None, audio_from is not None, metadata,
                            shift=float(self.shift))  # fmt: skip
        self.plan = plan
        cmd += plan.inputs + ["-map", "0:v:0"] + plan.args
        cmd += ["-copyts", "-fps_mode", "passthrough"]
        tb = source.packets.time_base if source is not None and source.packets is not None else 1 / self.fps
        # AVI has one fixed rate: frames go to their nearest slot at the average rate
        self.cfr = container == "avi"
        if self.cfr:
            tb = 1 / self.fps
            if source is not None and source.variable_rate:
                self.notes.append(f"AVI cannot store a variable frame rate: the frames were written at a constant "
                                  f"{float(self.fps):.3f} fps (.mkv or .mp4 keep each frame's time)")  # fmt: skip
        if tb.numerator == 1 and tb.denominator <= 10_000_000:
            cmd += ["-enc_time_base", f"{tb.numerator}/{tb.denominator}"]
            if container in ("mp4", "mov"):
                cmd += ["-video_track_timescale", str(tb.denominator)]
        elif 1 / tb == self.fps:
            cmd += ["-enc_time_base", f"{tb.numerator}/{tb.denominator}"]
        cmd += ["-c:v", codec, *_threads()]
        if codec in ("libx264", "libx265"):
            cmd += ["-crf", str(crf), "-preset", preset]
        elif codec in ("libvpx-vp9", "libvpx"):
            cmd += ["-crf", str(crf), "-b:v", "0", "-row-mt", "1"]
        cmd += self._colour_args(source, pix_fmt, tonemap, out_w, out_h)
        if container in ("mp4", "mov"):
            cmd += ["-movflags", "+faststart" + ("+use_metadata_tags" if metadata == "keep" else "")]
            if codec == "libx265":
                cmd += ["-tag:v", "hvc1"]  # what Apple's players require (ffmpeg's default, hev1, they refuse)
        cmd += ["-f", container, str(path)]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        self._stderr = _StderrTail(self._proc.stderr)
        self._send(_mkv_header(out_w, out_h, self.deep, int(round(_NS / self.fps))))

    def _colour_args(self, source: VideoInfo | None, pix_fmt: str, tonemap: bool, w: int, h: int) -> list[str]:
        """Convert RGB to the input's YUV (same matrix and range) and tag it as the input was."""
        if source is None:
            return ["-pix_fmt", pix_fmt]
        args: list[str] = []
        matrix = _SCALE_MATRIX.get(source.color_space or "", "bt601")
        full = source.color_range == "pc"
        if tonemap:
            # An 8-bit codec for HDR: tone-mapped to SDR BT.709 (zscale + tonemap).
            prim = source.color_primaries or "bt2020"
            vf = (f"setparams=color_primaries={prim}:color_trc={source.color_trc}:colorspace=gbr,"
                  "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=hable:desat=0,"
                  f"zscale=t=bt709:m=bt709:r={'full' if full else 'limited'},format={pix_fmt}")  # fmt: skip
            if source.sar:
                vf += f",setsar={source.sar.numerator}/{source.sar.denominator}"
            self.notes.append(f"the input is HDR ({source.color_trc}) and {self.codec} writes 8 bits only: "
                              "tone-mapped to SDR BT.709")  # fmt: skip
            return ["-vf", vf, "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709",
                    "-color_range", "pc" if full else "tv"]  # fmt: skip
        scale = []  # the input's matrix and range when it names them (else ffmpeg's defaults, as when decoding)
        if source.color_space:
            scale.append(f"out_color_matrix={matrix}")
        if source.color_range:
            scale.append(f"out_range={'pc' if full else 'tv'}")
        vf = (f"scale={':'.join(scale)}," if scale else "") + f"format={pix_fmt}"
        tags = {"color_primaries": source.color_primaries, "color_trc": source.color_trc,
                "colorspace": source.color_space, "range": source.color_range}
        tags = {k: v for k, v in tags.items() if v}
        if tags:  # the frames carry the tags to the encoder (its own options alone lose them)
            vf += ",setparams=" + ":".join(f"{k}={v}" for k, v in tags.items())
        if source.sar:
            vf += f",setsar={source.sar.numerator}/{source.sar.denominator}"
        args += ["-vf", vf]
        if source.color_range:
            args += ["-color_range", source.color_range]
        if source.color_space:
            args += ["-colorspace", source.color_space]
        if source.color_primaries:
            args += ["-color_primaries", source.color_primaries]
        if source.color_trc:
            args += ["-color_trc", source.color_trc]
        return args

    def _send(self, data) -> None:
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, OSError):
            self._proc.wait()
            self._stderr.join()
            raise EncodeError(self._failure()) from None

    def write(self, frame: np.ndarray, source: np.ndarray | None = None) -> None:
        """Encode ``frame`` at the time of ``source`` (the decoded :class:`Frame` it was
        rendered from; default: ``frame`` itself, else the next slot at the frame rate)."""
        origin = source if source is not None else frame
        pts = getattr(origin, "pts", None)
        if pts is None:
            pts = self.frames_written / self.fps
        if self.cfr:
            slot = max(round((pts - self.shift - self.origin) * self.fps), self._last_slot + 1, 0)
            self._last_slot = slot
            pts = self.shift + self.origin + slot / self.fps
        ns = int(round((pts - self.shift - self.origin) * _NS))
        ns = max(ns, self._last_ns + 1, 0)
        self._last_ns = ns
        if self.deep:
            data = self._deep(frame, origin)
        else:
            data = np.ascontiguousarray(frame, dtype=np.uint8)
        if self.pad != (0, 0):
            data = np.pad(data, ((0, self.pad[0]), (0, self.pad[1]), (0, 0)), mode="edge")
        data = np.ascontiguousarray(data)
        self._send(_mkv_frame_head(ns, data.nbytes))
        self._send(data.data)
        self.frames_written += 1

    @staticmethod
    def _deep(frame: np.ndarray, origin: np.ndarray) -> np.ndarray:
        """The 16-bit frame to encode: the decoded one wherever the effect left the 8-bit
        frame as it was, the effect's result (8 bits, scaled) where it changed it."""
        deep = getattr(origin, "deep", None)
        if deep is None:
            return np.asarray(frame, np.uint16) * 257
        if frame is origin:
            return deep
        ne = np.asarray(frame) != np.asarray(origin)
        changed = ne[..., 0] | ne[..., 1] | ne[..., 2]  # ten times np.any(axis=-1) on 4K frames
        if not changed.any():
            return deep
        out = np.array(deep, copy=True)
        out[changed] = np.asarray(frame)[changed].astype(np.uint16) * 257
        return out

    def _failure(self) -> str:
        return _ffmpeg_failure(self.path.name, " ".join(self._stderr.lines), self._proc.returncode, "encoding",
                               self._stderr.summary())  # fmt: skip

    def close(self) -> None:
        """Finish the file; raises :class:`EncodeError` if ffmpeg did not succeed."""
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        code = self._proc.wait()
        self._stderr.join()
        if code != 0:
            raise EncodeError(self._failure())

    def abort(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        self._proc.wait()


def _ffmpeg_failure(name: str, detail: str, code: int | None, doing: str, summary: str) -> str:
    """One line saying why ffmpeg could not write ``name``."""
    if "No space left" in detail:
        return f"no space left on the device while writing {name}: free some space and retry"
    if "File too large" in detail or code == -signal.SIGXFSZ:
        return f"{name} grew past the file size limit of this system or shell (ulimit -f)"
    if code is not None and code < 0:
        return f"ffmpeg was killed by signal {-code} while {doing} {name}"
    return f"ffmpeg failed while {doing} {name}: {summary[:200] or 'unknown error'}"


THREADS_ENV = "VIDANON_THREADS"  # set in each worker of --jobs and each Ray task
DEBUG_ENV = "VIDANON_DEBUG"  # set by --debug: ffmpeg's messages are shown


def worker_threads() -> int | None:
    """The threads this process may use when it is one of several (its share of the
    cores, from ``VIDANON_THREADS``); None when it has the machine to itself."""
    value = os.environ.get(THREADS_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def _threads() -> list[str]:
    """ffmpeg's thread count: a worker's share of the cores, else ffmpeg's default (all)."""
    n = worker_threads()
    return ["-threads", str(n)] if n else []


def join_parts(parts: list[Path], path: Path, container: str, audio_from: VideoInfo | None,
               source: VideoInfo | None = None, metadata: str = "private") -> StreamPlan:  # fmt: skip
    """Concatenate encoded parts (same codec and settings) into ``path`` without
    re-encoding them, with the audio (when ``audio_from`` is given), subtitles, chapters
    and metadata of ``source`` as :class:`VideoWriter` adds them."""
    source = source if source is not None else audio_from
    listing = path.with_name(f".{path.name}.parts.txt")
    lines = []
    for part in parts:
        quoted = str(part.resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'\n")
    listing.write_text("".join(lines), encoding="utf8")
    shift = source.file_start if source is not None and source.file_start > 0 else 0.0
    first = (source.packets.times[0] - shift) if source is not None and source.packets else 0.0
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    if first:  # the concat demuxer starts the first part at 0: put it back where it was
        cmd += ["-itsoffset", f"{first:.9f}"]
    cmd += ["-f", "concat", "-safe", "0", "-i", str(listing)]
    plan = plan_streams(container, source, audio_from is not None, metadata, shift=shift)
    cmd += plan.inputs + ["-map", "0:v:0"] + plan.args
    cmd += ["-copyts", "-c:v", "copy"]
    if container in ("mp4", "mov"):
        cmd += ["-movflags", "+faststart" + ("+use_metadata_tags" if metadata == "keep" else "")]
    cmd += ["-f", container, str(path)]
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
    finally:
        listing.unlink(missing_ok=True)
    if done.returncode != 0:
        detail = " ".join(done.stderr.split())
        raise EncodeError(_ffmpeg_failure(path.name, detail, done.returncode, "joining the parts of", detail[-200:]))
    return plan


def temp_path_for(target: Path) -> Path:
    return target.with_name(f".{target.stem}.vidanon-{os.getpid()}.partial{target.suffix}")


def prepare_output(target: str | os.PathLike, input_path: Path, overwrite: bool, mkdir: bool = True) -> Path:
    """Check the output path before any work is done; create its folder if it is
    missing and ``mkdir`` (else that is an error)."""
    target = Path(target)
    container_of(target)
    if target.exists() and target.is_dir():
        raise OutputError(f"output {target} is a directory; give a file name such as {target / 'out.mp4'}")
    if target.resolve() == input_path.resolve() or (target.exists() and os.path.samefile(target, input_path)):
        raise OutputError("output and input are the same file; vidanon never overwrites its input")
    if target.exists() and not overwrite:
        raise OutputError(f"output {target} already exists; pass --overwrite to replace it")
    parent = target.parent
    if not parent.exists() and not mkdir:
        raise OutputError(f"the output folder {parent} does not exist; create it or pass --mkdir")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {parent}: {exc.strerror or exc}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to the output folder {parent} (check its permissions)")
    return target
