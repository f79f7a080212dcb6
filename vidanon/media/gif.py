"""What a GIF output needs to know of the GIF format: its shortest frame delay, the input GIF's
repetition and transparency (read from the file: ffmpeg tells neither), a 10-bit input refused;
and whether an animated WebP or PNG has transparency (ffmpeg decodes every WebP to argb)."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from .probe import VideoInfo

# A GIF counts a frame's delay in hundredths of a second, and browsers show one of under 2 as a
# tenth (at 60 fps every third frame stalled; over 100 fps frames collided): the writer keeps a
# frame only GIF_MIN_DELAY hundredths or more after the last one kept, at its hundredth.
GIF_MIN_DELAY = 2


def gif_loop(source: VideoInfo | None) -> int:
    """The gif muxer's ``-loop`` that repeats a GIF as ``source`` (a GIF) repeats: its count from
    the NETSCAPE2.0 extension (0: for ever), -1 (played once) where it has none; 0 for a video."""
    return gif_facts(source)[1] if source is not None and source.video_codec == "gif" else 0


def gif_facts(source: VideoInfo) -> tuple[bool, int]:
    """(transparent, loop) of a GIF input (whether its first frame names a transparent colour, :func:`gif_loop`), its file read once."""
    try:
        stat = os.stat(source.path)
    except OSError:
        return True, 0
    return _gif_facts_of(str(source.path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _gif_facts_of(path: str, mtime_ns: int, size: int) -> tuple[bool, int]:
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except OSError:
        return True, 0
    table = 3 << ((head[10] & 7) + 1) if len(head) > 10 and head[10] & 0x80 else 0  # the global colours
    control = head.find(b"\x21\xf9\x04", 13 + table)  # the first graphic control extension: its flags follow
    # none: no colour of the file is transparent
    transparent = control >= 0 and (control + 3 >= len(head) or bool(head[control + 3] & 1))
    found = re.search(rb"\x21\xff\x0b(?:NETSCAPE2\.0|ANIMEXTS1\.0)\x03\x01(..)", head, re.DOTALL)
    return transparent, int.from_bytes(found.group(1), "little") if found else -1


def first_picture_alpha(path: Path) -> bool:
    """Whether an animated WebP or PNG shows transparent pixels: its first picture, as
    composed, has some (a WebP's VP8X alpha flag says little: libwebp's animation encoder sets
    it on opaque animations, to leave a frame's unchanged pixels transparent; an APNG's colour
    type says RGBA as often); True where the file cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.mode in ("RGBA", "LA", "PA") and im.getchannel("A").getextrema()[0] < 255
    except Exception:  # unreadable by Pillow: say what ffmpeg says (argb)
        return True


def deep_gif_message(path: Path, source: VideoInfo) -> str:
    return (f"output {path.name}: a GIF holds 8-bit colours, 256 a frame, and the input is {source.pix_fmt}; "
            "write it as .mp4, .mkv or .mov (which keep its bit depth)")
