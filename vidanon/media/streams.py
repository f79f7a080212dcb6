"""What a media file holds beyond its frames: streams, colour, aspect, timing, metadata.

Everything here is read from ffmpeg itself (the bundled binary; there is no ffprobe):

* :func:`parse_header` reads the text ``ffmpeg -i`` prints: every stream with its kind,
  codec, language, disposition, start time and metadata; for the video its pixel
  format, colour range / matrix / primaries / transfer, sample aspect ratio and rotation;
  the file's global metadata and chapters.
* :func:`packet_times` lists the video stream's packets without decoding them
  (``-c copy -f framecrc``): their count is the frame count (packets an edit list
  discards are left out) and their sorted presentation times are the frames' times.
* :func:`split_metadata` applies the metadata policy: tags that identify a place, a
  device or a person's device are removed by default, the rest kept.
"""

from __future__ import annotations

import bisect
import re
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from .ffmpeg import input_args


@dataclass
class Stream:
    index: int  # in the file
    kind: str  # video, audio, subtitle, attachment, data
    codec: str | None
    line: str
    language: str | None = None
    disposition: tuple[str, ...] = ()
    start: float | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    # video only
    pix_fmt: str | None = None
    color_range: str | None = None  # "tv" or "pc"
    color_space: str | None = None  # the matrix, e.g. bt709, bt2020nc
    color_primaries: str | None = None
    color_trc: str | None = None
    sar: Fraction | None = None
    rotation: int = 0
    attached_pic: bool = False
    size: tuple[int, int] | None = None  # width, height as the header gives them (before rotation)
    cropped: bool = False  # the container crops the picture (MP4's clap, Matroska's PixelCrop): decoded smaller
    spherical: str | None = None  # a 360-degree video's projection ("equirectangular"), from its side data
    stereo: str | None = None  # a stereo 3D video's layout ("top and bottom"); None: none or 2D
    light: list[str] = field(default_factory=list)  # HDR10's side data lines: mastering display, content light
    field_order: str | None = None  # interlaced: "tt", "bb", "tb" or "bt" (ffmpeg's names); None: progressive
    programs: tuple[int, ...] = ()  # the MPEG-TS programmes (broadcast channels, from 1) it is listed under


# How ffmpeg prints a video's field order, and its short names.
_FIELD_ORDERS = {"top first": "tt", "bottom first": "bb", "top coded first (swapped)": "tb",
                 "bottom coded first (swapped)": "bt", "tt": "tt", "bb": "bb", "tb": "tb", "bt": "bt"}  # fmt: skip


@dataclass
class Header:
    streams: list[Stream]
    metadata: dict[str, str]
    chapters: int
    start: float  # the file's start time (the earliest stream's)
    frames: dict[int, int] = field(default_factory=dict)  # packets of each video stream, where counted

    def of_kind(self, kind: str) -> list[Stream]:
        return [s for s in self.streams if s.kind == kind]

    @property
    def videos(self) -> list[Stream]:
        """The video streams that may be the video: not cover pictures."""
        return [s for s in self.of_kind("video") if not s.attached_pic]

    @property
    def video(self) -> Stream | None:
        """The video stream anonymized: of the streams with more than one frame (where
        :attr:`frames` counts them: a still picture stored as a video track is none), the
        largest picture, then the longest, then the first. A file may hold a small preview or
        a second angle beside the main video, before it."""
        def rank(s: Stream) -> tuple:
            n = self.frames.get(s.index, 2)
            return n > 1, s.size[0] * s.size[1] if s.size else 0, n

        return max(self.videos, key=rank, default=None)


