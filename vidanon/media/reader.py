"""Frames in, from a file: :class:`FrameReader` decodes the first video stream through the
bundled ffmpeg with ``-fps_mode passthrough``, so every decoded frame comes out exactly
once, rotated upright when the file carries rotation metadata, each with its own
presentation time (ffmpeg writes them, one line a frame, to a second pipe). 8-bit video
comes out as RGB24 twice: as swscale converts it by default (what the detector's rules
were measured on) and exactly rounded, to be written; deeper video (10-bit HDR) as RGB48,
with an 8-bit copy for the detector and the effects (:class:`Frame`). Memory stays
constant whatever the length."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from fractions import Fraction
from typing import Iterator

import numpy as np

from ..errors import EncodeError, InputError
from .ffmpeg import (
    StderrTail,
    failure_message,
    ffmpeg_command,
    ffmpeg_exe,
    input_args,
    pipe_for_child,
    thread_args,
)
from .plan import ZIMG_MATRICES, zimg_reading
from .probe import VideoInfo
from .streams import NO_PTS


class Frame(np.ndarray):
    """An ``(H, W, 3)`` uint8 RGB frame (what the detector works on) with its presentation
    time in seconds (``pts``, a Fraction, or None) and either, for inputs of more than 8
    bits, the decoded 16-bit RGB frame (``deep``) or, for 8-bit ones, the same frame
    converted with exact rounding (``exact``: swscale's default conversion, which the
    frame itself is, comes out about one luma level darker). Arrays derived from it
    (views, copies, results of the effects) carry none of them."""

    pts: Fraction | None = None
    deep: np.ndarray | None = None
    exact: np.ndarray | None = None

    def __array_finalize__(self, obj) -> None:
        self.pts = None
        self.deep = None
        self.exact = None

    @property
    def picture(self) -> np.ndarray:
        """What the effects are drawn on and written: the exactly rounded 8-bit frame when
        there is one, else the frame itself (a deep frame's 16-bit samples are restored
        by the writer)."""
        return self.exact if self.exact is not None else self


def to_8bit(deep: np.ndarray) -> np.ndarray:
    """16-bit samples to 8-bit, rounded: round(x / 257) (ffmpeg scales 8 to 16 bits by 257),
    computed in integers (about twice as fast as a 65536-entry table on a 4K frame)."""
    return ((deep.astype(np.uint32) * 255 + 32895) >> 16).astype(np.uint8)


# swscale's flags for a YUV to RGB conversion that the writer's conversion back undoes: each
# pixel converted at full resolution and rounded, its chroma sample repeated (not filtered).
# Without them the round trip comes out a mean 1.0-1.5 luma levels darker; with them the luma
# comes back within 0.02 of a level on average (real clips, pixels in the RGB gamut) and the
# chroma closer than before.
EXACT_FLAGS = "neighbor+accurate_rnd+full_chroma_int"


def chroma_layout(pix_fmt: str | None) -> tuple[str, int, int] | None:
    """A planar or semi-planar YUV format's planar twin and how many pixels across and down
    share a chroma sample (``nv12``: ``("yuv420p", 2, 2)``, ``yuvj422p``: ``("yuvj422p", 2,
    1)``); None for any other (RGB, packed, 4:4:4)."""
    found = re.match(r"yuva?(j?)4(\d)(\d)p", pix_fmt or "")
    j, kind = (found.group(1), found.group(2) + found.group(3)) if found else ("", _SEMI_PLANAR.get(pix_fmt or ""))
    steps = {"20": (2, 2), "22": (2, 1), "11": (4, 1), "40": (1, 2), "10": (4, 4)}.get(kind or "")
    return (f"yuv{j}4{kind}p", *steps) if steps else None


_SEMI_PLANAR = {"nv12": "20", "nv21": "20", "nv16": "22", "nv61": "22"}


def odd_exact(width: int, height: int, layout: tuple[str, int, int]) -> str:
    """The exact conversion's filters (``[e]`` in, ``[e1]`` out) for a frame whose size is not a
    whole number of chroma samples (321x241 in 4:2:0): swscale scales its 161 chroma samples
    to 321 pixels, not each to 2, which moved colours across the frame (at a colour's edge by
    up to 255 levels). Each chroma plane (``layout``: :func:`chroma_layout`) is repeated exactly
    instead, cut to the frame's size, and the 4:4:4 frame converted as the exact conversion converts."""
    planar, sx, sy = layout
    # (each plane's pixel aspect set alike, as mergeplanes asks: the pipe's frames carry none)
    up = f"scale=iw*{sx}:ih*{sy}:flags=neighbor,crop={width}:{height}:0:0,setsar=1"
    return (f"[e]scale={width}:{height}:flags=accurate_rnd,format={planar},extractplanes=y+u+v[ey][eu][ev];"
            f"[ey]setsar=1[ey1];[eu]{up}[eu1];[ev]{up}[ev1];[ey1][eu1][ev1]mergeplanes=0x001020:yuv444p,"
            f"scale=flags={EXACT_FLAGS},format=rgb24[e1];")


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
        self._stats = frame_stats_supported()
        self._file_start = Fraction(info.file_start).limit_denominator(1_000_000)
        self._origin = Fraction(info.file_start + info.lag).limit_denominator(1_000_000)  # of ffmpeg's times
        stats_r, stats_w = pipe_for_child()
        stats = ["-stats_enc_pre", f"pipe:{stats_w}", "-stats_enc_pre_fmt", "{ptsi} {tbi} {pts} {tb}"] if self._stats else []
        cmd = ffmpeg_command(overwrite=False) + [*thread_args(), *input_args(info.path), *self._outputs(stats)]
        self._frame_bytes = info.width * info.height * 6  # 16-bit RGB, or two 8-bit conversions
        try:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                bufsize=max(self._frame_bytes, 1 << 16), pass_fds=(stats_w,),
            )  # fmt: skip
        finally:
            os.close(stats_w)
        self._times = os.fdopen(stats_r, "rb")
        self._stderr = StderrTail(self._proc.stderr, ignore=_PIPE_MUXER)
        self.decode_warning: str | None = None

    def _outputs(self, stats: list[str]) -> list[str]:
        """ffmpeg's arguments from the video stream to the frames' pipe (and, with ``stats``,
        each frame's time to the times' pipe)."""
        info = self.info
        pick = [f"select=gte(n\\,{int(self.skip)})"] if self.skip else []
        interlaced = info.upright_field_order is not None  # its chroma is upsampled field by field
        frames = ["-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt"]
        w, h = info.width, info.height
        # A frame of another size than the first (a stream whose size or orientation changes
        # midway) is fitted into the first's, its shape kept, the rest black: stretched to it,
        # a portrait part of a landscape video had its faces squeezed, and none was found.
        fit = f"{w}:{h}:force_original_aspect_ratio=decrease"
        pad = f"pad={w}:{h}:-1:-1"
        zimg = info.color_space in ZIMG_MATRICES  # converted to RGB by zimg first (see ZIMG_MATRICES)
        if zimg:
            reading = zimg_reading(info.color_space, info.color_primaries, info.color_trc)
            pick = pick + [f"zscale={reading}:dither=none,format={'gbrp16le' if self.deep else 'gbrp'}"]
        if self.deep:
            chain = ",".join(pick + [f"scale={fit}{':interl=1' if interlaced else ''}", pad])
            return ["-map", info.video_map, "-an", "-sn", "-dn", *(["-vf", chain] if chain else []), *stats,
                    *frames, "rgb48le", "pipe:1"]  # fmt: skip
        # 8-bit: two conversions stacked, the detector's above and the exact one below, each by
        # its own scale filter (a bare format=rgb24 would let ffmpeg convert once, before the
        # split, when a rotation is applied). Stacking makes a new frame, which the statistics
        # know no decoded time of: the times are those of a third copy, sent to an output that
        # writes nothing.
        # Both at the first frame's size (a stream whose size changes midway): the detector's
        # resized and converted in one step, as the pipe's own scaler did; the exact one
        # resized in YUV first (a no-op at the same size), as the exact conversion repeats pixels.
        size = f"{fit}{':interl=1' if interlaced else ''}"
        layout = chroma_layout(info.pix_fmt)
        # (an interlaced or turned frame of such a size keeps swscale's conversion: its planes are
        # turned, or its chroma taken field by field, before the 4:4:4 step)
        if layout and not zimg and not interlaced and not info.rotation and (w % layout[1] or h % layout[2]):
            exact = odd_exact(w, h, layout)
        else:
            exact = (f"[e]scale={size}:flags=accurate_rnd,"
                     f"scale={'interl=1:' if interlaced else ''}flags={EXACT_FLAGS},format=rgb24,{pad}[e1];")  # fmt: skip
        graph = (f"[{info.video_map}]{','.join(pick + [f'split={3 if stats else 2}'])}[d][e]{'[t]' if stats else ''};"
                 f"[d]scale={size},format=rgb24,{pad}[d1];{exact}[d1][e1]vstack[v]")  # fmt: skip
        args = ["-filter_complex", graph, "-map", "[v]", *frames, "rgb24", "pipe:1"]
        if stats:
            args += ["-map", "[t]", "-fps_mode", "passthrough", *stats, "-c:v", "wrapped_avframe", "-f", "null", "-"]
        return args

    def _next_time(self) -> Fraction | None:
        """The time of the frame just read (its line is written by the time the frame is, or soon after)."""
        if not self._stats:  # an ffmpeg before 6.1: the packets' times, in order
            packets = self.info.packets
            n = self.skip + self.frames_read
            if packets is not None and n < packets.count:
                return Fraction(packets.times[n]).limit_denominator(1_000_000) + self._file_start
            return None
        line = self._times.readline().decode("ascii", errors="replace").split()
        try:
            # ffmpeg's output times start at the input file's start (0.033 s for many .mkv,
            # 1.4 s for MPEG-TS; a TS video at its own first frame, info.lag): added back,
            # they are the file's own, as the packets' are
            pts, tb = (int(line[0]), line[1]) if int(line[0]) != NO_PTS else (int(line[2]), line[3])
            # a frame without a time of its own (a raw stream's, .h264; an AVI's B-frames, the first
            # one too, put at 0 instead of 0.04): ffmpeg's estimate, which it writes; else None,
            # the next slot at the frame rate
            return Fraction(pts) * Fraction(tb) + self._origin if pts != NO_PTS else None
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
                pts = (last + fallback) if last is not None else self._origin
            last = pts
            if self.deep:
                deep = np.frombuffer(buf, "<u2").reshape(h, w, 3)
                frame = to_8bit(deep).view(Frame)
                frame.deep = deep
            else:
                both = np.frombuffer(buf, np.uint8).reshape(2 * h, w, 3)
                frame = both[:h].view(Frame)
                frame.exact = both[h:]
            frame.pts = pts
            self.frames_read += 1
            yield frame
        if self.limit is not None and self.frames_read == self.limit:
            self.close()  # the rest of the stream is not needed
            return
        code = self._proc.wait()
        self._stderr.join()
        if code < 0:  # killed (the out-of-memory killer, a crash): the rest of the video was never read
            raise EncodeError(failure_message(str(self.info.path), "", code, "decoding", self._stderr.summary()))
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


# The frames' pipe's own muxer (and the times' output's), not the input: two frames of a
# variable-rate video that fall on one tick of the pipe's time base (1/fps; a Matroska file's
# times are whole milliseconds) make it print an error, though every frame goes through at
# its own time.
_PIPE_MUXER = re.compile(r"^\[(?:rawvideo|null)(?: @ [^\]]*)?\] Application provided invalid, non monotonically increasing dts")


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
