"""Stage 2 for several kinds of object at once: one tracker per kind, outputs joined per frame.

``--target faces,plates`` runs both detectors on the same decoded frames; their boxes
travel together in one :class:`~vidanon.detections.Detections` per frame. A
:class:`JointTracker` hands each kind's boxes (by class) to a tracker of its own, so faces
and plates have their own tracks, coasting and look-ahead, and emits a frame once every
tracker has let it go, with the boxes of all of them. Track ids of the second and later
trackers are offset by :data:`ID_STRIDE` so that they never collide with the first's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from ..detections import Detections

ID_STRIDE = 1_000_000  # track ids of tracker k are k * ID_STRIDE + its own id


@dataclass
class Part:
    """One tracker of a :class:`JointTracker` and the classes whose boxes it takes."""

    classes: tuple[int, ...]
    tracker: Any  # a vidanon.tracking.Tracker


class JointTracker:
    """Several trackers as one :class:`~vidanon.tracking.Tracker`."""

    def __init__(self, parts: list[Part]) -> None:
        if not parts:
            raise ValueError("a joint tracker needs at least one tracker")
        self.parts = parts
        self.lookahead = max(getattr(p.tracker, "lookahead", 0) for p in parts)
        self._held: dict[int, list] = {}  # frame index -> [payload, Detections or None per part]
        self._next = 0  # the next frame to emit

    def _take(self, k: int, items) -> None:
        for index, payload, dets in items:
            slot = self._held.setdefault(index, [payload] + [None] * len(self.parts))
            if dets is not None and len(dets) and k:
                dets.track_ids = np.where(dets.track_ids >= 0, dets.track_ids + k * ID_STRIDE, dets.track_ids)
            slot[k + 1] = dets

    def _ready(self) -> Iterator[tuple[int, Any, Detections]]:
        while self._next in self._held and all(d is not None for d in self._held[self._next][1:]):
            payload, *found = self._held.pop(self._next)
            yield self._next, payload, Detections.merge(found)
            self._next += 1

    def push(self, payload: Any, detections: Detections, cut: bool = False,
             frame: np.ndarray | None = None) -> Iterator[tuple[int, Any, Detections]]:  # fmt: skip
        for k, part in enumerate(self.parts):
            mine = detections[np.flatnonzero(np.isin(detections.classes, part.classes))]
            self._take(k, part.tracker.push(payload, mine, cut=cut, frame=frame))
        yield from self._ready()

    def flush(self) -> Iterator[tuple[int, Any, Detections]]:
        for k, part in enumerate(self.parts):
            self._take(k, part.tracker.flush())
        yield from self._ready()
