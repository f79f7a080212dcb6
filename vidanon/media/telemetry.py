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

# A position: a keyword (gps, latitude, lat, lon, home, ...) and, in the same event, two
# coordinates of 4 decimals or more (10 m or finer): "GPS (8.5432, 47.3769", "[latitude: 47.376900]
# [longitude: 8.543200]"; or a dashcam's "N47.3769 E8.5432". Of a track's first events, all but one
# at most name one (a flight log names one in every event; a film's line may name a number once).
_KEYWORD = re.compile(r"\b(?:gps|latitude|longitude|lat|lon|lng|home)\b", re.IGNORECASE)
_COORDINATE = re.compile(r"-?\b\d{1,3}\.\d{4,}\b")
_NORTH_EAST = re.compile(r"\b[NS] ?\d{1,2}\.\d{4,}\W{1,4}[EW] ?\d{1,3}\.\d{4,}")
_EVENTS = 3  # the first events read of each track


def names_position(event: str) -> bool:
    """Whether a subtitle event's text names a place (see _KEYWORD)."""
    return bool(_NORTH_EAST.search(event)) or (bool(_KEYWORD.search(event)) and len(_COORDINATE.findall(event)) >= 2)


def telemetry_subtitles(path: Path, subtitles) -> tuple[int, ...]:
    """The indexes of the text subtitle streams (``subtitles``: :class:`~.streams.Stream`) whose
    first events name a position; read in one pass over the file's first 30 seconds at most."""
    import tempfile

    texts = [s for s in subtitles if s.codec in TEXT_SUBS]
    if not texts:
        return ()
    found = []
    with tempfile.TemporaryDirectory(prefix="vidanon-subtitles-") as folder:
        cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-t", "30", *input_args(path)]
        for k, s in enumerate(texts):
            cmd += ["-map", f"0:{s.index}", "-frames:s", str(_EVENTS), "-c:s", "srt", "-f", "srt",
                    str(Path(folder) / f"{k}.srt")]  # fmt: skip
        try:
            subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return ()
        for k, s in enumerate(texts):
            try:
                blocks = (Path(folder) / f"{k}.srt").read_text(encoding="utf8", errors="replace").split("\n\n")
            except OSError:
                continue
            events = [b for b in blocks if b.strip()]
            if events and sum(names_position(e) for e in events) >= max(len(events) - 1, 1):
                found.append(s.index)
    return tuple(found)
