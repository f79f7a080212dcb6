"""Frames out: :class:`VideoWriter` sends the anonymized frames to ffmpeg in a Matroska
stream that carries each frame's time (:mod:`vidanon.media.matroska`). Colour range,
matrix, primaries and transfer, the sample aspect ratio and the bit depth (10-bit in,
10-bit out) are the input's; the other streams follow :mod:`vidanon.media.plan`. The
writer writes the path it is given: :class:`~vidanon.media.sink.FileSink` gives it a
hidden temporary file beside the target, renamed over the target only after ffmpeg has
finished successfully (:class:`~vidanon.media.paths.AtomicOutput`)."""

from __future__ import annotations

import re
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import EncodeError, OutputError, VidanonError
from .encoders import one_params, quality_args
from .ffmpeg import StderrTail, failure_message, ffmpeg_command, file_url, start_times, thread_args
from .gif import GIF_MIN_DELAY, deep_gif_message, first_picture_alpha, gif_facts, gif_loop
from .matroska import NS, mkv_frame_end, mkv_frame_head, mkv_header
from .plan import DEEP_420, ODD_420, SCALE_MATRIX, default_codec, muxer_args, plan_streams, written_matrix
from .probe import VideoInfo, bit_depth
from .streams import hdr10_light
from .unkept import keeps_projection, projection_args, unkept_notes

# swscale's matrix names (plan.SCALE_MATRIX, and its default) in zimg's (the zscale filter)
ZSCALE_MATRIX = {"bt709": "709", "bt2020": "2020_ncl", "smpte170m": "170m", "bt470": "470bg", "fcc": "fcc",
                 "smpte240m": "smpte240m", "bt601": "170m"}  # fmt: skip
RGB_FORMATS = ("rgb", "bgr", "gbr", "argb", "abgr", "0rgb", "0bgr", "x2rgb", "x2bgr", "pal8")


def is_rgb_coded(source: VideoInfo) -> bool:
    """The input's frames are stored as RGB (or a palette), not YUV."""
    return source.color_space == "gbr" or (source.pix_fmt or "").startswith(RGB_FORMATS)


# Pixel formats by their chroma (beyond the planar "yuv444p...", "yuva422p..." names).
_PACKED_CHROMA = {"uyvy422": "4:2:2", "yuyv422": "4:2:2", "yvyu422": "4:2:2", "y210le": "4:2:2", "v210": "4:2:2",
                  "nv16": "4:2:2", "nv20le": "4:2:2", "p210le": "4:2:2", "p216le": "4:2:2", "nv24": "4:4:4",
                  "nv42": "4:4:4", "p410le": "4:4:4", "p416le": "4:4:4", "vuya": "4:4:4", "xv30le": "4:4:4",
                  "xv36le": "4:4:4", "ayuv64le": "4:4:4"}  # fmt: skip
_ALPHA = re.compile(r"^(?:yuva|gbrap|ya\d|vuya|ayuv|rgba|bgra|argb|abgr)")


def _has_alpha(source: VideoInfo) -> bool:
    """Whether the input's frames may have transparent pixels: its pixel format has alpha. ffmpeg
    decodes every GIF to bgra, transparent or not: a GIF has some only if its first frame names a
    transparent colour (in the graphic control extension before it; later frames' transparent
    colour shows the frame before, as encoders use it, ffmpeg's too); an animated WebP or PNG has
    some only if its first picture has (:func:`~vidanon.media.gif.first_picture_alpha`)."""
    if source.header is not None and source.header.video is not None and \
            source.header.video.metadata.get("alpha_mode") == "1":  # a VP9 or VP8 WebM's alpha, decoded as yuv420p
        return True
    if not _ALPHA.match(source.pix_fmt or ""):
        return False
    if source.video_codec in ("webp_anim", "apng"):
        return first_picture_alpha(source.path)
    return source.video_codec != "gif" or gif_facts(source)[0]


def set_sar(sar: Fraction) -> str:
    """ffmpeg's filter that tags the frames with ``sar`` as it is (by default it reduces a ratio
    to terms of 100 at most: NTSC 16:9's 118:81 became 67:46, QCIF's 128:117 93:85)."""
    return f"setsar={sar.numerator}/{sar.denominator}:max={max(sar.numerator, sar.denominator, 100)}"


