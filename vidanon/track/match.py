"""Matching a frame's detections to the tracks (:class:`vidanon.track.SortTracker`): by IoU, then
what is left by the distance between centres in box sizes (small or fast faces)."""

from __future__ import annotations

import numpy as np

from ..detections import iou_matrix
from .kalman import Track
from .lsap import linear_sum_assignment

# A track found once, clearly, then missed by half-size passes only (``blind``: see ``carry`` in
# vidanon.track.sort) has no speed yet: a clear detection (at the threshold) is looked for up to
# BLIND_REACH box sizes a frame away (a weaker one: ``max_distance``), but only where nothing
# else lies that near either end: no other track, no other detection of the frame (a crowd,
# where the face a track lost and a face just found beside it are two faces). The detector's box
# of a small face is smaller than the face (27 px for a 33 px face at 1080p), so a face moving its
# own width a frame moves 1.2-1.5 boxes: QA's 1080p faces of 33 px at 32-40 px a frame were
# found anew by every full pass (101 tracks for 8 faces) and showed in up to half their frames.
# Without the guard, a row of still faces 2.5-3.5 boxes apart whose detections blink chained
# neighbours into one track (tests/test_track_fast.py). Measured: docs/precision.md, round twenty-five.
BLIND_REACH = 1.75


def centre_distance(tracks_boxes: np.ndarray, det_boxes: np.ndarray, any_size: bool = False) -> np.ndarray:
    """Distance between box centres in units of the track box's size, per axis (so that
    it means the same in normalized coordinates of any frame shape); infinite where the
    sizes differ by more than a factor of 2 (unless ``any_size``)."""
    t = np.asarray(tracks_boxes, np.float64).reshape(-1, 4)
    d = np.asarray(det_boxes, np.float64).reshape(-1, 4)
    th = np.maximum(t[:, 2] - t[:, 0], 1e-9)[:, None]
    tw = np.maximum(t[:, 3] - t[:, 1], 1e-9)[:, None]
    dy = ((d[:, 0] + d[:, 2]) - (t[:, 0:1] + t[:, 2:3])) / 2 / th
    dx = ((d[:, 1] + d[:, 3]) - (t[:, 1:2] + t[:, 3:4])) / 2 / tw
    if any_size:
        return np.hypot(dy, dx)
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


def associate_by_distance(tracks: list[Track], det_boxes: np.ndarray, max_distance: float, blind=None,
                          clear=None, around=None):  # fmt: skip
    """Hungarian matching on centre distance (see :func:`centre_distance`) from either the
    track's predicted or its last detected box; the gate widens by 10% per missed frame
    (at most 2.5 times); ``max_distance`` per missed frame for the tracks flagged ``blind`` (found
    once, then missed by passes blind to small faces only), BLIND_REACH per missed frame from such a
    track to a detection flagged ``clear`` with nothing else near either (``around``: see
    :func:`alone`). Returns :func:`associate`'s triple."""
    nt, nd = len(tracks), len(det_boxes)
    if nt == 0 or nd == 0:
        return [], list(range(nt)), list(range(nd))
    predicted = np.array([t.box() for t in tracks])
    last = np.array([t.last_box for t in tracks])
    dist = np.minimum(centre_distance(predicted, det_boxes), centre_distance(last, det_boxes))
    missed = np.array([t.time_since_update for t in tracks])
    gate = np.repeat((max_distance * np.minimum(1.0 + 0.1 * (missed - 1), 2.5))[:, None], nd, axis=1)
    if blind is not None:
        blind = np.asarray(blind, bool)
        gate[blind] = np.maximum(gate[blind], (max_distance * missed[blind])[:, None])
        if clear is not None:
            for i, j in zip(*np.nonzero(blind[:, None] & np.asarray(clear, bool)[None, :]
                                        & (dist > gate) & (dist <= BLIND_REACH * missed[:, None]))):
                if around is None or alone(last[i], det_boxes[j], BLIND_REACH * missed[i], *around, i, j):
                    gate[i, j] = BLIND_REACH * missed[i]
    cost = np.where(dist <= gate, dist, 1e6)
    rows, cols = linear_sum_assignment(cost)
    return _split([(r, c) for r, c in zip(rows, cols) if cost[r, c] < 1e6], nt, nd)


def alone(track_box, det_box, reach, track_boxes, own_tracks, det_all, own_dets, i: int, j: int) -> bool:
    """Whether no box of ``track_boxes`` (every track's, but the ``i``-th of ``own_tracks``) nor of
    ``det_all`` (every detection of the frame, but the ``j``-th of ``own_dets``) has its centre within
    ``reach`` box sizes of ``track_box`` or of ``det_box`` (a face, whatever its size)."""
    others_t = np.delete(np.asarray(track_boxes).reshape(-1, 4), own_tracks[i], axis=0)
    others_d = np.delete(np.asarray(det_all).reshape(-1, 4), own_dets[j], axis=0)
    others = np.concatenate([others_t, others_d])
    if not len(others):
        return True
    near = centre_distance(np.array([track_box, det_box]), others, any_size=True)
    return not (near <= reach).any()


def _split(matches: list[tuple[int, int]], nt: int, nd: int):
    mt = {r for r, _ in matches}
    md = {c for _, c in matches}
    return matches, [t for t in range(nt) if t not in mt], [d for d in range(nd) if d not in md]
