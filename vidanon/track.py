"""Stage 2: SORT tracking with anonymizer semantics.

SORT (Bewley, Ge, Ott, Ramos, Upcroft: "Simple Online and Realtime Tracking", 2016),
written from the paper: each face is a constant-velocity Kalman filter over its box
centre ``(u, v)``, area ``s`` and aspect ratio ``r`` (``r`` held constant); each frame
the tracks' predicted boxes are matched to the detections by the Hungarian algorithm
on an IoU cost, matches under ``iou_threshold`` are refused, unmatched detections start
tracks and tracks unmatched for more than ``max_age`` frames end. As in ByteTrack, a
second pass lets detections under the track-start threshold (but above a low floor)
extend tracks that the first pass left unmatched; they never start a track.

Three score levels: at or above ``threshold`` a detection is always masked; at or above
``start_threshold`` (lower) it may start a track, masked only once the track is confirmed
by ``min_hits`` detections; at or above ``low_threshold`` it may only extend a track.
Boxes that no longer overlap their track's prediction (small or fast faces: IoU is
zero once a face moves more than its own width) get a third chance, matched by the
distance between centres measured in box sizes.

A tracker benchmark reports a track only once confirmed (``min_hits``) and only where
it was matched. An anonymizer must hide more, so :class:`FaceTracker` emits, for
every frame:

* every detection at or above ``threshold``, tracked or not;
* the weaker detections that belong to a confirmed track;
* for every confirmed track that the detector missed in this frame, its predicted box,
  grown with the filter's uncertainty, for ``max_age`` frames; and for as long as
  ``max_gap`` frames while that box lies partly under another face (a face passing
  behind another reappears half-hidden, when the detector is weakest), then only the
  predicted box, a little larger (it is hidden there, not where it was last seen); but not where
  the image shows that the face has left that place (neither it nor any half of it
  looks there as it did when last detected: it vanished, went wholly behind something,
  or the track drifted onto the background);
* through a look-ahead buffer of frames (the video is processed offline): boxes
  interpolated across the gaps inside a track (a track lost for up to ``max_gap``
  frames can still be found again), and boxes extrapolated back before a track's
  first detection, along the line fitted to its first detections, until the face
  would have been outside the frame (faces that enter or turn are detected late).

A tentative track's boxes are held in the buffer and kept only if the track is
confirmed before the frame leaves it, so one false detection does not leave a trail.
Mask boxes follow the filter's smoothed box but are never smaller than the detection.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
from filterpy.kalman import KalmanFilter
from scipy.optimize import linear_sum_assignment

from .detections import BACKFILLED, DETECTED, FACE, FOLLOWED, INTERPOLATED, PREDICTED, Detections, iou_matrix


def box_to_z(box: np.ndarray) -> np.ndarray:
    """``[ymin, xmin, ymax, xmax]`` -> measurement ``[u, v, s, r]`` (centre, area, w/h)."""
    h = max(box[2] - box[0], 1e-6)
    w = max(box[3] - box[1], 1e-6)
    return np.array([box[1] + w / 2, box[0] + h / 2, w * h, w / h], dtype=np.float64)


def z_to_box(z: np.ndarray) -> np.ndarray:
    u, v, s, r = (float(t) for t in z[:4])
    s = max(s, 1e-12)
    r = max(r, 1e-6)
    w = np.sqrt(s * r)
    h = s / w
    return np.array([v - h / 2, u - w / 2, v + h / 2, u + w / 2], dtype=np.float64)


def union_box(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])])


def grow_box(box: np.ndarray, factor: float, dy: float = 0.0, dx: float = 0.0) -> np.ndarray:
    cy, cx = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hh = (box[2] - box[0]) * factor / 2 + dy
    hw = (box[3] - box[1]) * factor / 2 + dx
    return np.array([cy - hh, cx - hw, cy + hh, cx + hw])


class Track:
    """One face: a Kalman filter over ``[u, v, s, r, u', v', s']``."""

    def __init__(self, track_id: int, box: np.ndarray, frame: int, scene_start: int = 0) -> None:
        kf = KalmanFilter(dim_x=7, dim_z=4)
        kf.F = np.eye(7)
        kf.F[0, 4] = kf.F[1, 5] = kf.F[2, 6] = 1.0
        kf.H = np.zeros((4, 7))
        kf.H[:4, :4] = np.eye(4)
        # Noise levels as described for SORT: measurements of scale and ratio are
        # noisier than of position; the unobserved velocities start very uncertain.
        kf.R[2:, 2:] *= 10.0
        kf.P[4:, 4:] *= 1000.0
        kf.P *= 10.0
        kf.Q[-1, -1] *= 0.01
        kf.Q[4:, 4:] *= 0.01
        kf.x[:4, 0] = box_to_z(box)
        self.kf = kf
        self.id = track_id
        self.hits = 1
        self.time_since_update = 0
        self.first_frame = frame
        self.scene_start = scene_start  # first frame of its shot: nothing is back-filled before it
        self.last_frame = frame
        self.last_box = np.asarray(box, np.float64)
        self.detected: dict[int, np.ndarray] = {frame: self.last_box}
        self._look: tuple[np.ndarray, np.ndarray] | None = None  # (frame, box) of its last confident detection
        self._appearance: Appearance | None = None
        self.best_score = 0.0  # the highest detection score matched to it

    def predict(self) -> np.ndarray:
        if self.kf.x[2, 0] + self.kf.x[6, 0] <= 0:
            self.kf.x[6, 0] = 0.0
        self.kf.predict()
        self.time_since_update += 1
        return self.box()

    def update(self, box: np.ndarray, frame: int) -> None:
        self.kf.update(box_to_z(box))
        self.hits += 1
        self.time_since_update = 0
        self.last_frame = frame
        self.last_box = np.asarray(box, np.float64)
        self.detected[frame] = self.last_box

    def box(self) -> np.ndarray:
        return z_to_box(self.kf.x[:4, 0])

    def remember_look(self, image: np.ndarray, box: np.ndarray) -> None:
        """Keep where the face was last confidently seen; its :class:`Appearance` is only
        computed if the detector loses it (most tracks are never lost long enough)."""
        self._look = (image, box)
        self._appearance = None

    @property
    def appearance(self) -> Appearance | None:
        if self._look is not None:
            self._appearance = Appearance.of(*self._look)
            self._look = None  # the frame is not held any longer
        return self._appearance

    def uncertain_box(self) -> np.ndarray:
        """Where the face may be while the detector misses it.

        The predicted box grown by one standard deviation of the filter's centre (at most a
        quarter of the box per side), joined with the last detected box (a face that
        stopped, or a velocity estimated from few frames), both 5% larger per missed frame
        (at most 30%).
        """
        box = self.box()
        sy = float(np.sqrt(max(self.kf.P[1, 1], 0.0)))
        sx = float(np.sqrt(max(self.kf.P[0, 0], 0.0)))
        h, w = box[2] - box[0], box[3] - box[1]
        factor = min(1.0 + 0.05 * self.time_since_update, 1.3)
        predicted = grow_box(box, factor, dy=min(sy, h / 4), dx=min(sx, w / 4))
        return union_box(predicted, grow_box(self.last_box, factor))

    def early_box(self, frame: int) -> np.ndarray:
        """The box extrapolated to ``frame`` (before the first detection) along the straight
        line fitted to the first few detections' centres and sizes."""
        frames = sorted(self.detected)[:EARLY_FIT]
        boxes = np.array([self.detected[f] for f in frames])
        geometry = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2,
                             boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)  # fmt: skip
        if len(frames) >= 2:
            slope, intercept = np.polyfit(np.asarray(frames, np.float64), geometry, 1)
            cy, cx, h, w = slope * frame + intercept
        else:
            cy, cx, h, w = geometry[0]
        h = max(h, geometry[0, 2] / 2)  # a face does not shrink to nothing going back in time
        w = max(w, geometry[0, 3] / 2)
        return np.array([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2])


