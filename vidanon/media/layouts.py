"""Audio channel layouts, as ffmpeg's header names them, and the ones the audio encoders take
(what the stream plan, :mod:`vidanon.media.plan`, remixes an audio stream to)."""

from __future__ import annotations

import re

# Opus (libopus) takes the Vorbis channel layouts only: mono to 7.1 with the surround
# channels at the back; ffmpeg's AAC those of up to 8 channels but the ones with height
# channels. Other layouts of up to 8 channels (for Opus 5.1(side), the usual one of AC-3,
# E-AC-3, DTS and FLAC; for AAC 5.1.2) are remixed to the Vorbis one of their channel count,
# layouts of more channels (7.1.4, 22.2) downmixed to 7.1; ffmpeg would fail.
_OPUS_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
_AAC_REFUSES = {"3.1.2", "5.1.2", "cube", "downmix"}
_CHANNELS = {"mono": 1, "stereo": 2, "downmix": 2, "2.1": 3, "3.0": 3, "3.0(back)": 3, "4.0": 4, "quad": 4,
             "quad(side)": 4, "3.1": 4, "5.0": 5, "5.0(side)": 5, "4.1": 5, "5.1": 6, "5.1(side)": 6, "6.0": 6,
             "6.0(front)": 6, "hexagonal": 6, "3.1.2": 6, "6.1": 7, "6.1(back)": 7, "6.1(front)": 7, "7.0": 7,
             "7.0(front)": 7, "7.1": 8, "7.1(wide)": 8, "7.1(wide-side)": 8, "5.1.2": 8, "octagonal": 8, "cube": 8,
             "5.1.4": 10, "7.1.2": 10, "7.1.4": 12, "7.2.3": 12, "9.1.4": 14, "9.1.6": 16, "hexadecagonal": 16,
             "22.2": 24}  # fmt: skip


def audio_layout(line: str) -> str | None:
    """An audio stream's channel layout, from ``ffmpeg -i``'s line ("ac3, 48000 Hz, 5.1(side), fltp")."""
    parts = [p.strip() for p in line.split(",")]
    return parts[2] if len(parts) > 2 and parts[1].endswith("Hz") else None


def channel_count(line: str) -> int:
    """An audio stream's channel count (0: unknown)."""
    layout = audio_layout(line) or ""
    found = re.fullmatch(r"(\d+) channels(?: \(.*\))?", layout)
    return int(found.group(1)) if found else _CHANNELS.get(layout, 0)


def remix_layout(encoder: str, line: str) -> str | None:
    """The layout an audio stream is remixed to for ``encoder`` (libopus, aac), or None when
    the encoder takes its own (or it is unknown: left to ffmpeg)."""
    layout, count = audio_layout(line), channel_count(line)
    if encoder not in ("libopus", "aac") or layout is None or not count:
        return None
    if count > 8:
        return "7.1"
    taken = layout not in _AAC_REFUSES if encoder == "aac" else layout in _OPUS_LAYOUTS.values()
    return None if taken else _OPUS_LAYOUTS[count]