# the side data line of a rotated video: "displaymatrix: rotation of -90.00 degrees" (ffmpeg
# up to 6), "Display Matrix: rotation of 90.00 degrees" (7 and later)
_DISPLAY_MATRIX = re.compile(r"display ?matrix", re.IGNORECASE)
# HDR10's static metadata as ffmpeg prints it, in a stream's "Side data:" or showinfo's "side data - "
HDR10_LINE = re.compile(r"(?:side data - )?((mastering display|content light level).*)", re.IGNORECASE)
# Text subtitle codecs (the others are pictures: DVD, Blu-ray, DVB).
TEXT_SUBS = {"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text"}
PROGRAM_LINE = re.compile(r"^\s*Program \d+")
STREAM_LINE = re.compile(r"^\s*Stream #0:(\d+)(?:\[[^\]]*\])?(?:\(([^)]*)\))?: (\w+): (.*)$")
_UNKNOWN = {"unknown", "unspecified", "reserved", ""}
_KINDS = {"Video": "video", "Audio": "audio", "Subtitle": "subtitle", "Attachment": "attachment", "Data": "data"}
_DISPOSITIONS = ("default", "forced", "hearing impaired", "visual impaired", "comment", "original", "dub",
                 "attached pic", "captions", "descriptions", "metadata", "dependent", "still image")


def parse_header(text: str) -> Header:
    """The streams, metadata and chapters of input #0 in ``ffmpeg -i``'s text."""
    streams: list[Stream] = []
    metadata: dict[str, str] = {}
    chapters = 0
    start = 0.0
    target: dict[str, str] | None = None  # where "key : value" lines go
    indent_of_target = -1
    last_key = None
    context = "global"  # what a "Metadata:" line belongs to: global, chapter, stream or program
    programs = program = 0  # programs seen; the one whose streams are listed (0: none)
    in_input = False
    for raw in text.splitlines():
        if raw.startswith(("Input #", "Output #", "Stream mapping")):
            in_input = raw.startswith("Input #0")
            target = None
            continue
        if not in_input:
            continue
        indent = len(raw) - len(raw.lstrip())
        line = raw.strip()
        m = STREAM_LINE.match(raw)
        if m:
            again = next((s for s in streams if s.index == int(m.group(1))), None)
            if again is not None:  # listed again under another program
                again.programs += (program,) if program else ()
                context, target, last_key = "program", None, None
                continue
            streams.append(_stream(int(m.group(1)), m.group(2), m.group(3), m.group(4)))
            streams[-1].programs = (program,) if program else ()
            context, target, last_key = "stream", None, None
            continue
        if PROGRAM_LINE.match(raw):  # an MPEG-TS program (a broadcast channel): its streams follow
            programs += 1  # the first one's metadata (service name, provider) taken as the file's, as before
            program = programs
            context, target = "global" if programs == 1 else "program", None
            continue
        if line == "No Program":  # the streams of none follow
            program = 0
            continue
        if line.startswith("Duration:"):
            found = re.search(r"start: (-?\d+(?:\.\d+)?)", line)
            start = float(found.group(1)) if found else 0.0
            context, target = "global", None
            continue
        if line.startswith("Chapter"):
            if line.startswith("Chapter #"):
                chapters += 1
            context, target = "chapter", None
            continue
        if line == "Metadata:":
            target = {"global": metadata, "chapter": {}, "program": {},
                      "stream": streams[-1].metadata if streams else {}}[context]  # fmt: skip
            indent_of_target = indent
            last_key = None
            continue
        if line == "Side data:":
            target = None
            continue
        if streams and context == "stream" and HDR10_LINE.match(line):
            streams[-1].light.append(line)
            continue
        if streams and context == "stream" and line.startswith("Frame Cropping:"):
            streams[-1].cropped = True
            continue
        if streams and context == "stream" and line.startswith(("Spherical Mapping:", "Stereo 3D:")):
            kind, _, value = line.partition(": ")
            if kind == "Spherical Mapping":
                streams[-1].spherical = value.strip() or "unknown"
            elif value.split(",")[0] != "2D":
                streams[-1].stereo = value.split(",")[0].strip()
            continue
        if streams and context == "stream" and _DISPLAY_MATRIX.search(line):
            rot = re.search(r"rotation of (-?\d+(?:\.\d+)?)", line)
            if rot:
                streams[-1].rotation = int(round(float(rot.group(1)))) % 360
            continue
        if target is not None and indent > indent_of_target and ":" in line:
            key, _, value = raw.partition(":")
            key = key.strip()
            if key == "" and last_key is not None:  # a continued multi-line value
                target[last_key] += "\n" + value.strip()
            elif key:
                target[key] = value.strip()
                last_key = key
            continue
        target = None if indent <= indent_of_target else target
    for stream in streams:  # older ffmpeg: a "rotate" tag, with or without the matrix
        if not stream.rotation and re.fullmatch(r"-?\d+(?:\.\d+)?", stream.metadata.get("rotate", "")):
            stream.rotation = int(round(float(stream.metadata["rotate"]))) % 360
    return Header(streams, metadata, chapters, start)