class Appearance:
    """A face's look, for finding it again where the detector misses it: the grey levels
    of its box sampled on a ``SIZE`` x ``SIZE`` grid, normalized (zero mean, unit norm), so
    that the match is their normalized cross-correlation (1: the same picture, whatever
    the brightness and contrast). A flat patch (standard deviation under ``MIN_STD`` grey
    levels) is no appearance at all: it would match any plain surface."""

    SIZE = 16
    MIN_STD = 8.0
    MATCH = 0.8  # correlation for "still the same face": background and other faces stay far below
    SHIFTS = (-0.3, -0.15, 0.0, 0.15, 0.3)  # searched around the prediction, in box sizes
    SCALES = (0.9, 1.0, 1.1)

    # What is left of a face partly hidden (a post, another head, the frame's edge) is one
    # of its halves: top, bottom, left, right, on the SIZE x SIZE grid.
    HALVES = ((slice(0, SIZE // 2), slice(None)), (slice(SIZE // 2, None), slice(None)),
              (slice(None), slice(0, SIZE // 2)), (slice(None), slice(SIZE // 2, None)))  # fmt: skip

    def __init__(self, grey: np.ndarray) -> None:
        """``grey``: the face's SIZE x SIZE grid (see :meth:`of`)."""
        self.vector = self._normalized(grey.ravel())
        # the halves that have a pattern of their own (a plain cheek or forehead tells nothing)
        self.halves = [(part, self._normalized(grey[part].ravel())) for part in self.HALVES
                       if grey[part].std() >= self.MIN_STD]  # fmt: skip

    @staticmethod
    def _normalized(v: np.ndarray) -> np.ndarray:
        v = v - v.mean()
        return v / max(float(np.linalg.norm(v)), 1e-6)

    @staticmethod
    def sample(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """The grey levels of each box (N x 4, inside the image) on the grid, 2 x 2 samples a
        cell: an N x SIZE x SIZE array, gathered in one indexing operation."""
        h, w = image.shape[:2]
        n = 2 * Appearance.SIZE
        steps = (np.arange(n) + 0.5) / n
        ys = np.minimum(((boxes[:, :1] + steps * (boxes[:, 2:3] - boxes[:, :1])) * h).astype(np.intp), h - 1)
        xs = np.minimum(((boxes[:, 1:2] + steps * (boxes[:, 3:4] - boxes[:, 1:2])) * w).astype(np.intp), w - 1)
        if image.flags.c_contiguous and image.ndim == 3:  # one flat index: faster than three
            flat = image.reshape(h * w, image.shape[2])
            patches = flat[ys[:, :, None] * w + xs[:, None, :]].astype(np.float32)
        else:
            patches = image[ys[:, :, None], xs[:, None, :]].astype(np.float32)
        grey = patches.mean(axis=3) if patches.ndim == 4 else patches
        return grey.reshape(len(boxes), Appearance.SIZE, 2, Appearance.SIZE, 2).mean(axis=(2, 4))

    @staticmethod
    def _inside(boxes: np.ndarray) -> np.ndarray:
        return (boxes[:, 0] >= 0) & (boxes[:, 1] >= 0) & (boxes[:, 2] <= 1) & (boxes[:, 3] <= 1) & (
            boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])  # fmt: skip

    @classmethod
    def of(cls, image: np.ndarray, box: np.ndarray) -> Appearance | None:
        boxes = np.asarray(box, np.float64).reshape(1, 4)
        if not cls._inside(boxes)[0]:
            return None
        grey = cls.sample(image, boxes)[0]
        if grey.std() < cls.MIN_STD:
            return None
        return cls(grey)

    def compare(self, image: np.ndarray, around: np.ndarray) -> tuple[float, float, np.ndarray | None]:
        """The face against the image near ``around``, the boxes there sampled once:

        * ``likeness``: the best correlation, over the shifts at the predicted size, of the
          whole face or of one of its halves (a face half behind a post or another head still
          shows one): how much the face may still be there (see GONE);
        * ``score`` and ``box``: the best whole-face correlation and its box, over the shifts
          at the predicted size, then the other sizes at the best shift (see MATCH).

        -1 (and None) when nothing there can be compared (outside the image, flat patches)."""
        boxes = self._shifted(around)
        boxes = boxes[self._inside(boxes)]
        if not len(boxes):
            return -1.0, -1.0, None
        grey = self.sample(image, boxes)
        whole = self._scores(grey.reshape(len(boxes), -1), self.vector)
        likeness = float(whole.max())
        for part, ref in self.halves:
            likeness = max(likeness, float(self._scores(grey[(slice(None), *part)].reshape(len(boxes), -1), ref).max()))
        best = int(np.argmax(whole))
        score, box = float(whole[best]), boxes[best]
        bh, bw = around[2] - around[0], around[3] - around[1]
        y, x = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        scales = np.array([s for s in self.SCALES if s != 1.0])
        sized = np.stack([y - bh * scales / 2, x - bw * scales / 2, y + bh * scales / 2, x + bw * scales / 2], axis=1)
        sized = sized[self._inside(sized)]
        if len(sized):
            other = self._scores(self.sample(image, sized).reshape(len(sized), -1), self.vector)
            if other.max() > score:
                score, box = float(other.max()), sized[int(np.argmax(other))]
        return likeness, score, box

    def find(self, image: np.ndarray, around: np.ndarray) -> np.ndarray | None:
        """The box near ``around`` that looks most like the face, if it matches well enough."""
        _, score, box = self.compare(image, around)
        return box if score >= self.MATCH else None

    def _scores(self, grey: np.ndarray, ref: np.ndarray) -> np.ndarray:
        """Normalized cross-correlation of each row of ``grey`` with the unit vector ``ref``;
        -1 for a flat row (standard deviation under MIN_STD: no appearance)."""
        grey = grey - grey.mean(axis=1, keepdims=True)
        norm = np.linalg.norm(grey, axis=1)
        flat = norm < self.MIN_STD * np.sqrt(grey.shape[1])
        return np.where(flat, -1.0, grey @ ref / np.maximum(norm, 1e-6))

    def _shifted(self, around: np.ndarray) -> np.ndarray:
        cy, cx = (around[0] + around[2]) / 2, (around[1] + around[3]) / 2
        bh, bw = around[2] - around[0], around[3] - around[1]
        dy, dx = (g.ravel() for g in np.meshgrid(self.SHIFTS, self.SHIFTS, indexing="ij"))
        y, x = cy + dy * bh, cx + dx * bw
        return np.stack([y - bh / 2, x - bw / 2, y + bh / 2, x + bw / 2], axis=1)

FOLLOW_MIN_HITS = 5  # detections a track needs before it is followed by appearance
FOLLOW_MIN_SCORE = 0.6  # ... one of them at least this sure (a shoulder scored 0.40 on the sample clip)
EARLY_FIT = 6  # detections fitted to extrapolate a track back before its start
# A coasting track whose face, and each half of it, looks less like itself than this at the
# predicted place (normalized cross-correlation, see Appearance.compare) has left it: the
# coasting stops. On the evaluation's composited clips no face-frame lost its mask up to
# 0.4 (one did at 0.5, a face coming out from behind another); on the real clips the boxes
# it ends were on the back of a head, a head leaving the frame and a car's headlights.
GONE = 0.4
OCCLUDED = 0.25  # share of a lost face's box under other faces for it to stay masked past max_age
# Past max_age, a face kept masked because it is behind another one is masked at its
# predicted box this much larger only: not also where it was last detected nor grown by the
# filter's uncertainty (as it is for max_age frames), which spread its mask, for up to
# max_gap frames, over the background around the face in front. Replayed from saved
# detections: on the composited bottles clip the pixels under the mask away from every face
# went from 3.5% to 2.3% (the evaluation's count of changed pixels there: 1.62% to 0.58%),
# no face-frame of the four composited clips lost its mask, and on the real clips only
# opera_crowd_1080p changed (slivers of collar beside faces still masked).
HIDDEN_GROWTH = 1.1


def covered_share(box: np.ndarray, others: np.ndarray) -> float:
    """Share of ``box``'s area under the boxes ``others`` (overlaps between them counted once
    only approximately: the sum is capped at 1)."""
    if len(others) == 0:
        return 0.0
    lo = np.maximum(box[:2], others[:, :2])
    hi = np.minimum(box[2:], others[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1).sum()
    area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-12)
    return float(min(inter / area, 1.0))


def centre_distance(tracks_boxes: np.ndarray, det_boxes: np.ndarray) -> np.ndarray:
    """Distance between box centres in units of the track box's size, per axis (so that
    it means the same in normalized coordinates of any frame shape); infinite where the
    sizes differ by more than a factor of 2."""
    t = np.asarray(tracks_boxes, np.float64).reshape(-1, 4)
    d = np.asarray(det_boxes, np.float64).reshape(-1, 4)
    th = np.maximum(t[:, 2] - t[:, 0], 1e-9)[:, None]
    tw = np.maximum(t[:, 3] - t[:, 1], 1e-9)[:, None]
    dy = ((d[:, 0] + d[:, 2]) - (t[:, 0:1] + t[:, 2:3])) / 2 / th
    dx = ((d[:, 1] + d[:, 3]) - (t[:, 1:2] + t[:, 3:4])) / 2 / tw
    det_size = np.sqrt(np.maximum(d[:, 2] - d[:, 0], 1e-9) * np.maximum(d[:, 3] - d[:, 1], 1e-9))
    ratio = det_size[None, :] / np.sqrt(th * tw)
    return np.where((ratio >= 0.5) & (ratio <= 2.0), np.hypot(dy, dx), np.inf)


def associate(tracks_boxes: np.ndarray, det_boxes: np.ndarray, iou_threshold: float):
    """Hungarian matching on IoU; returns (matches as (track, det) pairs, unmatched tracks, unmatched dets)."""
    nt, nd = len(tracks_boxes), len(det_boxes)
    if nt == 0 or nd == 0:
        return [], list(range(nt)), list(range(nd))
    iou = iou_matrix(tracks_boxes, det_boxes)
    rows, cols = linear_sum_assignment(-iou)
    return _split([(r, c) for r, c in zip(rows, cols) if iou[r, c] >= iou_threshold], nt, nd)


def associate_by_distance(tracks: list[Track], det_boxes: np.ndarray, max_distance: float):
    """Hungarian matching on centre distance (see :func:`centre_distance`) from either the
    track's predicted or its last detected box; the gate widens by 10% per missed frame
    (at most 2.5 times). Returns the same triple as :func:`associate`."""
    nt, nd = len(tracks), len(det_boxes)
    if nt == 0 or nd == 0:
        return [], list(range(nt)), list(range(nd))
    predicted = np.array([t.box() for t in tracks])
    last = np.array([t.last_box for t in tracks])
    dist = np.minimum(centre_distance(predicted, det_boxes), centre_distance(last, det_boxes))
    gate = max_distance * np.minimum(1.0 + 0.1 * (np.array([t.time_since_update for t in tracks]) - 1), 2.5)
    cost = np.where(dist <= gate[:, None], dist, 1e6)
    rows, cols = linear_sum_assignment(cost)
    return _split([(r, c) for r, c in zip(rows, cols) if cost[r, c] < 1e6], nt, nd)


def _split(matches: list[tuple[int, int]], nt: int, nd: int):
    mt = {r for r, _ in matches}
    md = {c for _, c in matches}
    return matches, [t for t in range(nt) if t not in mt], [d for d in range(nd) if d not in md]


@dataclass
class _Candidate:
    box: np.ndarray
    score: float
    source: int
    track: Track
    always: bool = False  # kept whatever becomes of its track (a detection above the threshold)
    confirmed_box: np.ndarray | None = None  # used instead of box once the track is confirmed


@dataclass
class _Pending:
    index: int
    payload: Any
    candidates: list[_Candidate] = field(default_factory=list)


class ShotCuts:
    """Tells whether a frame starts a new shot (a cut in an edited video).

    A face does not continue across a cut: the tracker ends every track there, so no box
    coasts, is interpolated or is back-filled into the other shot (a blurred patch in a
    scene where nobody stands). A cut is a frame whose thumbnail differs from the previous
    one both in colour histogram (L1 distance over 3 x 16 bins above ``HIST_L1``, of 2 at
    most) and in pixels (mean absolute difference above ``PIXEL_DIFF`` of 255): motion
    alone moves pixels but keeps the histogram, a lighting change shifts the histogram but
    not by that much in pixels. A false cut only ends tracks early; detections are still
    hidden.
    """

    HIST_L1 = 1.0
    PIXEL_DIFF = 30.0

    def __init__(self) -> None:
        self._previous: tuple[np.ndarray, np.ndarray] | None = None

    def __call__(self, frame: np.ndarray) -> bool:
        step = max(1, min(frame.shape[:2]) // 64)
        thumb = np.asarray(frame[::step, ::step, :3], np.float32)
        pixels = thumb.shape[0] * thumb.shape[1]
        hist = np.concatenate([np.histogram(thumb[..., c], 16, (0, 256))[0] for c in range(3)]) / pixels
        previous, self._previous = self._previous, (thumb, hist)
        if previous is None or previous[0].shape != thumb.shape:
            return False
        recoloured = np.abs(hist - previous[1]).sum() > self.HIST_L1
        return bool(recoloured and np.abs(thumb - previous[0]).mean() > self.PIXEL_DIFF)


class FaceTracker:
    """SORT + ByteTrack's second pass, with look-ahead, producing mask boxes per frame.

    Feed frames in order with :meth:`push` (any payload, e.g. the frame itself, and the
    frame's raw detections); it yields ``(index, payload, Detections)`` once a frame has
    left the look-ahead window, and :meth:`flush` yields the rest at the end. The window
    holds ``lookahead`` frames: enough to close a gap of ``max_gap`` frames and to
    back-fill ``backfill`` frames once a track is confirmed.
    """

    def __init__(
        self,
        threshold: float,
        low_threshold: float | None = None,
        start_threshold: float | None = None,
        max_age: int = 4,
        max_gap: int = 24,
        min_hits: int = 2,
        iou_threshold: float = 0.2,
        low_iou_threshold: float = 0.4,
        max_distance: float = 1.0,
        backfill: int = 10,
        class_id: int = FACE,
    ) -> None:
        if max_age < 0 or min_hits < 1 or backfill < 0 or max_gap < 0:
            raise ValueError("max_age, max_gap and backfill must be >= 0, min_hits >= 1")
        self.threshold = threshold
        self.start_threshold = threshold if start_threshold is None else min(start_threshold, threshold)
        self.low_threshold = self.start_threshold if low_threshold is None else min(low_threshold, self.start_threshold)
        self.max_age = max_age
        self.max_gap = max(max_gap, max_age)
        self.min_hits = min_hits
        self.iou_threshold = iou_threshold
        self.low_iou_threshold = low_iou_threshold
        self.max_distance = max_distance
        self.backfill = backfill
        self.class_id = class_id  # what the tracked boxes are (one tracker per class)
        self.lookahead = max(self.max_gap + 1, min_hits + backfill)
        self.tracks: list[Track] = []
        self._young: list[Track] = []  # tracks whose first frame is still in the buffer
        self._next_id = 1
        self._buffer: deque[_Pending] = deque()
        self._frame = -1
        self._scene_start = 0

    # -- SORT step -------------------------------------------------------------------
    def _confirmed(self, track: Track) -> bool:
        return track.hits >= self.min_hits

    def _followable(self, track: Track) -> bool:
        """Sure enough to be followed by appearance: seen often, once at least clearly
        (a false alarm on a sign or a pattern rarely is; if it were, it would stay put and
        look the same, so following it would keep it masked)."""
        return track.hits >= FOLLOW_MIN_HITS and track.best_score >= max(FOLLOW_MIN_SCORE, self.threshold)

    def _step(self, dets: Detections, pending: _Pending, image: np.ndarray | None = None) -> None:
        frame = pending.index
        predicted = np.array([t.predict() for t in self.tracks]).reshape(-1, 4)
        high = np.flatnonzero(dets.scores >= self.start_threshold)
        low = np.flatnonzero((dets.scores < self.start_threshold) & (dets.scores >= self.low_threshold))

        # 1. confident boxes by IoU; 2. weak boxes by IoU with what is left (ByteTrack);
        # 3. what is still left, by centre distance (small or fast faces).
        matches, free, free_high = associate(predicted, dets.boxes[high], self.iou_threshold)
        pairs = [(self.tracks[t], high[d]) for t, d in matches]
        m2, left, free_low = associate(predicted[free], dets.boxes[low], self.low_iou_threshold)
        pairs += [(self.tracks[free[t]], low[d]) for t, d in m2]
        free = [free[t] for t in left]
        rest = np.concatenate([high[free_high], low[free_low]]).astype(np.int64)
        m3, _, unmatched = associate_by_distance([self.tracks[t] for t in free], dets.boxes[rest], self.max_distance)
        pairs += [(self.tracks[free[t]], rest[d]) for t, d in m3]

        for track, det_index in pairs:
            box = dets.boxes[det_index].astype(np.float64)
            score = float(dets.scores[det_index])
            prior = track.box()  # where the filter expected the face
            if track.time_since_update > 1:  # frames were missed before this one
                self._interpolate(track, box, frame)
            track.update(box, frame)
            track.best_score = max(track.best_score, score)
            if image is not None and score >= self.start_threshold:
                track.remember_look(image, box)
            # Every confident detection is hidden whatever becomes of its track; once the
            # track is confirmed the mask follows the smoothed box, never smaller than it.
            # A weak detection (a face seen at the edge of the detector's reach: half-size
            # pass, blur, dim light) often sits on part of the face only: its mask also
            # keeps the box the filter expected.
            shown = union_box(track.box(), box)
            if score < self.threshold:
                shown = union_box(shown, prior)
            pending.candidates.append(
                _Candidate(box, score, DETECTED, track, always=score >= self.threshold, confirmed_box=shown)
            )
        for d in rest[unmatched]:
            score = float(dets.scores[d])
            if score < self.start_threshold:
                continue  # a weak box only extends a track
            box = dets.boxes[d].astype(np.float64)
            track = Track(self._next_id, box, frame, self._scene_start)
            track.best_score = score
            if image is not None:
                track.remember_look(image, box)
            self._next_id += 1
            self.tracks.append(track)
            self._young.append(track)
            pending.candidates.append(_Candidate(box, score, DETECTED, track, always=score >= self.threshold))

        seen = np.array([t.box() for t in self.tracks if t.time_since_update == 0]).reshape(-1, 4)
        alive = []
        for track in self.tracks:
            missed = track.time_since_update
            if missed == 0:
                alive.append(track)
                continue
            # A tentative track ends after max_age frames; a confirmed one may be found
            # again for max_gap frames (the gap is then interpolated).
            if missed > (self.max_gap if self._confirmed(track) else self.max_age):
                continue
            alive.append(track)
            coasting = missed <= self.max_age or covered_share(track.box(), seen) >= OCCLUDED
            followable = self._followable(track)
            look = track.appearance if image is not None and (coasting or followable) else None
            likeness, score, found = look.compare(image, track.box()) if look is not None else (-1.0, -1.0, None)
            # The predicted box is shown unless the image says the face has left that place
            # (it vanished, went wholly behind something, the track drifted onto the
            # background): neither it nor any half of it looks there as it did when last
            # detected, while the patch can be compared (not flat, not out of the image). The
            # track is kept (found again, its gap is interpolated), only not shown.
            if coasting and not -1.0 < likeness < GONE:
                box = track.uncertain_box() if missed <= self.max_age else grow_box(track.box(), HIDDEN_GROWTH)
                pending.candidates.append(_Candidate(box, 0.0, PREDICTED, track))
            # The detector blinks on a face that is still there (a pose, glasses, the light):
            # as long as the image at the predicted place still looks like the face did when
            # last detected, the face is followed there, up to max_gap frames.
            if followable and found is not None and score >= Appearance.MATCH:
                track.kf.update(box_to_z(found))
                pending.candidates.append(_Candidate(grow_box(found, 1.1), 0.0, FOLLOWED, track))
        self.tracks = alive

    def _in_buffer(self, frame: int) -> _Pending | None:
        if not self._buffer:
            return None
        offset = frame - self._buffer[0].index
        if 0 <= offset < len(self._buffer):
            return self._buffer[offset]
        return None

    def _interpolate(self, track: Track, box: np.ndarray, frame: int) -> None:
        """Boxes on the straight line between the last detection and this one, a little
        larger towards the middle of a long gap, where the path is least certain."""
        start, a = track.last_frame, track.last_box
        for f in range(start + 1, frame):
            pending = self._in_buffer(f)
            if pending is None:
                continue
            t = (f - start) / (frame - start)
            grow = 1.0 + min(0.02 * min(f - start, frame - f), 0.3)
            # Known from both sides now: the interpolated box replaces the coasting guess
            # (grown with the filter's uncertainty) made for that frame.
            pending.candidates = [c for c in pending.candidates if not (c.track is track and c.source == PREDICTED)]
            pending.candidates.append(_Candidate(grow_box(a + (box - a) * t, grow), 0.0, INTERPOLATED, track))

    def _backfill_box(self, track: Track, frame: int) -> np.ndarray | None:
        """The mask box for ``frame``, before ``track``'s first detection: its first box
        joined with the extrapolated one (5% larger per frame back), or None once the
        extrapolated face lies (almost) wholly outside the frame."""
        j = track.first_frame - frame
        guess = track.early_box(frame)
        inside = np.clip(guess, 0.0, 1.0)
        area = max((guess[2] - guess[0]) * (guess[3] - guess[1]), 1e-12)
        if max(inside[2] - inside[0], 0) * max(inside[3] - inside[1], 0) < 0.1 * area:
            return None
        return union_box(track.detected[track.first_frame], grow_box(guess, 1.0 + 0.05 * j))

    # -- buffering -------------------------------------------------------------------
    def push(self, payload: Any, detections: Detections, cut: bool = False,
             frame: np.ndarray | None = None) -> Iterator[tuple[int, Any, Detections]]:  # fmt: skip
        """Add the next frame; ``cut``: it starts a new shot (see :class:`ShotCuts`);
        ``frame``: its pixels (by default the payload, if it is an image), which let a lost
        face be followed by its appearance (see :class:`Appearance`)."""
        if frame is None and isinstance(payload, np.ndarray) and payload.ndim == 3:
            frame = payload
        self._frame += 1
        if cut:
            self.tracks = []
            self._scene_start = self._frame
        pending = _Pending(self._frame, payload)
        self._buffer.append(pending)
        self._step(detections, pending, frame)
        while len(self._buffer) > self.lookahead:
            yield self._emit(self._buffer.popleft())

    def flush(self) -> Iterator[tuple[int, Any, Detections]]:
        while self._buffer:
            yield self._emit(self._buffer.popleft())

    def _emit(self, pending: _Pending) -> tuple[int, Any, Detections]:
        self._young = [t for t in self._young if t.first_frame > pending.index]
        for track in self._young:
            if pending.index < track.scene_start:
                continue  # another shot
            if track.first_frame - pending.index <= self.backfill and self._confirmed(track):
                box = self._backfill_box(track, pending.index)
                if box is not None:
                    pending.candidates.append(_Candidate(box, 0.0, BACKFILLED, track))
        kept, boxes = [], []
        for c in pending.candidates:
            confirmed = self._confirmed(c.track)
            if c.always or confirmed:
                kept.append(c)
                boxes.append(c.confirmed_box if confirmed and c.confirmed_box is not None else c.box)
        if not kept:
            return pending.index, pending.payload, Detections.empty()
        boxes = np.clip(np.array(boxes), 0.0, 1.0)
        ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        dets = Detections(
            boxes,
            [c.score for c in kept],
            np.full(len(kept), self.class_id),
            track_ids=[c.track.id for c in kept],
            sources=[c.source for c in kept],
        )
        return pending.index, pending.payload, dets[np.flatnonzero(ok)] if not ok.all() else dets


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
