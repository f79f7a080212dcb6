"""Joining the encoded parts of a segmented run (``--segments``) without re-encoding them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..errors import EncodeError
from .ffmpeg import failure_message, ffmpeg_command, file_url, read_header, start_times
from .paths import temp_path_for
from .plan import StreamPlan, muxer_args, plan_streams
from .probe import VideoInfo
from .streams import parse_header
from .unkept import projection_args


def join_parts(parts: list[Path], path: Path, container: str, audio_from: VideoInfo | None,
               source: VideoInfo | None = None, metadata: str = "private", name: str | None = None) -> StreamPlan:  # fmt: skip
    """Concatenate encoded parts (same codec and settings) into ``path`` without
    re-encoding them, with the audio (when ``audio_from`` is given), subtitles, chapters
    and metadata of ``source`` as :class:`~vidanon.media.writer.VideoWriter` adds them; ``name``: the output as the
    user named it, for messages (``path`` may be a temporary file)."""
    source = source if source is not None else audio_from
    listing = temp_path_for(path, "parts", ".txt")
    starts = [_start_of(part) for part in parts]
    lines = []
    for k, part in enumerate(parts):
        # beside the list, named without line breaks (paths.temp_path_for): a folder's odd name never enters it
        quoted = os.path.relpath(part.resolve(), listing.resolve().parent).replace("'", "'\\''")
        lines.append(f"file '{quoted}'\n")
        if k + 1 < len(parts):
            # without it the demuxer takes a part's length from the file's duration, which
            # Matroska counts from 0, not from the part's start: each later part came late
            lines.append(f"duration {starts[k + 1] - starts[k]:.6f}\n")
    listing.write_text("".join(lines), encoding="utf8")
    shift, first = start_times(source, container)
    # the concat demuxer starts the first part at 0: put it back where the writer put it in
    # every part, the video's first time from the file's start (AVI: 0, its shift)
    offset = first + source.file_start - shift if first is not None else 0.0
    cmd = ffmpeg_command(offset) + ["-f", "concat", "-safe", "0", "-i", file_url(listing)]
    plan = plan_streams(container, source, audio_from is not None, metadata, shift=shift)
    cmd += plan.inputs + ["-map", "0:v:0"] + plan.args
    cmd += ["-copyts", "-c:v", "copy"] + projection_args(source, container)
    cmd += muxer_args(container, metadata, plan.mdta)
    cmd += ["-f", container, file_url(path)]
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
    finally:
        listing.unlink(missing_ok=True)
    if done.returncode != 0:
        detail = " ".join(done.stderr.split())
        raise EncodeError(failure_message(name or path.name, detail, done.returncode, "joining the parts of", detail[-200:]))
    return plan


def _start_of(part: Path) -> float:
    """The start time of a part file, as the concat demuxer reads it."""
    return parse_header(read_header(part)).start
