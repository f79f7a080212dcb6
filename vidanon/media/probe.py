"""What a video file holds, before decoding: :func:`probe` returns a :class:`VideoInfo`.

moviepy 2.x's ffmpeg parser gives the basics; :mod:`vidanon.media.streams` the rest (every
stream, colour tags, aspect, start times, metadata, and the video's packets)."""

from __future__ import annotations

import os
import re
import subprocess
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError
from .ffmpeg import ffmpeg_exe, input_args, read_header
from .streams import (
    HDR10_LINE,
    PROGRAM_LINE,
    STREAM_LINE,
    Header,
    PacketTimes,
    clock_restarts,
    packet_times,
    parse_header,
)
from .telemetry import telemetry_subtitles
from .unkept import a53_captions

HDR_TRC = {"smpte2084", "arib-std-b67"}

# The largest frames taken: 35,651,584 pixels (8192x4352), the largest picture of H.264 and
# HEVC level 6.2, the top levels (8K UHD 7680x4320 and DCI 8K 8192x4320 fit), and at most
# 16384 pixels a side. Beyond that no player plays the output, and a frame alone needs over
# 100 MB as RGB (the pipeline holds a few dozen); a tiny file can claim 16000x16000.
MAX_PIXELS = 8192 * 4352
MAX_SIDE = 16384


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
    field_order: str | None = None  # interlaced: "tt", "bb", "tb", "bt" (ffmpeg's names); None: progressive
    lag: float = 0.0  # seconds ffmpeg's times of the video lack against the file's start (see _from_file_start)
    clock_restarts: bool = False  # MPEG-TS joined end to end: its audio's clock restarts (streams.clock_restarts)
    light: tuple[str, ...] = ()  # HDR10's mastering display and content light lines (streams.hdr10_light)
    captions: bool = False  # CEA-608/708 closed captions inside the video stream (unkept.a53_captions)
    hdr10_plus: bool = False  # HDR10+'s dynamic metadata, on the first frame
    projection: str | None = None  # a 360-degree video's projection (Stream.spherical)
    stereo: str | None = None  # a stereo 3D video's layout (Stream.stereo)
    telemetry: tuple[int, ...] = ()  # subtitle streams that are a GPS log (telemetry.telemetry_subtitles)

    @property
    def fps_float(self) -> float:
        return float(self.fps)

    @property
    def deep(self) -> bool:
        """More than 8 bits per sample: decoded to 16-bit RGB, written at 10 bits."""
        return bit_depth(self.pix_fmt) > 8

    @property
    def hdr(self) -> bool:
        return self.color_trc in HDR_TRC

    @property
    def upright_field_order(self) -> str | None:
        """The field order of the frames as displayed: turned 180 degrees, the bottom field is
        on top; turned 90 or 270, the fields are columns, and the frames are progressive."""
        if self.field_order is None or self.rotation in (90, 270):
            return None
        if self.rotation == 180:
            return {"tt": "bb", "bb": "tt", "tb": "bt", "bt": "tb"}[self.field_order]
        return self.field_order

    @property
    def file_start(self) -> float:
        return self.header.start if self.header is not None else 0.0

    @property
    def video_map(self) -> str:
        """ffmpeg's ``-map`` of the video stream anonymized (:attr:`Header.video`)."""
        video = self.header.video if self.header is not None else None
        return "0:v:0" if video is None else f"0:{video.index}"


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
    if fps < 1:  # 0.25 -> 1/4: the period, not the rate, in small numbers (never rounded to 0)
        return 1 / Fraction(1 / fps).limit_denominator(1000)
    return Fraction(fps).limit_denominator(1000)


def check_frame_size(path: Path, width: int, height: int) -> None:
    """Refuse frames beyond :data:`MAX_PIXELS` or :data:`MAX_SIDE` (before any is decoded)."""
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise InputError(f"input {path} has {width}x{height} frames ({width * height / 1e6:.0f} megapixels): the most "
                         f"vidanon takes is {MAX_PIXELS / 1e6:.1f} megapixels (8192x4352, 8K) and {MAX_SIDE} "
                         "pixels a side")  # fmt: skip