def format_losses(source: VideoInfo | None, pix_fmt: str, tonemap: bool = False) -> str | None:
    """What of a YUV input's pixel format the output's ``pix_fmt`` does not keep (alpha,
    4:2:2 or 4:4:4 chroma, more than 10 bits), as a note; None when nothing is lost. RGB-coded
    inputs are written as YUV 4:2:0 by design (see :func:`is_rgb_coded`)."""
    src = source.pix_fmt if source is not None else None
    alpha = bool(src) and _has_alpha(source)
    if not src or (is_rgb_coded(source) and not alpha):
        return None
    lost = ["no alpha channel"] if alpha else []
    found = re.match(r"yuva?j?(4)(\d)(\d)p", src)
    chroma = f"{found.group(1)}:{found.group(2)}:{found.group(3)}" if found else _PACKED_CHROMA.get(src)
    # 4:1:1 (NTSC DV) and 4:4:0 hold chroma rows that 4:2:0 halves
    if chroma in ("4:2:2", "4:4:4", "4:1:1", "4:4:0") and pix_fmt.startswith("yuv420"):
        lost.append(f"4:2:0 chroma instead of {chroma}")
    if bit_depth(src) > bit_depth(pix_fmt) and not tonemap:  # tone-mapping to 8 bits has its own note
        lost.append(f"{bit_depth(pix_fmt)}-bit samples instead of {bit_depth(src)}")
    if not lost:
        return None
    told = ", ".join(lost[:-1]) + (" and " if len(lost) > 1 else "") + lost[-1]
    named = src if not alpha or _ALPHA.match(src) else f"{src} with an alpha channel"
    return f"the input is {named}: the output has {told} (what players play)"


# MP4/MOV store a frame's display time as a 32-bit offset from its decoding time, and with
# B-frames (x264's 3, in a pyramid) that offset reaches a few gaps between frames: frames two
# hours apart at 90 kHz overflowed it. The muxer's timescale is not the input's time base
# (1001/30000 becomes about 30000 a second), so B-frames are left out wherever two frames lie
# more than LONG_GAP seconds apart (a time-lapse of hours): 2**31 ticks of a 1 MHz timescale
# are 35 minutes, 8 gaps of LONG_GAP 8 minutes.
LONG_GAP = 60.0


def largest_gap(source: VideoInfo | None) -> float:
    """The longest time, in seconds, between two frames of ``source`` in a row (0: unknown)."""
    times = source.packets.times if source is not None and source.packets is not None else ()
    return float(np.diff(np.asarray(times, np.float64)).max()) if len(times) > 1 else 0.0