def _stream(index: int, language: str | None, kind: str, rest: str) -> Stream:
    kind = _KINDS.get(kind, kind.lower())
    codec = rest.split(",")[0].split(" ")[0].strip() or None
    disposition = tuple(d for d in _DISPOSITIONS if f"({d})" in rest)
    s = Stream(index=index, kind=kind, codec=codec, line=rest, language=language if language not in _UNKNOWN else None,
               disposition=disposition)  # fmt: skip
    found = re.search(r"start (-?\d+(?:\.\d+)?)", rest)
    s.start = float(found.group(1)) if found else None
    if kind == "video":
        s.attached_pic = "attached pic" in disposition
        _video_details(s, rest)
    return s


def _video_details(s: Stream, rest: str) -> None:
    # "h264 (High 10) (avc1 / 0x..), yuv420p10le(tv, bt2020nc/bt2020/smpte2084, progressive), 64x48 [SAR 1:1 DAR 4:3], ..."
    parts = _top_level_split(rest)
    if len(parts) > 1:
        fmt = parts[1].strip()
        m = re.match(r"([a-z0-9_]+)(?:\((.*)\))?", fmt)
        if m:
            s.pix_fmt = m.group(1)
            for item in (m.group(2) or "").split(","):
                item = item.strip()
                if item in ("tv", "pc"):
                    s.color_range = item
                elif item in _FIELD_ORDERS:
                    s.field_order = _FIELD_ORDERS[item]
                elif item and item != "progressive":
                    names = item.split("/")
                    if len(names) == 3:
                        space, prim, trc = names
                    else:
                        space = prim = trc = names[0]
                    s.color_space = None if space in _UNKNOWN else space
                    s.color_primaries = None if prim in _UNKNOWN else prim
                    s.color_trc = None if trc in _UNKNOWN else trc
    size = re.search(r"(?:^|, )(\d+)x(\d+)\b", rest)
    if size:
        s.size = (int(size.group(1)), int(size.group(2)))
    # "[SAR a:b DAR c:d]": the aspect stored in the coded stream; ", SAR a:b DAR c:d" outside
    # brackets: the container's, printed where it differs (Matroska's display size, MP4's pasp
    # box, every anamorphic VP9 WebM), which players show and so does ffmpeg: it wins.
    for sar in (re.search(r"(?<!\[)\bSAR (\d+):(\d+) DAR", rest), re.search(r"\[SAR (\d+):(\d+) DAR", rest)):
        if sar and int(sar.group(1)) > 0 and int(sar.group(2)) > 0:
            s.sar = Fraction(int(sar.group(1)), int(sar.group(2)))
            break