# The demuxers of raw elementary streams (.h264, .hevc, .m2v, ...): ffmpeg prints their rate
# as 25 fps, its default, whatever the stream's timing says; their packets' spacing is the rate
# ffmpeg decodes and remuxes them at.
RAW_STREAMS = {"h264", "hevc", "vvc", "mpegvideo", "m4v", "cavsvideo", "avs2", "avs3", "vc1", "h261", "h263",
               "dirac", "obu"}  # fmt: skip


def _frame_rate(path: Path, printed, packets: PacketTimes | None, raw: bool = False) -> Fraction:
    """The frame rate: from ffmpeg's printed one (29.97 -> 30000/1001); below 1 fps, where
    the printed one has too few digits (1/3600 fps prints as 0.0003), or for a raw stream
    (``raw``, :data:`RAW_STREAMS`), the packets' spacing."""
    exact = _packet_rate(packets)
    try:
        fps = rational_fps(float(printed or 0.0))
    except (TypeError, ValueError):
        fps = None
    if exact is not None and (fps is None or fps < 1 or raw):
        return exact
    if fps is None:
        raise InputError(f"input {path} has no usable frame rate")
    return fps


def _packet_rate(packets: PacketTimes | None) -> Fraction | None:
    """1 / the typical gap between frames, exactly (in the packets' time base)."""
    if packets is None or packets.count < 2:
        return None
    ticks = sorted(round(t / packets.time_base) for t in np.diff(np.asarray(packets.times, np.float64)))
    gap = ticks[len(ticks) // 2]
    return 1 / (gap * packets.time_base) if gap > 0 else None


def check_input(path: str | os.PathLike) -> Path:
    from .paths import check_name

    check_name(path, InputError, "input")
    path = Path(path)
    if not path.exists():
        raise InputError(f"input {path} does not exist")
    if path.is_dir():
        raise InputError(f"input {path} is a directory, not a video file")
    if not path.is_file():  # a FIFO, a socket, a device: ffmpeg's frame count and seeks need a file
        raise InputError(f"input {path} is not a regular file (a pipe or a device); save the video to a file first")
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
    _refuse_playlist(path)
    try:
        header = read_header(path)
        _refuse_still_image(path, header)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # a raw stream (.h264, .hevc, a .y4m being written) has no duration: the packets tell
            parsed = parse_header(header)
            counted = {}  # which is the video: their frames counted (30 ms each); one that fails, unknown
            if len(parsed.videos) > 1:
                counted = {s.index: packet_times(ffmpeg_exe(), path, stream=s.index) for s in parsed.videos}
                parsed.frames = {i: p.count for i, p in counted.items() if p is not None}
            infos = FFmpegInfosParser(_for_moviepy(header, parsed), str(path),
                                      check_duration="Duration: N/A" not in header).parse()  # fmt: skip
    except InputError:
        raise
    except Exception as exc:
        detail = (header if "header" in locals() else str(exc)).strip().splitlines()
        last = [line for line in detail if line.strip()][-1:] or ["unknown error"]
        raise InputError(f"input {path} is not a readable video ({last[0].strip()[:160]})") from None
    if not infos.get("video_found") or not infos.get("video_size") or parsed.video is None:
        what = "an audio-only file" if infos.get("audio_found") else "not a video"
        raise InputError(f"input {path} has no video stream ({what})")
    video = parsed.video
    width, height = (int(v) for v in infos["video_size"])
    hdr10 = video.color_trc == "smpte2084"  # (its first frame may hold HDR10+'s dynamic metadata)
    first = _first_frame(path, video.index) if video.cropped or hdr10 or _light_in_frames(video) else ""
    if video.cropped:  # decoded at the crop's size (rounded to whole chroma samples), which the header does not say
        width, height = _decoded_size(first) or (width, height)
    rotation = video.rotation
    sar = video.sar
    if rotation in (90, 270):
        width, height = height, width
        sar = 1 / sar if sar else sar
    if width < 2 or height < 2:
        raise InputError(f"input {path} is {width}x{height}: frames must be at least 2x2 pixels")
    check_frame_size(path, width, height)
    listed = counted.get(video.index) or packet_times(ffmpeg_exe(), path, stream=video.index)
    packets, lag = _from_file_start(listed, video.start, parsed.start,
                                    _counts_from_video(header))  # fmt: skip
    demuxer = re.search(r"^Input #0, ([\w,]+), from", header, re.M)
    fps = _frame_rate(path, infos.get("video_fps"), packets, raw=bool(demuxer) and demuxer.group(1) in RAW_STREAMS)
    duration = float(infos.get("video_duration") or infos.get("duration") or 0.0)
    if not duration and packets is not None and packets.count:
        duration = packets.times[-1] - packets.times[0] + float(1 / fps)
    if packets is not None and packets.count:
        n_frames = packets.count
        variable = _uneven(packets)
    else:
        n_frames = int(infos.get("video_n_frames") or round(duration * float(fps)))
        variable = _variable_rate(video.line)
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
        field_order=video.field_order,
        lag=lag,
        clock_restarts=bool(audio) and _counts_from_video(header) and clock_restarts(ffmpeg_exe(), path),
        # (a PQ video's, or any deep one's: an HEVC may carry HDR10's SEI without its colour tags)
        light=tuple(video.light) or _frame_light(first),
        captions=a53_captions(path, video.codec, video.line),
        hdr10_plus="(HDR10+)" in first,
        projection=video.spherical,
        stereo=video.stereo,
        telemetry=telemetry_subtitles(path, parsed.of_kind("subtitle")),
    )


