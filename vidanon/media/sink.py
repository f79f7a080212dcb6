"""Stage 4: anonymized frames out.

* :class:`FileSink`: a video file, encoded by ffmpeg with each frame at the input's time,
  with the input's audio, subtitles, chapters, colour tags, pixel aspect and (per the
  metadata policy) tags, into a hidden temporary file renamed over the target by
  :meth:`FileSink.commit` (nothing appears at the target unless everything succeeded);
* :class:`Stats`: what was hidden (boxes, frames with boxes, tracks), for the summary.

(A moviepy clip needs no sink: moviepy pulls the frames, see :mod:`vidanon.clip`.)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..detections import Detections
from ..options import Options
from .paths import temp_path_for
from .plan import container_of
from .probe import VideoInfo
from .writer import VideoWriter


class FileSink:
    def __init__(self, target: Path, info: VideoInfo, opts: Options) -> None:
        self.target = target
        self.tmp = temp_path_for(target)
        self.writer: VideoWriter | None = None
        try:
            self.writer = VideoWriter(
                self.tmp, info.width, info.height, info.fps, container_of(target), codec=opts.codec, crf=opts.crf,
                preset=opts.preset, audio_from=info if opts.audio else None, source=info, metadata=opts.metadata,
                odd_size=opts.odd_size, extras=opts.frame_range is None,  # a part: the join adds the extras
                name=str(target),
            )  # fmt: skip
        except BaseException:
            self.abort()
            raise

    @property
    def frames_written(self) -> int:
        return self.writer.frames_written

    @property
    def metadata_removed(self) -> list[str]:
        """The input's tags left out of the output (the metadata policy)."""
        return self.writer.plan.metadata_removed

    def warnings(self) -> list[str]:
        """What the user should know about the output: the writer's notes (odd size, tone
        mapping, AVI's constant rate) and what the container could not hold."""
        notes = list(self.writer.notes)
        if self.writer.plan.left_out:
            notes.append(f"{self.target.suffix} cannot hold everything of the input; left out: "
                         f"{'; '.join(self.writer.plan.left_out)}")  # fmt: skip
        return notes

    def write(self, frame: np.ndarray, source: np.ndarray | None = None) -> None:
        """Encode ``frame`` at the time of ``source``, the decoded :class:`~vidanon.video.Frame`
        it was rendered from (its 16-bit samples are kept wherever the effect left it alone)."""
        self.writer.write(frame, source)

    def finish(self) -> None:
        """Finish encoding (ffmpeg's errors are raised here); the target is not touched yet."""
        self.writer.close()

    def commit(self) -> None:
        os.replace(self.tmp, self.target)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
        try:
            self.tmp.unlink()
        except OSError:
            pass


class Stats:
    """Boxes hidden, frames with boxes, distinct tracks."""

    def __init__(self) -> None:
        self.boxes = 0
        self.frames_with_boxes = 0
        self.track_ids: set[int] = set()

    def add(self, dets: Detections) -> None:
        if len(dets):
            self.boxes += len(dets)
            self.frames_with_boxes += 1
            self.track_ids.update(int(t) for t in dets.track_ids if t >= 0)
