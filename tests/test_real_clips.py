"""scripts/real_clips.py, the precision measure on the labelled real clips: every tool must see
the labelled frames at the same places."""

from __future__ import annotations

import sys
from pathlib import Path

from media import clip

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from real_clips import count_frames, steady_clip  # noqa: E402


def cfr_frames(path: Path) -> int:
    """Frames a constant-rate reader (deface's imageio pipe) gets out of ``path``."""
    return count_frames(path, "-fps_mode", "cfr")


def test_irregular_timestamps_get_a_steady_copy_with_every_frame(tmp_path):
    # 20 frames at 25 fps whose timestamps stretch as the clip goes on (a phone's variable rate):
    # a constant-rate reader repeats frames to fill the gaps, and its frame t is no longer the
    # labelled frame t
    src = clip(tmp_path / "vfr.mp4", frames=20, audio=False, vf="setpts=N*N/(25*4*TB)",
               extra=("-fps_mode", "passthrough"))  # fmt: skip
    assert count_frames(src) == 20 and cfr_frames(src) != 20
    steady = steady_clip(src, tmp_path)
    assert steady != src
    assert count_frames(steady) == 20 and cfr_frames(steady) == 20
    assert steady_clip(src, tmp_path) == steady  # made once


def test_regular_clip_is_used_as_it_is(tmp_path):
    src = clip(tmp_path / "cfr.mp4", frames=20, audio=False)
    assert steady_clip(src, tmp_path) == src
    assert not list(tmp_path.glob("steady_*"))
