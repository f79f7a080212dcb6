"""Stage 4: anonymized frames out.

* :class:`FileSink`: a video file, encoded by ffmpeg at the input's exact rate with its
  audio, into a hidden temporary file renamed over the target by :meth:`FileSink.commit`
  (nothing appears at the target unless everything succeeded);
* :class:`Stats`: what was hidden (boxes, frames with boxes, tracks), for the summary.

(A moviepy clip needs no sink: moviepy pulls the frames, see :mod:`vidanon.clip`.)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .detections import Detections
from .options import Options
from .video import VideoInfo, VideoWriter, container_of, temp_path_for


class FileSink:
    def __init__(self, target: Path, info: VideoInfo, opts: Options) -> None:
        self.target = target
        self.tmp = temp_path_for(target)
        self.writer: VideoWriter | None = None
        try:
            self.writer = VideoWriter(
                self.tmp, info.width, info.height, info.fps, container_of(target), codec=opts.codec, crf=opts.crf,
                preset=opts.preset, audio_from=info if opts.audio else None,
            )  # fmt: skip
        except BaseException:
            self.abort()
            raise

    @property
    def frames_written(self) -> int:
        return self.writer.frames_written

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(frame)

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
