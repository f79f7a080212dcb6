"""A subtitle track that is a camera's telemetry, not words: DJI drones (and many dashcams)
write their flight log as subtitles, each event holding the position (``GPS (8.5432, 47.3769,
15)``, ``[latitude: 47.376900] [longitude: 8.543200]``). Copied, it told where the video was
shot although the place tags were removed: :func:`telemetry_subtitles` finds such tracks from
their first events, and the stream plan leaves them out unless every tag is kept."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .ffmpeg import ffmpeg_exe, input_args
from .streams import TEXT_SUBS

# A named position: "GPS (8.5432, 47.3769", "latitude: 47.376900", "HOME(8.5432,47.3769"; or a
# dashcam's "N47.3769 E8.5432". Coordinates with 3 decimals or more (100 m or finer).
_POSITION = re.compile(r"\b(?:gps|latitude|longitude|lat|lon|lng|home)\b\W{0,4}-?\d{1,3}\.\d{3,}"
                       r"|\b[NS] ?\d{1,2}\.\d{3,}\W{1,4}[EW] ?\d{1,3}\.\d{3,}", re.IGNORECASE)  # fmt: skip
_EVENTS = 3  # the first events read of each track


def telemetry_subtitles(path: Path, subtitles) -> tuple[int, ...]:
    """The indexes of the text subtitle streams (``subtitles``: :class:`~.streams.Stream`) whose
    first events name a position; read from the file's first 30 seconds at most."""
    found = []
    for s in subtitles:
        if s.codec not in TEXT_SUBS:
            continue
        cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-t", "30", *input_args(path), "-map", f"0:{s.index}",
               "-frames:s", str(_EVENTS), "-c:s", "srt", "-f", "srt", "-"]  # fmt: skip
        try:
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                                  timeout=30)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            continue
        if _POSITION.search(done.stdout):
            found.append(s.index)
    return tuple(found)
