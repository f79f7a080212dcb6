"""Stage 4: anonymized frames out.

* :class:`FileSink`: a video file, encoded by ffmpeg (:class:`~vidanon.media.writer.VideoWriter`,
  as :class:`EncodeSettings` say) with each frame at the input's time, with the input's
  audio, subtitles, chapters, colour tags, pixel aspect and (per the metadata policy)
  tags, into a hidden temporary file renamed over the target by :meth:`FileSink.commit`
  (nothing appears at the target unless everything succeeded);
* :class:`Stats`: what was hidden (boxes, frames with boxes, tracks), for the summary.

(A moviepy clip needs no sink: moviepy pulls the frames, see :mod:`vidanon.clip`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..detections import Detections
from .paths import AtomicOutput
from .plan import container_of
from .probe import VideoInfo
from .writer import VideoWriter


@dataclass(frozen=True)
class EncodeSettings:
    """How :class:`FileSink` encodes (the defaults are :class:`~vidanon.media.writer.VideoWriter`'s)."""

    codec: str | None = None  # None: the container's default
    crf: int = 18
    preset: str = "medium"
    audio: bool = True  # the input's audio too
    metadata: str = "private"  # the metadata policy: private, keep or strip
    odd_size: str = "pad"  # an odd size in 4:2:0: "pad" (edge repeated) or "444"
    extras: bool = True  # the input's subtitles, fonts and chapters; False for a part (the join adds them)


class FileSink:
    def __init__(self, target: Path, info: VideoInfo, settings: EncodeSettings) -> None:
        self.target = target
        self.output = AtomicOutput(target)
        self.tmp = self.output.tmp
        self.writer: VideoWriter | None = None
        try:
            self.writer = VideoWriter(
                self.tmp, info.width, info.height, info.fps, container_of(target), codec=settings.codec,
                crf=settings.crf, preset=settings.preset, audio_from=info if settings.audio else None, source=info,
                metadata=settings.metadata, odd_size=settings.odd_size, extras=settings.extras,
                name=str(target),
            )  # fmt: skip
        except BaseException:
            self.abort()
            raise

    @property
    def frames_written(self) -> int:
        return self.writer.frames_written

    TIME_BASE_RATE = 100  # a "rate" from here up with frames far slower: a time base (GIF 100, WebP 1000)

    @property
    def fps(self) -> float:
        """The rate of the frames written: the input's, less the frames a GIF leaves out; for
        pictures of their own durations (an animated WebP or GIF, whose stated rate is its time
        base: 1000 or 100 fps), their mean rate."""
        kept, left_out = self.writer.frames_written, self.writer.left_out
        rate = float(self.writer.fps * kept / (kept + left_out)) if left_out else float(self.writer.fps)
        mean = self.writer.mean_fps  # (only for a time base's rate: a video's own rate is said as it is)
        return mean if mean is not None and rate >= self.TIME_BASE_RATE and rate > 1.5 * mean else rate

    @property
    def metadata_removed(self) -> list[str]:
        """The input's tags left out of the output (the metadata policy)."""
        return self.writer.plan.metadata_removed

    def warnings(self) -> list[str]:
        """What the user should know about the output: the writer's notes (odd size, tone
        mapping, AVI's constant rate) and what the container could not hold as it is."""
        said = self.writer.plan.warning(self.target.suffix)
        return list(self.writer.notes) + ([said] if said else [])

    def write(self, frame: np.ndarray, source: np.ndarray | None = None) -> bool:
        """Encode ``frame`` at the time of ``source``, the decoded :class:`~vidanon.media.reader.Frame`
        it was rendered from (its 16-bit samples are kept wherever the effect left it alone); False
        where it is left out (a GIF's frame too close to the one before)."""
        return self.writer.write(frame, source)

    def finish(self) -> None:
        """Finish encoding (ffmpeg's errors are raised here); the target is not touched yet."""
        self.writer.close()

    def commit(self) -> None:
        self.output.commit()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
        self.output.abort()


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