def _top_level_split(text: str) -> list[str]:
    """Split at the commas that are not inside parentheses or brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


# --------------------------------------------------------------------------- packets


NO_PTS = -(1 << 63)  # AV_NOPTS_VALUE, as framecrc prints a packet without a time
# How far a frame's time may lie from its packet's and still be that packet's (the header's six
# decimals, a time base's rounding)
TIME_SLACK = 1e-4


@dataclass(frozen=True)
class PacketTimes:
    """A video stream's packets from its first key frame (those a decoder can decode): count
    and presentation times in seconds, sorted; when the last frame shown ends (its time plus its
    duration; None: the packets give no duration); the time of the stream's very first packet
    (before its first key frame where a file starts mid-way through a group of pictures)."""

    times: tuple[float, ...]
    time_base: Fraction
    end: float | None = None
    first: float | None = None

    @property
    def count(self) -> int:
        return len(self.times)

    def duration_at(self, t: float) -> float | None:
        """How long the frame at ``t`` lasts: up to the next frame's time, the last one to
        :attr:`end`; None where no frame is at ``t`` (a time made up for a frame without one)."""
        times = self.times
        at = bisect.bisect_left(times, t - TIME_SLACK)
        if at == len(times) or times[at] > t + TIME_SLACK:
            return None
        after = bisect.bisect_right(times, t + TIME_SLACK)
        end = times[after] if after < len(times) else self.end
        return end - t if end is not None and end > t else None


def clock_restarts(ffmpeg: str, path: Path, timeout: float = 600) -> bool:
    """Whether the first audio stream's clock restarts (MPEG-TS files joined end to end): with
    the file's own times (-copyts, as the writer copies the audio) ffmpeg then holds the times
    of the packets after the restart at the last one before it, for several packets in a row."""
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "quiet", "-copyts", *input_args(path), "-map", "0:a:0",
           "-c", "copy", "-f", "framecrc", "pipe:1"]  # fmt: skip
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return False
    held, last = 0, None
    for line in done.stdout.decode("ascii", errors="replace").splitlines():
        fields = line.split(",")
        if line.startswith("#") or len(fields) < 5 or not fields[1].strip().lstrip("-").isdigit():
            continue
        dts = int(fields[1])
        held = held + 1 if last is not None and dts <= last else 0
        if held >= 3:
            return True
        last = dts
    return False


def packet_times(ffmpeg: str, path: Path, timeout: float = 600, stream: int | None = None) -> PacketTimes | None:
    """Read every packet of the video stream ``stream`` (its index in the file; None: the
    first video stream) without decoding (about 30 ms for
    1400 packets), at the times ffmpeg gives them (from the file's start; from the video's
    own first packet for MPEG-TS and MPEG-PS: see :func:`vidanon.media.probe.probe`, which
    puts those back); None when ffmpeg cannot list them."""
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", *input_args(path),
           "-map", "0:v:0" if stream is None else f"0:{stream}", "-c", "copy", "-copyinkf", "-f", "framecrc",
           "pipe:1"]  # fmt: skip
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    tb = Fraction(1, 1)
    pts: list[int | None] = []  # None: the packet has no time (a raw stream: .h264, .hevc)
    durations: list[int] = []
    decodable: list[bool] = []  # a key frame is it or came before it (one an edit list hides too)
    seen_key = False
    for line in done.stdout.decode("ascii", errors="replace").splitlines():
        if line.startswith("#tb 0:"):
            tb = Fraction(line.split(":", 1)[1].strip())
            continue
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 5 or fields[0] != "0":
            continue
        flags = 0x1  # framecrc prints the flags of a packet only where they are not just "key frame"
        for extra in fields[6:]:
            if extra.startswith("F=0x"):
                flags = int(extra[4:], 16)
        seen_key = seen_key or bool(flags & 0x1)
        if flags & 0x4:  # AV_PKT_FLAG_DISCARD: an edit list hides it, the decoder drops it
            continue
        try:
            value = int(fields[2])
            pts.append(value if value != NO_PTS else None)
        except ValueError:  # "N/A"
            pts.append(None)
        durations.append(int(fields[3]) if fields[3].lstrip("-").isdigit() else 0)
        decodable.append(seen_key)
    if not pts:
        return None
    filled: list[int] = []  # a packet without a time comes after the one before it, by its duration
    for p, d in zip(pts, durations):
        filled.append(p if p is not None else (filled[-1] + max(d, 1) if filled else 0))
    first = float(filled[0] * tb)  # (the header's start of the stream: its first packet's)
    # (-copyinkf lists the packets before the first key frame, which ffmpeg's copy drops: they
    # give the stream's first time; the decodable ones are those from the key frame on)
    start = decodable.index(True) if True in decodable else 0
    filled, durations = filled[start:], durations[start:]
    last = max(range(len(filled)), key=filled.__getitem__)  # the frame shown last (decode order differs)
    end = float((filled[last] + durations[last]) * tb) if durations[last] > 0 else None
    filled.sort()
    return PacketTimes(tuple(float(p * tb) for p in filled), tb, end, first)


# --------------------------------------------------------------------------- metadata

# Tags that say where a clip was filmed, with which device, or by whose device. Matched
# case-insensitively on the key without its language suffix ("location-eng").
_IDENTIFYING = re.compile(
    r"""^(?:
        location | xyz | gps.* | .*\.gps.* | .*location.* | .*\.iso6709
      | make | model | manufacturer | .*\.make | .*\.model | .*\.manufacturer
      | .*serial.* | .*device.* | .*camera.* | .*firmware.*
      | company_name | product_name | product_version.* | .*uid | .*umid.* | application_platform
      | toolkit_version.*
      | software | .*\.software | encoder | .*\.encoder | encoded_by | com\.android\.version
      | comment | .*\.comment | usercomment | user_comment | .*\.user_?comment
      | com\.apple\.quicktime\.content\.identifier
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
# Written by the muxer or describing the stream's encoding: never copied by hand.
_TECHNICAL = {"major_brand", "minor_version", "compatible_brands", "handler_name", "vendor_id", "duration",
              "number_of_frames", "number_of_bytes", "_statistics_tags", "_statistics_writing_app",
              "_statistics_writing_date_utc", "bps", "encoder_options", "rotate", "language", "filename", "mimetype",
              "service_name", "service_provider"}  # (MPEG-TS's programme names, which its muxer writes)


def is_identifying(key: str) -> bool:
    base = key.split("-", 1)[0] if re.match(r"^[\w.]+-[a-z]{3}$", key, re.IGNORECASE) else key
    return bool(_IDENTIFYING.match(base.strip()))


def is_technical(key: str) -> bool:
    k = key.lower()
    return k in _TECHNICAL or k.startswith("_statistics") or k.startswith("bps-") or k.startswith("duration-")


def split_metadata(tags: dict[str, str], policy: str) -> tuple[dict[str, str], list[str]]:
    """``(kept, removed keys)`` under ``policy``: "private" (default: identifying tags
    removed), "keep" (everything) or "strip" (nothing kept)."""
    kept: dict[str, str] = {}
    removed: list[str] = []
    for key, value in tags.items():
        if is_technical(key) or (key.lower() == "encoder" and value.startswith(("Lavf", "Lavc"))):
            continue  # the muxer writes its own
        if policy == "strip" or (policy == "private" and is_identifying(key)):
            removed.append(key)
        else:
            kept[key] = one_value(key, value)
    return kept, removed


def one_value(key: str, value: str) -> str:
    """A creation time a file holds twice (a MOV's user data and its QuickTime keys, as ffmpeg's
    ``use_metadata_tags`` writes them) comes from ffmpeg joined by ';', which is no date: every
    muxer dropped it. The first is kept; other tags stay as ffmpeg reads them."""
    first, joined, _ = value.partition(";")
    return first if joined and first and key.lower() == "creation_time" else value


def hdr10_light(lines: list[str]) -> tuple[tuple[float, ...] | None, tuple[int, int] | None]:
    """HDR10's static metadata from ffmpeg's side data lines: the mastering display (the
    x, y of its red, green, blue and white point, then its maximum and minimum luminance in
    cd/m2) and the content light levels (MaxCLL, MaxFALL); None for one not given."""
    master = light = None
    for line in lines:
        if re.search(r"mastering display", line, re.IGNORECASE):
            found = re.search(r"r\(([\d.]+),\s*([\d.]+)\) g\(([\d.]+),\s*([\d.]+)\) b\(([\d.]+)[,\s]\s*([\d.]+)\) "
                              r"wp\(([\d.]+),\s*([\d.]+)\) min_luminance=([\d.]+), max_luminance=([\d.]+)", line)
            if found and "has_primaries:1" in line and "has_luminance:1" in line:
                v = [float(x) for x in found.groups()]
                master = (*v[:8], v[9], v[8])
        found = re.search(r"MaxCLL=(\d+), MaxFALL=(\d+)", line)
        if found:
            light = (int(found.group(1)), int(found.group(2)))
    return master, light
