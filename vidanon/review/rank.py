"""The review sheet's list: one row per track, the likeliest false ones first.

A busy clip flags hundreds of frames; what a reviewer checks is a track (one face, or one
false mask on a poster, a wall or a wheel). Each track (and, with ``--no-track``, each group
of untracked boxes that overlap from frame to frame) becomes one :class:`TrackRow`, ranked by
the evidence of the track itself (:func:`doubt`): how far its best score stays from a clear
detection, the share of its frames that were carried (predicted, interpolated, back-filled,
followed) rather than detected, how short it is, and the frame flags of :func:`find_flags`
(carried runs, thin person masks, masks refused as too large), one term per kind.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from ..detections import DETECTED, Detections, iou_matrix
from .flags import ISOLATED_IOU, KIND_TEXT, Flag, TrackSpan

EXTRA_KINDS = ("carried", "thin-mask", "too-large")  # flag kinds that add to a track's doubt (the others are in it)


@dataclass(frozen=True)
class TrackRow:
    """One line of the list: a track (or an untracked box group), its span, evidence and reasons."""

    track: int  # -1: boxes no track owns (--no-track), or a mask not drawn without a track
    label: str  # "3", "untracked 2"
    first: int  # frames
    last: int
    frames: int  # frames with a box of it
    detected: int  # ... of which detected (the rest carried by the tracker, or not drawn)
    best: float  # best detection score (0: none)
    doubt: float  # the rank: higher first
    reasons: tuple[tuple[str, str], ...]  # (kind, detail) of its flags, strongest first
    thumb: int  # its most doubtful frame, shown
    box: np.ndarray | None  # its box there (None: a mask not drawn, no box kept)

    @property
    def worth_a_look(self) -> bool:
        return bool(self.reasons)

    def reason_text(self) -> list[str]:
        return [f"{KIND_TEXT[kind]}: {detail}" for kind, detail in self.reasons]


def doubt(best: float, detected_share: float, length: int, threshold: float, extra: float) -> float:
    """How likely a track is false: twice ``1 - best / (2 * threshold)`` (0 from twice the
    threshold up, 1 for a track never detected), plus the share of frames carried, plus
    ``1 / sqrt(length)`` (1 for one frame), plus ``extra`` (the flags' weights, at most 1 a kind)."""
    weak = float(np.clip(1.0 - best / (2 * threshold), 0.0, 1.0)) if threshold > 0 else 0.0
    return round(2 * weak + (1.0 - detected_share) + 1.0 / np.sqrt(max(length, 1)) + extra, 4)


def untracked_groups(frames: Sequence[Detections]) -> list[tuple[TrackSpan, list[np.ndarray]]]:
    """The boxes no track owns, chained into groups: a box joins the group whose box in the
    frame before overlaps it most (IoU :data:`ISOLATED_IOU` or more); with each group's boxes."""
    groups: list[tuple[list[tuple[int, int, float]], list[np.ndarray]]] = []
    open_: list[int] = []  # groups that reached the frame before
    for index, dets in enumerate(frames):
        loose = np.flatnonzero(dets.track_ids < 0)
        now: list[int] = []
        free = [g for g in open_]
        for i in loose:
            box = dets.boxes[i]
            g = None
            if free:
                ious = iou_matrix(box[None], np.array([groups[k][1][-1] for k in free]))[0]
                if ious.max() >= ISOLATED_IOU:
                    g = free.pop(int(np.argmax(ious)))
            if g is None:
                groups.append(([], []))
                g = len(groups) - 1
            groups[g][0].append((index, int(dets.sources[i]), float(dets.scores[i])))
            groups[g][1].append(np.asarray(box, np.float32))
            now.append(g)
        open_ = now
    out = []
    for n, (items, boxes) in enumerate(groups, 1):
        arr = np.array(items, np.float64)
        out.append((TrackSpan(-n, arr[:, 0].astype(np.int64), arr[:, 1].astype(np.uint8), arr[:, 2]), boxes))
    return out


def rank_tracks(frames: Sequence[Detections], threshold: float, tracks: list[TrackSpan], flags: Sequence[Flag],
                refused: Sequence[tuple[int, int, float]] = ()) -> list[TrackRow]:  # fmt: skip
    """One row per track, per untracked box group and per refused track with no box drawn:
    those with a flag first, each part by highest :func:`doubt` (then by first frame)."""
    by_track: dict[int, list[Flag]] = defaultdict(list)
    loose_flags: dict[int, list[Flag]] = defaultdict(list)  # untracked: by frame
    for f in flags:
        (by_track[f.track] if f.track >= 0 else loose_flags[f.frame]).append(f)
    spans: list[tuple[TrackSpan, str, list[Flag], object]] = []
    for t in tracks:
        spans.append((t, str(t.id), by_track.pop(t.id, []), None))
    for span, boxes in untracked_groups(frames):  # a lone box's flag goes to its one-frame group
        alone = span.frames[0] == span.frames[-1]
        own = [f for i in sorted(set(span.frames.tolist())) for f in loose_flags.get(i, [])
               if (f.kind == "one-frame") == alone]  # fmt: skip
        for f in own:
            loose_flags[f.frame].remove(f)
        spans.append((span, f"untracked {-span.id}", own, boxes))
    loose_flags = {i: fl for i, fl in loose_flags.items() if fl}
    refused_frames: dict[int, list[int]] = defaultdict(list)  # masks refused for their size
    for frame, track, _ in refused:
        refused_frames[track if track >= 0 else -2 - frame].append(frame)
    rows = [_row(span, label, own, boxes, frames, threshold) for span, label, own, boxes in spans]
    # a track's span takes in the frames where its mask was refused (the face shows there)
    rows = [replace(r, first=min(r.first, *refused_frames[r.track]), last=max(r.last, *refused_frames[r.track]))
            if r.track >= 0 and refused_frames.get(r.track) else r for r in rows]  # fmt: skip
    # masks refused for their size, of tracks (or frames) that left no box drawn
    for key, fl in list(by_track.items()) + [(-2 - i, fl) for i, fl in loose_flags.items()]:
        hit = sorted(set(refused_frames.get(key, [])) or {f.frame for f in fl})
        label = str(key) if key >= 0 else "untracked"
        ranked = sorted(fl, key=lambda f: -f.weight)
        extra = sum(min(1.0, max(f.weight for f in fl if f.kind == k)) for k in {f.kind for f in fl})
        rows.append(TrackRow(max(key, -1), label, hit[0], hit[-1], len(hit), 0, 0.0,
                             doubt(0.0, 0.0, len(hit), threshold, extra), tuple((f.kind, f.detail) for f in ranked),
                             ranked[0].frame, None))  # fmt: skip
    rows.sort(key=lambda r: (not r.worth_a_look, -r.doubt, r.first, r.label))  # tracks without a flag last
    return rows


def _row(span: TrackSpan, label: str, own: list[Flag], boxes, frames: Sequence[Detections],
         threshold: float) -> TrackRow:  # fmt: skip
    det = span.sources == DETECTED
    best = float(span.scores[det].max()) if det.any() else 0.0
    unique = np.unique(span.frames)
    detected = len(np.unique(span.frames[det]))
    extra = 0.0
    for kind in EXTRA_KINDS:
        weights = [f.weight for f in own if f.kind == kind]
        extra += min(1.0, max(weights)) if weights else 0.0
    ranked = sorted(own, key=lambda f: -f.weight)
    if ranked:
        thumb = ranked[0].frame
    else:  # no flag: its weakest frame (a carried one scores 0)
        thumb = int(span.frames[int(np.argmin(span.scores))])
    if boxes is not None:
        box = boxes[int(np.flatnonzero(span.frames == thumb)[0])] if (span.frames == thumb).any() else boxes[0]
    else:
        dets = frames[thumb]
        hit = np.flatnonzero(dets.track_ids == span.id)
        box = dets.boxes[hit[0]] if len(hit) else None
    return TrackRow(span.id if span.id >= 0 else -1, label, int(span.frames[0]), int(span.frames[-1]), len(unique),
                    detected, best, doubt(best, detected / len(unique), len(unique), threshold, extra),
                    tuple((f.kind, f.detail) for f in ranked), int(thumb), box)  # fmt: skip