def _counts_from_video(header: str) -> bool:
    """The input is MPEG-TS or MPEG-PS, where ffmpeg counts the video's times from its own first packet."""
    found = re.search(r"^Input #0, ([\w,]+), from", header, re.M)
    return bool(found) and bool({"mpegts", "mpeg"} & set(found.group(1).split(",")))


def _from_file_start(packets: PacketTimes | None, video_start: float | None,
                     file_start: float, from_video: bool = True) -> tuple[PacketTimes | None, float]:  # fmt: skip
    """The packets' times counted from the file's start, and what was added to them. ffmpeg
    counts a video's times from the file's start, except in MPEG-TS and MPEG-PS, where it
    counts them from the video's own first packet: a video starting 0.5 s after its audio
    came out 0.5 s early. The header's start of the video stream puts that back. (Reading the
    file's own times instead, -copyts, loses ffmpeg's repair of a stream whose clock restarts:
    two .ts files joined end to end.) Elsewhere (``from_video`` false) the times are the
    file's already: a Matroska file cut by copying starts with a leading picture that cannot
    be decoded, before the video's start, and every frame came out one frame late."""
    if packets is None or not packets.count or video_start is None or not from_video:
        return packets, 0.0
    # the video's first packet, which the header's start is: before its first key frame where
    # the file starts mid-way through a group of pictures (a capture, a cut download), else the
    # video came out early by the pictures that cannot be decoded (1.8 s)
    lag = (video_start - file_start) - (packets.first if packets.first is not None else packets.times[0])
    if abs(lag) < 1e-4:  # the header's six decimals
        return packets, 0.0
    end = packets.end + lag if packets.end is not None else None
    first = packets.first + lag if packets.first is not None else None
    return PacketTimes(tuple(t + lag for t in packets.times), packets.time_base, end, first), lag


def _light_in_frames(video) -> bool:
    """HDR10's static metadata may be in the frames only: a PQ video's, or any deep one's (an
    HEVC may carry HDR10's SEI without its colour tags), not in the container."""
    return not video.light and (video.color_trc == "smpte2084" or bit_depth(video.pix_fmt) > 8)


def _first_frame(path: Path, stream: int) -> str:
    """ffmpeg's showinfo of the video's first decoded frame (as stored, not turned upright)."""
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-noautorotate", *input_args(path), "-map", f"0:{stream}",
           "-frames:v", "1", "-vf", "showinfo", "-f", "null", "-"]  # fmt: skip
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace", timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stderr


def _decoded_size(showinfo: str) -> tuple[int, int] | None:
    """The first frame's size as ffmpeg decodes it: with the container's crop (MP4's clap box,
    Matroska's PixelCrop) applied, which the header's size is not."""
    found = re.search(r"\bn: *0 .*? s:(\d+)x(\d+)", showinfo)
    return (int(found.group(1)), int(found.group(2))) if found else None


def _frame_light(showinfo: str) -> tuple[str, ...]:
    """HDR10's static metadata of a video that holds it in its frames only (an HEVC's SEI,
    not the container): its first frame's side data, as ffmpeg's showinfo prints it."""
    first: dict[str, str] = {}  # the first frame's line of each kind (showinfo may print two frames)
    for line in showinfo.splitlines():
        found = HDR10_LINE.search(line)
        if found and "side data - " in line:
            first.setdefault(found.group(2).lower(), found.group(1))
    return tuple(first.values())