def restore_deep(result: np.ndarray, source: np.ndarray, deep: np.ndarray) -> np.ndarray:
    """``deep`` (16-bit samples) with the pixels where the 8-bit ``result`` differs from the
    8-bit ``source`` it was rendered from taken from ``result``, scaled (x257): an effect's
    8-bit pixels, every other pixel its own 16-bit sample. RGB (H, W, 3) or grey (H, W)."""
    ne = np.asarray(result) != np.asarray(source)
    changed = ne[..., 0] | ne[..., 1] | ne[..., 2] if ne.ndim == 3 else ne  # ten times np.any(axis=-1) at 4K
    if not changed.any():
        return deep
    out = np.array(deep, copy=True)
    out[changed] = np.asarray(result)[changed].astype(np.uint16) * 257
    return out


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
        name: str | None = None,
    ) -> None:
        self.path = path
        self.name = name or path.name  # the output as the user named it (``path`` may be a temporary file)
        self.frames_written = 0
        self.fps = Fraction(fps)
        self.notes: list[str] = []  # what the user should know about the output
        source = source if source is not None else audio_from
        codec = codec or default_codec(container, source)
        self.codec = codec
        self.width, self.height = width, height
        self.deep = bool(source is not None and source.deep)
        if self.deep and codec == "gif":  # (refused before the run too: vidanon.pipeline.check_encoding)
            raise OutputError(deep_gif_message(path, source))
        deep_out = self.deep and codec in DEEP_420
        tonemap = self.deep and not deep_out and source is not None and source.hdr
        self.pad = (0, 0)
        chroma = "420"
        from ..options import spell  # the option as the caller spells it

        if width % 2 or height % 2:
            if codec in ODD_420 or codec == "gif":
                pass
            elif odd_size == "444":
                chroma = "444"
                self.notes.append(spell(f"the size {width}x{height} is odd: written as 4:4:4 at that size "
                                        "({odd_size=444}), which many players and browsers do not play"))  # fmt: skip
            else:
                self.pad = (height % 2, width % 2)
                self.notes.append(spell(
                    f"the size {width}x{height} is odd, which {codec} cannot store in 4:2:0: written as "
                    f"{width + self.pad[1]}x{height + self.pad[0]} with the last "
                    f"{'column' if self.pad[1] and not self.pad[0] else 'row' if self.pad[0] and not self.pad[1] else 'row and column'} "
                    "repeated, so that every player can play it ({odd_size=444} keeps the size, as 4:4:4)"
                ))  # fmt: skip
        out_w, out_h = width + self.pad[1], height + self.pad[0]
        pix_fmt = {("420", False): "yuv420p", ("444", False): "yuv444p", ("420", True): "yuv420p10le",
                   ("444", True): "yuv444p10le"}[(chroma, deep_out)]  # fmt: skip
        if codec == "libvpx":
            pix_fmt = "yuv420p"
        elif codec == "gif":
            pix_fmt = "pal8"
        lost = format_losses(source, pix_fmt, tonemap)
        if lost:
            self.notes.append(lost)
        equirect = keeps_projection(source, container)  # a 360-degree video stays one
        self.notes += unkept_notes(source, container) if source is not None else []
        # Timing: frames keep the input's times relative to the file's start, so the
        # video sits where it sat against the audio (a late start stays late).
        shift, first = start_times(source, container)
        self.shift = Fraction(shift).limit_denominator(1_000_000)
        first = Fraction(first).limit_denominator(1_000_000) if first is not None else Fraction(0)
        self.origin = min(Fraction(0), first - self.shift)  # the pipe's times start at 0 or later
        if container == "avi":  # the first frame in the first slot: AVI starts every stream together
            self.origin = Fraction(0)
        self._last_ns = self._first_ns = -1
        self._last_slot = -1
        self._last_pts: Fraction | None = None  # the input's time of the last frame written
        self._last_tick, self.left_out = -GIF_MIN_DELAY, 0  # a GIF's frames (write)
        self._input = source  # its frames' times give the last frame's duration
        cmd = ffmpeg_command(self.origin) + ["-f", "matroska", "-i", "pipe:0"]
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
        # the video encoder's time base only: the audio encoders keep theirs (audio stamped in
        # whole frames of an AVI came out garbled)
        if tb.numerator == 1 and tb.denominator <= 10_000_000:
            cmd += ["-enc_time_base:v", f"{tb.numerator}/{tb.denominator}"]
            if container in ("mp4", "mov"):
                cmd += ["-video_track_timescale", str(tb.denominator)]
        elif 1 / tb == self.fps:
            cmd += ["-enc_time_base:v", f"{tb.numerator}/{tb.denominator}"]
        cmd += ["-c:v", codec, *thread_args()]
        cmd += quality_args(codec, crf, preset)
        if codec in ("libx264", "libx265"):
            if crf == 0 and codec == "libx264":
                self.notes.append(spell("{crf=0} is lossless H.264, written in the High 4:4:4 Predictive profile, "
                                        "which many players and browsers do not play (1 and up play everywhere)"))  # fmt: skip
            if self.cfr or (container in ("mp4", "mov") and largest_gap(source) > LONG_GAP):
                # AVI stores no presentation times: with B-frames (reordered) a player shows
                # every frame two frames late against the audio; MP4/MOV: see LONG_GAP
                cmd += ["-bf", "0"]
        elif codec in ("libvpx-vp9", "libvpx"):
            cmd += ["-row-mt", "1"]
        cmd += self._interlace_args(source, codec)
        if codec == "gif":
            cmd += self._palette_args(source)
        else:
            cmd += self._colour_args(source, pix_fmt, tonemap, out_w, out_h)
        cmd += [] if tonemap else self._light_args(source, codec)
        cmd += muxer_args(container, metadata, plan.mdta)
        cmd += projection_args(source, container)
        if container == "gif":
            cmd += ["-loop", str(gif_loop(source))]
        if container in ("mp4", "mov") and codec == "libx265":
            cmd += ["-tag:v", "hvc1"]  # what Apple's players require (ffmpeg's default, hev1, they refuse)
        cmd = one_params(cmd) + ["-f", container, file_url(path)]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        self._stderr = StderrTail(self._proc.stderr)
        self._send(mkv_header(out_w, out_h, self.deep, int(round(NS / self.fps)), equirect))

    def _interlace_args(self, source: VideoInfo | None, codec: str) -> list[str]:
        """An interlaced input (broadcast, camcorders: 1080i) stays interlaced, its fields in
        the same order, so that players still deinterlace it (libx264 only; other encoders
        store progressive frames, which the notes say)."""
        order = source.upright_field_order if source is not None else None
        if order is None:
            if source is not None and source.field_order is not None:  # turned 90 or 270 degrees
                self.notes.append("the input is interlaced and turned on its side: its fields are columns once "
                                  "upright, written as progressive frames")  # fmt: skip
            return []
        top = order in ("tt", "tb")  # the top field coded first
        if codec == "libx264":  # the frames are flagged too (setfield, see _colour_args): x264 follows them
            return ["-flags", "+ildct+ilme", "-x264-params", "tff=1" if top else "bff=1"]
        self.notes.append(f"the input is interlaced ({'top' if top else 'bottom'} field first) and {codec} writes "
                          "progressive frames only: players will not deinterlace it (libx264, the default for "
                          ".mp4, .mov and .mkv, keeps it interlaced)")  # fmt: skip
        return []

    def _light_args(self, source: VideoInfo | None, codec: str) -> list[str]:
        """HDR10's static metadata of the input (mastering display, content light levels),
        given to the encoder: the frames reach it through a pipe, without their side data
        (they were lost without a word)."""
        master, light = hdr10_light(list(source.light)) if source is not None else (None, None)
        if master is None and light is None:
            return []
        if codec in ("libx265", "libsvtav1"):
            x265 = codec == "libx265"  # x265 counts chromaticities in 1/50000 and luminance in 1/10000 cd/m2
            params = []
            if master is not None:
                xy = [f"{round(v * 50000)}" if x265 else f"{v:.4f}" for v in master[:8]]
                lum = [f"{round(v * 10000)}" if x265 else f"{v:.4f}" for v in master[8:]]
                primaries = f"G({xy[2]},{xy[3]})B({xy[4]},{xy[5]})R({xy[0]},{xy[1]})WP({xy[6]},{xy[7]})"
                params.append(f"{'master-display' if x265 else 'mastering-display'}={primaries}L({lum[0]},{lum[1]})")
            if light is not None:
                params.append(f"{'max-cll' if x265 else 'content-light'}={light[0]},{light[1]}")
            return ["-x265-params" if x265 else "-svtav1-params", ":".join(params)]
        self.notes.append(f"the input's HDR10 mastering display and light levels are not written by {codec} "
                          "(libx265, the default for a 10-bit HEVC input, and libsvtav1 write them)")  # fmt: skip
        return []

    def _palette_args(self, source: VideoInfo | None) -> list[str]:
        """A GIF: each frame with its own 256 colours (made from that frame, dithered), so that
        ffmpeg holds no more than a frame; its pixels' shape kept (its frames' delays: write)."""
        vf = f"{set_sar(source.sar)}," if source is not None and source.sar else ""
        return ["-vf", f"{vf}split[a][b];[a]palettegen=stats_mode=single[p];[b][p]paletteuse=new=1:dither=sierra2_4a"]

    def _colour_args(self, source: VideoInfo | None, pix_fmt: str, tonemap: bool, w: int, h: int) -> list[str]:
        """Convert RGB to the input's YUV (same matrix and range) and tag it as the input was."""
        if source is None:
            return ["-pix_fmt", pix_fmt]
        args: list[str] = []
        # RGB-coded video (PNG, QuickTime Animation, FFV1 bgr0, libx264rgb: matrix "gbr") has no
        # YUV matrix of its own to keep: written as BT.709 YUV in the limited range, as players expect
        rgb = is_rgb_coded(source)
        space, rng = ("bt709", "tv") if rgb else (source.color_space, source.color_range)
        written = written_matrix(space, source.color_primaries)  # (plan.ZIMG_MATRICES)
        if written != space:
            self.notes.append(f"the input's colour matrix {space} is not one ffmpeg's converter writes: written as "
                              f"{written}, the same colours")  # fmt: skip
            space = written
        matrix = SCALE_MATRIX.get(space or "", "bt601")
        full = rng == "pc"
        if tonemap:
            # An 8-bit codec for HDR: tone-mapped to SDR BT.709 (zscale + tonemap).
            prim = source.color_primaries or "bt2020"
            vf = (f"setparams=color_primaries={prim}:color_trc={source.color_trc}:colorspace=gbr,"
                  "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=hable:desat=0,"
                  f"zscale=t=bt709:m=bt709:r={'full' if full else 'limited'},format={pix_fmt}")  # fmt: skip
            if source.sar:
                vf += f",{set_sar(source.sar)}"
            self.notes.append(f"the input is HDR ({source.color_trc}) and {self.codec} writes 8 bits only: "
                              "tone-mapped to SDR BT.709")  # fmt: skip
            return ["-vf", vf, "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709",
                    "-color_range", "pc" if full else "tv"]  # fmt: skip
        scale = []  # the input's matrix and range when it names them (else ffmpeg's defaults, as when decoding)
        zimg = ""
        if full and bit_depth(pix_fmt) == 8:
            # swscale rounds a full-range conversion's chroma down (every U and V sample about half
            # a level low): zimg converts each pixel exactly, swscale then only subsamples the chroma
            zimg = f"zscale=m={ZSCALE_MATRIX[matrix]}:r=full:dither=none,format=yuv444p,"
            scale.append("flags=accurate_rnd")
        elif space:
            scale.append(f"out_color_matrix={matrix}")
        if rng:
            scale.append(f"out_range={'pc' if full else 'tv'}")
        if source.upright_field_order is not None:
            scale.append("interl=1")  # an interlaced frame's chroma is subsampled field by field
        vf = zimg + (f"scale={':'.join(scale)}," if scale else "") + f"format={pix_fmt}"
        tags = {"color_primaries": source.color_primaries, "color_trc": source.color_trc,
                "colorspace": space or ("unknown" if zimg else None), "range": rng}  # (zscale names its matrix)
        tags = {k: v for k, v in tags.items() if v}
        if tags:  # the frames carry the tags to the encoder (its own options alone lose them)
            vf += ",setparams=" + ":".join(f"{k}={v}" for k, v in tags.items())
        if source.sar:
            vf += f",{set_sar(source.sar)}"
        if source.upright_field_order is not None and self.codec == "libx264":
            vf += ",setfield=" + ("tff" if source.upright_field_order in ("tt", "tb") else "bff")
        args += ["-vf", vf]
        if rng:
            args += ["-color_range", rng]
        if space:
            args += ["-colorspace", space]
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
            raise self._failure() from None

    def write(self, frame: np.ndarray, source: np.ndarray | None = None) -> bool:
        """Encode ``frame`` at the time of ``source`` (the decoded :class:`~vidanon.media.reader.Frame` it was
        rendered from; default: ``frame`` itself, else the next slot at the frame rate). False where
        it is left out: a GIF's frame under GIF_MIN_DELAY after the last one kept."""
        origin = source if source is not None else frame
        pts = getattr(origin, "pts", None)
        if pts is None:
            pts = (self.frames_written + self.left_out) / self.fps
        shown = pts
        if self.codec == "gif":  # at its hundredth, if GIF_MIN_DELAY or more after the last frame kept
            tick = round((pts - self.shift - self.origin) * 100)
            if tick < self._last_tick + GIF_MIN_DELAY:
                self.left_out += 1
                return False
            self._last_tick = tick
            shown = self.shift + self.origin + Fraction(tick, 100)
        if self.cfr:
            if self._last_slot < 0 and pts - self.shift - self.origin > 1 / self.fps:
                self.shift = Fraction(pts)  # a --segments part: slots from its own first frame
            # the video's first frame in the first slot, with the audio: an XviD AVI's, a slot late
            # (its B-frames' times are ffmpeg's), lasts two slots, the others in their own
            slot = max(round((pts - self.shift - self.origin) * self.fps), self._last_slot + 1, 0) \
                if self._last_slot >= 0 else 0
            self._last_slot = slot
            shown = self.shift + self.origin + slot / self.fps
        ns = int(round((shown - self.shift - self.origin) * NS))
        ns = max(ns, self._last_ns + 1, 0)
        if self.frames_written:
            self._send(mkv_frame_end(ns - self._last_ns))
        self._last_ns = ns
        self._first_ns = ns if self._first_ns < 0 else self._first_ns
        self._last_pts = Fraction(pts)
        if self.deep:
            data = self._deep(frame, origin)
        else:  # a decoded frame as it is: its exactly rounded conversion
            data = np.ascontiguousarray(getattr(frame, "picture", frame), dtype=np.uint8)
        if self.pad != (0, 0):
            data = np.pad(data, ((0, self.pad[0]), (0, self.pad[1]), (0, 0)), mode="edge")
        data = np.ascontiguousarray(data)
        self._send(mkv_frame_head(ns, data.nbytes))
        self._send(data.data)
        self.frames_written += 1
        return True

    @property
    def mean_fps(self) -> float | None:
        """The frames written a second, from their times (None under two frames)."""
        span = self._last_ns - self._first_ns
        return (self.frames_written - 1) * NS / span if self.frames_written > 1 and span > 0 else None

    def _last_duration_ns(self) -> int:
        """How long the last frame written lasts: as long as in the input (up to its next
        frame: a --segments part ends before the input does); else one period of the rate."""
        source, period = self._input, int(round(NS / self.fps))
        if self.cfr or source is None or source.packets is None or self._last_pts is None:
            return period
        lasts = source.packets.duration_at(float(self._last_pts) - source.file_start)  # times from the file's start
        return max(int(round(lasts * NS)), 1) if lasts is not None else period

    @staticmethod
    def _deep(frame: np.ndarray, origin: np.ndarray) -> np.ndarray:
        """The 16-bit frame to encode: the decoded one wherever the effect left the 8-bit
        frame as it was, the effect's result (8 bits, scaled) where it changed it."""
        deep = getattr(origin, "deep", None)
        if deep is None:
            return np.asarray(frame, np.uint16) * 257
        if frame is origin:
            return deep
        drawn = getattr(frame, "deep", None)  # an effect drawn on the 16-bit samples too (the splash)
        return drawn if drawn is not None else restore_deep(frame, origin, deep)

    def _failure(self) -> VidanonError:
        if not self.path.parent.is_dir():  # ffmpeg names its temporary file there: say what happened
            return OutputError(f"the output folder {self.path.parent} was removed while {self.name} was being written")
        return EncodeError(failure_message(self.name, " ".join(self._stderr.lines), self._proc.returncode, "encoding",
                                           self._stderr.summary()))  # fmt: skip

    def close(self) -> None:
        """Finish the file; raises :class:`EncodeError` if ffmpeg did not succeed."""
        if self.left_out:
            total, n = self.frames_written + self.left_out, self.left_out
            self.notes.append(f"a GIF shows a frame for 2 hundredths of a second at least (browsers slow shorter ones "
                              f"down): {n} of the video's {total} frames, closer than that to the one kept before "
                              f"{'it, is' if n == 1 else 'them, are'} left out")  # fmt: skip
        if self.frames_written:
            self._send(mkv_frame_end(self._last_duration_ns()))
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        code = self._proc.wait()
        self._stderr.join()
        if code != 0:
            raise self._failure()

    def abort(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        self._proc.wait()
