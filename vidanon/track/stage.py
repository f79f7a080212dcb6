"""Stage 2 as the pipeline sees it: the :class:`Tracker` interface and the track stage.

A tracker takes each frame's raw :class:`~vidanon.detections.Detections` in order and
gives back, possibly some frames later (its look-ahead), ``(index, payload, Detections)``
with the boxes to hide in frame ``index``. Three implementations:

* :class:`vidanon.track.SortTracker`: SORT with look-ahead (faces, or people);
* :class:`vidanon.track.NoTracker`: ``--no-track``, the detections above the threshold;
* :class:`vidanon.tracksfile.ReplayTracker`: ``--tracks``, the boxes of a saved tracks
  file (no detector runs at all).

:class:`TrackStage` joins a tracker with the shot-cut test, so that every entry point
(file, part of a file, moviepy clip) tracks the same way.
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol, Sequence

import numpy as np

from ..detections import Detections


class Tracker(Protocol):
    lookahead: int  # frames held back before they are emitted

    def push(self, payload: Any, detections: Detections, cut: bool = False,
             frame: np.ndarray | None = None) -> Iterator[tuple[int, Any, Detections]]:  # fmt: skip
        """Add the next frame's detections (``frame``: its pixels, for trackers that look at
        them); yield the frames that left the look-ahead."""
        ...

    def flush(self) -> Iterator[tuple[int, Any, Detections]]:
        """Yield the frames still held, at the end of the video."""
        ...


class TrackStage:
    """Frames and their raw detections in; ``(index, payload, boxes to hide)`` out, in order.

    ``cuts`` (a :class:`vidanon.track.ShotCuts`) tells the tracker where shots change;
    None for trackers that do not use it (a replay).
    """

    def __init__(self, tracker: Tracker, cuts=None) -> None:
        self.tracker = tracker
        self.cuts = cuts

    def push(self, frames: Sequence[np.ndarray], detections: Sequence[Detections],
             payloads: Sequence[Any] | None = None) -> Iterator[tuple[int, Any, Detections]]:  # fmt: skip
        """One batch: ``payloads`` default to the frames themselves."""
        payloads = frames if payloads is None else payloads
        for frame, payload, dets in zip(frames, payloads, detections):
            cut = self.cuts(frame) if self.cuts is not None else False
            yield from self.tracker.push(payload, dets, cut=cut, frame=frame)

    def flush(self) -> Iterator[tuple[int, Any, Detections]]:
        yield from self.tracker.flush()


class NoTracker:
    """``--no-track``: the raw detections above the threshold, frame by frame."""

    lookahead = 0

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._frame = -1

    def push(self, payload: Any, detections: Detections, cut: bool = False,
             frame: np.ndarray | None = None) -> Iterator[tuple[int, Any, Detections]]:  # fmt: skip
        self._frame += 1
        yield self._frame, payload, detections[np.flatnonzero(detections.scores >= self.threshold)]

    def flush(self) -> Iterator[tuple[int, Any, Detections]]:
        return iter(())
