"""One SORT track: a constant-velocity Kalman filter over a box's centre, area and aspect
(Bewley et al. 2016), with the history the look-ahead needs.

The filter is filterpy's ``KalmanFilter`` (Labbe, *Kalman and Bayesian Filters in Python*)
reduced to what SORT uses: :class:`KalmanFilter` below does its ``predict`` and ``update``
with the same arithmetic in the same order (a test checks they agree to the last bit).
Importing filterpy itself imports ``scipy.stats`` (1.2 s of every start on 2 cores)."""

from __future__ import annotations

import numpy as np

from ..detections import scale_box, union_box
from .appearance import Appearance

EARLY_FIT = 6  # detections fitted to extrapolate a track back before its start


def _constant(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# SORT's model, shared by every track (read-only): the state [u, v, s, r, u', v', s'] moves by
# its velocities (F); the box [u, v, s, r] is measured (H). Noise levels as described for SORT:
# measurements of scale and ratio are noisier than of position (R); the unobserved velocities
# start very uncertain (P0).
_F = np.eye(7)
_F[0, 4] = _F[1, 5] = _F[2, 6] = 1.0
_H = np.eye(4, 7)
_R = np.eye(4)
_R[2:, 2:] *= 10.0
_Q = np.eye(7)
_Q[-1, -1] *= 0.01
_Q[4:, 4:] *= 0.01
_P0 = np.eye(7)
_P0[4:, 4:] *= 1000.0
_P0 *= 10.0
_F, _H, _R, _Q, _P0 = map(_constant, (_F, _H, _R, _Q, _P0))
_I7 = _constant(np.eye(7))


class KalmanFilter:
    """A linear Kalman filter: state ``x`` (dim_x, 1), covariance ``P``, transition ``F``,
    process noise ``Q``, measurement ``H`` and its noise ``R`` (filterpy's names and
    defaults: identities, ``H`` and ``x`` zero); the covariance update in Joseph form."""

    def __init__(self, dim_x: int, dim_z: int) -> None:
        self.x = np.zeros((dim_x, 1))
        self.P = np.eye(dim_x)
        self.Q = np.eye(dim_x)
        self.F = np.eye(dim_x)
        self.H = np.zeros((dim_z, dim_x))
        self.R = np.eye(dim_z)
        self._I = np.eye(dim_x)

    def predict(self) -> None:
        self.x = np.dot(self.F, self.x)
        self.P = 1.0 * np.dot(np.dot(self.F, self.P), self.F.T) + self.Q

    def update(self, z: np.ndarray) -> None:
        z = np.asarray(z, np.float64).reshape(-1, 1)
        y = z - np.dot(self.H, self.x)
        pht = np.dot(self.P, self.H.T)
        s = np.dot(self.H, pht) + self.R
        k = np.dot(pht, np.linalg.inv(s))
        self.x = self.x + np.dot(k, y)
        i_kh = self._I - np.dot(k, self.H)
        self.P = np.dot(np.dot(i_kh, self.P), i_kh.T) + np.dot(np.dot(k, self.R), k.T)


def boxes_to_z(boxes: np.ndarray) -> np.ndarray:
    """Boxes ``[ymin, xmin, ymax, xmax]`` (N, 4) -> measurements ``[u, v, s, r]`` (centre, area, w/h)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    h = np.maximum(boxes[:, 2] - boxes[:, 0], 1e-6)
    w = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)
    return np.stack([boxes[:, 1] + w / 2, boxes[:, 0] + h / 2, w * h, w / h], axis=1)


def box_to_z(box: np.ndarray) -> np.ndarray:
    """:func:`boxes_to_z` of one box (4,)."""
    return boxes_to_z(box)[0]


def z_to_boxes(z: np.ndarray) -> np.ndarray:
    """Measurements or states' first four ``[u, v, s, r]`` (N, 4) -> boxes ``[ymin, xmin, ymax, xmax]``."""
    u, v = z[:, 0], z[:, 1]
    s = np.maximum(z[:, 2], 1e-12)
    w = np.sqrt(s * np.maximum(z[:, 3], 1e-6))
    h = s / w
    return _constant(np.stack([v - h / 2, u - w / 2, v + h / 2, u + w / 2], axis=1))


def z_to_box(z: np.ndarray) -> np.ndarray:
    """:func:`z_to_boxes` of one state (its first four numbers), read-only."""
    return z_to_boxes(np.asarray(z, np.float64)[:4].reshape(1, 4))[0]


class Track:
    """One face: a Kalman filter over ``[u, v, s, r, u', v', s']``."""

    def __init__(self, track_id: int, box: np.ndarray, frame: int, scene_start: int = 0) -> None:
        kf = KalmanFilter(dim_x=7, dim_z=4)
        kf.F, kf.H, kf.R, kf.Q, kf._I = _F, _H, _R, _Q, _I7  # shared: see predict_all and update_all
        kf.P = _P0.copy()
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
        self.followed_back: dict[int, np.ndarray] | None = None  # back-fill by its look (see vidanon.track.backfill)
        self._look: tuple[np.ndarray, np.ndarray] | None = None  # (frame, box) of its last confident detection
        self._appearance: Appearance | None = None
        self.best_score = 0.0  # the highest detection score matched to it
        self.first_score = 0.0  # the score of the detection that started it
        self.last_score = 0.0  # the score of its last detection
        self._box_of: np.ndarray | None = None  # the state self._box was computed from
        self._early_line: tuple | None = None  # (detections fitted, line or None, first geometry): early_box
        self._box = np.zeros(4)

    def predict(self) -> np.ndarray:
        if self.kf.x[2, 0] + self.kf.x[6, 0] <= 0:
            self.kf.x[6, 0] = 0.0
        self.kf.predict()
        self.time_since_update += 1
        return self.box()

    def update(self, box: np.ndarray, frame: int) -> None:
        self.kf.update(box_to_z(box))
        self._detected_at(box, frame)

    # A crowd has hundreds of tracks a frame: their filters step together. numpy's stacked
    # matrix products compute each track's products as the one-track calls do (a test checks
    # the states are the same, bit for bit).
    @staticmethod
    def predict_all(tracks: list[Track]) -> np.ndarray:
        """:meth:`predict` for each of ``tracks`` at once; their boxes (N, 4)."""
        if not tracks:
            return np.zeros((0, 4))
        x = np.stack([t.kf.x for t in tracks])
        x[x[:, 2, 0] + x[:, 6, 0] <= 0, 6, 0] = 0.0
        x = np.matmul(_F, x)
        covariances = 1.0 * np.matmul(np.matmul(_F, np.stack([t.kf.P for t in tracks])), _F.T) + _Q
        boxes = z_to_boxes(x[:, :4, 0])
        for track, state, covariance, box in zip(tracks, x, covariances, boxes):
            track.kf.x, track.kf.P = state, covariance
            track._box, track._box_of = box, state
            track.time_since_update += 1
        return boxes

    @staticmethod
    def update_all(tracks: list[Track], boxes: list[np.ndarray], frame: int) -> None:
        """:meth:`update` for each of ``tracks`` with its detected box in ``frame``, at once."""
        if not tracks:
            return
        x = np.stack([t.kf.x for t in tracks])
        p = np.stack([t.kf.P for t in tracks])
        y = boxes_to_z(np.array(boxes, np.float64))[:, :, None] - np.matmul(_H, x)
        pht = np.matmul(p, _H.T)
        k = np.matmul(pht, np.linalg.inv(np.matmul(_H, pht) + _R))
        x = x + np.matmul(k, y)
        i_kh = _I7 - np.matmul(k, _H)
        p = np.matmul(np.matmul(i_kh, p), i_kh.swapaxes(1, 2)) + np.matmul(np.matmul(k, _R), k.swapaxes(1, 2))
        for track, state, covariance, box, shown in zip(tracks, x, p, boxes, z_to_boxes(x[:, :4, 0])):
            track.kf.x, track.kf.P = state, covariance
            track._box, track._box_of = shown, state
            track._detected_at(box, frame)

    def _detected_at(self, box: np.ndarray, frame: int) -> None:
        self.hits += 1
        self.time_since_update = 0
        self.last_frame = frame
        self.last_box = np.asarray(box, np.float64)
        self.detected[frame] = self.last_box

    def box(self) -> np.ndarray:
        """The filter's box (read-only: computed once per state; a crowd's tracker asks for
        each track's box several times a frame)."""
        x = self.kf.x
        if x is not self._box_of:  # predict and update make a new state array
            self._box, self._box_of = z_to_box(x[:, 0]), x
        return self._box

    def remember_look(self, image: np.ndarray, box: np.ndarray) -> None:
        """Keep where the face was last confidently seen; its :class:`Appearance` is only
        computed if the detector loses it (most tracks are never lost long enough)."""
        self._look = (image, box)
        self._appearance = None

    @property
    def appearance(self) -> Appearance | None:
        if self._look is not None:
            Track.recall_looks([self])
        return self._appearance

    @staticmethod
    def recall_looks(tracks: list[Track]) -> None:
        """Compute the :attr:`appearance` of ``tracks`` not computed yet, those last seen in the
        same frame together (:meth:`Appearance.of_many`); the frames are not held any longer."""
        by_frame: dict[int, list[Track]] = {}
        for track in tracks:
            if track._look is not None:
                by_frame.setdefault(id(track._look[0]), []).append(track)
        for group in by_frame.values():
            image = group[0]._look[0]
            for track, look in zip(group, Appearance.of_many(image, np.array([t._look[1] for t in group]))):
                track._appearance, track._look = look, None

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
        predicted = scale_box(box, factor, dy=min(sy, h / 4), dx=min(sx, w / 4))
        return union_box(predicted, scale_box(self.last_box, factor))

    def early_box(self, frame: int) -> np.ndarray:
        """The box extrapolated to ``frame`` (before the first detection) along the straight
        line fitted to the first few detections' centres and sizes."""
        fitted = min(len(self.detected), EARLY_FIT)
        if self._early_line is None or self._early_line[0] != fitted:  # once it has EARLY_FIT, fixed
            frames = sorted(self.detected)[:EARLY_FIT]
            boxes = np.array([self.detected[f] for f in frames])
            geometry = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2,
                                 boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)  # fmt: skip
            line = np.polyfit(np.asarray(frames, np.float64), geometry, 1) if fitted >= 2 else None
            self._early_line = (fitted, line, geometry[0])
        _, line, first = self._early_line
        cy, cx, h, w = first if line is None else line[0] * frame + line[1]
        h = max(h, first[2] / 2)  # a face does not shrink to nothing going back in time
        w = max(w, first[3] / 2)
        return np.array([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2])
