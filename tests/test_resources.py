"""Resources and scale: what a run does when the machine takes something away from it
(a decoder killed for lack of memory), and with very large or oddly shaped frames."""

import os
import signal

import pytest
from conftest import make_clip

from vidanon import anonymize
from vidanon.errors import EncodeError
from vidanon.media.probe import probe
from vidanon.media.reader import FrameReader


def _kill_after(frames: int):
    """FrameReader.__iter__ whose ffmpeg is killed (SIGKILL, as the out-of-memory killer does)
    once ``frames`` frames were read."""
    original = FrameReader.__iter__

    def iterate(self):
        for k, frame in enumerate(original(self)):
            if k == frames:
                os.kill(self._proc.pid, signal.SIGKILL)
            yield frame

    return iterate


def test_a_decoder_killed_mid_run_is_an_error_not_a_short_output(tmp_path, monkeypatch):
    # a decoder killed by the system was taken for decoding errors in the input: the frames
    # read until then were written, exit 0, with a warning (a 210-frame clip: 104 frames out)
    src = make_clip(tmp_path / "in.mp4", frames=40, audio=False)
    reader = FrameReader(probe(src))
    monkeypatch.setattr(FrameReader, "__iter__", _kill_after(3))
    with pytest.raises(EncodeError, match=r"ffmpeg was killed by signal 9 \(by the system, most likely for lack "
                                          r"of memory\) while decoding .*in\.mp4"):  # fmt: skip
        for _ in reader:
            pass
    out = tmp_path / "out.mp4"
    with pytest.raises(EncodeError, match="killed by signal 9"):
        anonymize(src, out, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]  # no output, no placeholder, no .partial