def _for_moviepy(header: str, parsed: Header) -> str:
    """ffmpeg's header without its "Stream group" lines (a MOV/MP4's timecode track, ffmpeg
    7.1 and later: "Stream group #0:0[0x2]: Track Reference:"), which moviepy's parser takes
    for a stream it cannot read (the streams listed under it stay), without an MPEG-TS's
    "Program" lines and their metadata and its streams listed twice, and without the video
    streams other than the one anonymized (:attr:`Header.video`), cover pictures too, each
    with its indented lines: moviepy reads the first video stream it meets (or the first
    marked default)."""
    main = parsed.video
    others = {s.index for s in parsed.of_kind("video") if s is not main}
    lines, skip_below, seen = [], None, set()
    for line in header.splitlines():
        indent = len(line) - len(line.lstrip())
        if skip_below is not None and indent > skip_below:
            continue
        skip_below = None
        found = STREAM_LINE.match(line)
        # the other video streams, a stream listed again under another program of an MPEG-TS,
        # and the programs' own lines (moviepy takes their metadata for a stream's and fails)
        if (found and (int(found.group(1)) in others or int(found.group(1)) in seen)) or PROGRAM_LINE.match(line):
            skip_below = indent
            continue
        if found:
            seen.add(int(found.group(1)))
        if not line.lstrip().startswith("Stream group"):
            lines.append(line)
    return "\n".join(lines)


def _uneven(packets: PacketTimes) -> bool:
    """True when the frames are not evenly spaced (beyond the time base's rounding)."""
    times = np.asarray(packets.times, np.float64)
    if len(times) < 3:
        return False
    gaps = np.diff(times)
    typical = float(np.median(gaps))
    tolerance = max(1.5 * float(packets.time_base), 0.02 * typical)
    return bool(np.any(np.abs(gaps - typical) > tolerance))


def _refuse_playlist(path: Path) -> None:
    """Playlists and file lists name other files (anything readable, ``/etc/passwd`` too):
    refused by name here; ffmpeg is also never allowed their demuxers (:func:`input_args`).
    A HEIF photo is refused here too (without pillow_heif, or not named as one)."""
    with open(path, "rb") as f:
        raw = f.read(4096)
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    kind = ("an HLS playlist" if head.startswith(b"#EXTM3U") else "an ffconcat file list" if head.startswith(b"ffconcat")
            else "a DASH manifest" if b"<MPD" in head else None)  # fmt: skip
    if kind:
        raise InputError(f"input {path} is {kind}, which names other files; vidanon reads one video file "
                         "(join the parts with ffmpeg first)")  # fmt: skip
    brand = raw[8:12] if raw[4:8] == b"ftyp" else None  # ffmpeg would read a photo as a 1-frame video
    if brand in HEIF_BRANDS:
        raise InputError(f"input {path} is a HEIC photo, read as a photo only with pillow_heif installed "
                         "(pip install pillow-heif) and named .heic or .heif")  # fmt: skip
    if brand == b"avif":
        from ..photo_io import photos_read

        raise InputError(f"input {path} is an AVIF photo; {photos_read()}: convert it first")


# The ISO base media brands of still HEIF images (not image sequences).
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"mif1")


def _refuse_still_image(path: Path, header: str) -> None:
    demuxer = re.search(r"Input #0, (.+?), from ", header)
    if demuxer and (demuxer.group(1).endswith("_pipe") or demuxer.group(1) == "image2"):
        kind = demuxer.group(1).replace("_pipe", "").replace("image2", "image")
        from ..photo_io import photos_read

        raise InputError(f"input {path} is a still image ({kind}), not a video; {photos_read()}: convert it first")


_RATES = re.compile(r"(\d+(?:\.\d+)?) fps, (\d+(?:\.\d+)?)(k?) tbr")


def _variable_rate(line: str) -> bool:
    """True when ffmpeg reports an average rate ("fps") unlike the base rate ("tbr") on the
    video stream's ``line``."""
    match = _RATES.search(line)
    if not match:
        return False
    avg = float(match.group(1))
    base = float(match.group(2)) * (1000 if match.group(3) else 1)
    return avg > 0 and abs(base - avg) / avg > 0.01
