"""What the review sheet says: the tracks of a run and the frames worth a look, ranked."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..detections import DETECTED, SOURCE_NAMES, Detections, iou_matrix

THUMB_WIDTH = 480


THUMB_MAX_HEIGHT = 3 * THUMB_WIDTH  # a taller frame's thumbnail is narrower (a 16x4000 video: 120000 px high)


THUMBS = 12  # sampled frames on a sheet


FLAGGED_THUMBS = 8  # of which at most this many are flagged frames, the rest evenly spaced


THIN_RATIO = 0.6  # a person mask covering less than this share of its track's usual cover is "thin"


THIN_MIN = 0.1  # ... as is one covering less than this share of its box, whatever the track


CARRIED_MIN_SECONDS = 0.2  # shorter runs without a detection are the tracker's routine (e.g. --scan-every)


ISOLATED_IOU = 0.3  # an untracked box (--no-track) with no box this close in the frames beside it


# per frame, the share of each box its person mask covers (see mask_cover); None: faces
Covers = Sequence[Sequence[float] | None]


KIND_TEXT = {"one-frame": "mask in one frame only", "carried": "carried without detection", "low-score": "low score",
             "thin-mask": "thin person mask", "too-large": "large mask not drawn"}


@dataclass(frozen=True)
class Flag:
    """One frame worth a look: why (``kind``, ``detail``) and how much (``weight``, higher first)."""

    frame: int
    time: float  # seconds from the start of the video
    track: int  # -1: a box no track owns (--no-track)
    kind: str  # "one-frame", "carried", "low-score", "thin-mask" or "too-large" (see KIND_TEXT)
    detail: str
    weight: float


@dataclass(frozen=True)
class TrackSpan:
    """Every frame a track's box was hidden in, with its source and score there (frames sorted)."""

    id: int
    frames: np.ndarray
    sources: np.ndarray
    scores: np.ndarray

    @property
    def detected(self) -> np.ndarray:
        return self.sources == DETECTED


@dataclass(frozen=True)
class Sheet:
    """What a review sheet shows, ready to draw."""

    video: str
    output: str
    width: int
    height: int
    pixel_aspect: float
    fps: float
    times: np.ndarray  # seconds from the start, per frame
    frames: list[Detections]  # the boxes hidden in each frame
    tracks: list[TrackSpan]
    flags: list[Flag]  # ranked
    picked: list[int]  # the sampled frames, in time order
    threshold: float
    mask_scale: float
    people: bool
    rows: list = field(default_factory=list)  # one per track, ranked (see vidanon.review.rank.TrackRow)

    @property
    def worth_a_look(self) -> int:
        """How many tracks (rows) have a reason to be looked at."""
        return sum(1 for r in self.rows if r.worth_a_look)

    @property
    def thumb_height(self) -> int:
        return min(self._full_height, THUMB_MAX_HEIGHT)

    @property
    def thumb_width(self) -> int:
        """The thumbnail's picture: THUMB_WIDTH wide, or narrower for a frame over 3 times as tall as wide
        (THUMB_MAX_HEIGHT; it is then centred in a THUMB_WIDTH column)."""
        if self._full_height <= THUMB_MAX_HEIGHT:
            return THUMB_WIDTH
        return min(THUMB_WIDTH, max(1, round(THUMB_MAX_HEIGHT * self.width * self.pixel_aspect / self.height)))

    @property
    def _full_height(self) -> int:
        return max(1, round(THUMB_WIDTH * self.height / (self.width * self.pixel_aspect)))


def time_code(seconds: float) -> str:
    """``HH:MM:SS.mmm``."""
    ms = int(round(max(0.0, seconds) * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def collect_tracks(frames: Sequence[Detections]) -> list[TrackSpan]:
    """The tracks of a run, in order of first appearance (boxes no track owns are left out)."""
    rows: dict[int, list[tuple[int, int, float]]] = defaultdict(list)
    for index, dets in enumerate(frames):
        for tid, source, score in zip(dets.track_ids, dets.sources, dets.scores):
            if tid >= 0:
                rows[int(tid)].append((index, int(source), float(score)))
    tracks = []
    for tid, items in rows.items():
        items.sort()
        arr = np.array(items, dtype=np.float64)
        tracks.append(TrackSpan(tid, arr[:, 0].astype(np.int64), arr[:, 1].astype(np.uint8), arr[:, 2]))
    tracks.sort(key=lambda t: (int(t.frames[0]), t.id))
    return tracks


def find_flags(frames: Sequence[Detections], times: np.ndarray, fps: float, threshold: float,
               tracks: list[TrackSpan] | None = None, covers: Covers | None = None) -> list[Flag]:  # fmt: skip
    """The frames most worth a look, highest ``weight`` first.

    Weights: a mask in one frame only 1.0; a run of frames carried without a detection its
    length in seconds (at most 2), halved when detections bound it on both sides (an
    interpolation); a track below the threshold 0.5 to 1 (1 - best / threshold, halved, plus
    0.5) when none of its detections reaches it, else at most 0.5 for its lowest detection; a
    thin person mask (``covers``: per frame, the share of each box its mask covers, see
    :func:`mask_cover`) 1 - cover / the track's median cover, once per run of thin frames.
    """
    tracks = collect_tracks(frames) if tracks is None else tracks
    times = np.asarray(times, np.float64)
    frame_s = 1.0 / fps if fps > 0 else 0.0
    flags: list[Flag] = []

    def add(frame: int, track: int, kind: str, detail: str, weight: float) -> None:
        flags.append(Flag(int(frame), float(times[frame]), track, kind, detail, round(float(weight), 4)))

    for t in tracks:
        if t.frames[0] == t.frames[-1]:  # one frame (one box, or two)
            add(t.frames[0], t.id, "one-frame", f"{SOURCE_NAMES[int(t.sources[0])]}, score {t.scores[0]:.2f}; "
                "the face may show unmasked in the frames around it", 1.0)  # fmt: skip
            continue
        flags.extend(_carried_flags(t, times, frame_s))
        det = t.detected
        if det.any():
            best, low = float(t.scores[det].max()), int(np.flatnonzero(det)[np.argmin(t.scores[det])])
            below = int((t.scores[det] < threshold).sum())
            if best < threshold:
                add(t.frames[low], t.id, "low-score", f"no detection of this track reaches the threshold "
                    f"{threshold:g} (best {best:.2f}, lowest {t.scores[low]:.2f} here): a hard face or a false "
                    "alarm", 0.5 + 0.5 * (1 - best / threshold))  # fmt: skip
            elif below:
                add(t.frames[low], t.id, "low-score", f"score {t.scores[low]:.2f} (threshold {threshold:g}); "
                    f"{below} of {int(det.sum())} detections below it", 0.5 * (1 - t.scores[low] / threshold))  # fmt: skip
    for index, box in _isolated_untracked(frames):
        dets = frames[index]
        add(index, -1, "one-frame", f"score {dets.scores[box]:.2f}, no box near it in the frames beside it", 1.0)
    if covers is not None:
        flags.extend(_thin_mask_flags(frames, covers, times))
    flags.sort(key=lambda f: (-f.weight, f.frame, f.track))
    return flags


def _carried_flags(track: TrackSpan, times: np.ndarray, frame_s: float) -> list[Flag]:
    """One flag per run of consecutive frames the track was carried through without a detection."""
    out = []
    det = track.detected
    n = len(track.frames)
    start = 0
    while start < n:
        if det[start]:
            start += 1
            continue
        end = start
        # (a track may hold two boxes in a frame: the next frame, or the same one again)
        while end + 1 < n and not det[end + 1] and track.frames[end + 1] - track.frames[end] <= 1:
            end += 1
        a, b = int(track.frames[start]), int(track.frames[end])
        seconds = float(times[b] - times[a]) + frame_s
        if b > a and seconds >= CARRIED_MIN_SECONDS:
            before, after = bool(det[:start].any()), bool(det[end + 1 :].any())
            names = " + ".join(SOURCE_NAMES[s] for s in sorted(set(int(v) for v in track.sources[start : end + 1])))
            if before and after:
                frame, factor = (a + b) // 2, 0.5  # bounded by detections: the middle drifts most
            elif before:
                frame, factor = b, 1.0  # predicted/followed after the last detection: the end
            elif after:
                frame, factor = a, 1.0  # back-filled before the first detection: the start
            else:
                frame, factor = (a + b) // 2, 1.0
            detail = f"{b - a + 1} frames ({seconds:.2f} s, from {time_code(times[a])}) without a detection ({names})"
            out.append(Flag(frame, float(times[frame]), track.id, "carried", detail,
                            round(factor * min(seconds, 2.0), 4)))  # fmt: skip
        start = end + 1
    return out


# the masks --max-face-size left out: (frame, track id, share of the frame) each, and that limit
Refused = tuple[Sequence[tuple[int, int, float]], float]


def refused_flags(boxes: Sequence[tuple[int, int, float]], limit: float, times: np.ndarray) -> list[Flag]:
    """One flag per track whose mask was refused for its size (at its largest), weight 1: a
    false alarm, or a face close to the camera left visible."""
    largest: dict[int, tuple[float, int]] = {}  # by track (a box no track owns: by frame, keyed below -1)
    for frame, track, share in boxes:
        key = track if track >= 0 else -2 - frame
        if share > largest.get(key, (0.0, 0))[0]:
            largest[key] = (share, frame)
    return [Flag(frame, float(times[frame]), max(track, -1), "too-large", f"a mask over {share:.0%} of the frame was "
                 f"not drawn (limit {limit:g}): a false alarm, or a face close to the camera left visible", 1.0)
            for track, (share, frame) in sorted(largest.items(), key=lambda kv: kv[1][1])]  # fmt: skip


def mask_cover(dets: Detections) -> list[float] | None:
    """The share of each box its soft mask covers at half strength or more (the people
    renderer's ramp from COVER_LOW to COVER_HIGH at its middle); None for boxes without masks
    of their own (faces: one fixed shape)."""
    from ..render.segment import COVER_HIGH, COVER_LOW

    if dets.masks is None:
        return None
    return [round(float((m >= (COVER_LOW + COVER_HIGH) / 2).mean()), 4) for m in dets.masks]


def _thin_mask_flags(frames: Sequence[Detections], covers: Covers, times: np.ndarray) -> list[Flag]:
    """One flag per run of frames in which a track's person mask is thin (see :data:`THIN_RATIO`),
    at its thinnest frame."""
    per: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for index, (dets, cover) in enumerate(zip(frames, covers)):
        if cover is not None and len(cover) == len(dets):
            for tid, c in zip(dets.track_ids, cover):
                per[int(tid)].append((index, float(c)))
    out = []
    for tid, items in per.items():
        usual = float(np.median([c for _, c in items]))
        thin = [(i, c) for i, c in items if c < max(THIN_RATIO * usual, THIN_MIN)]
        runs: list[list[tuple[int, float]]] = []
        for i, c in thin:
            if runs and i - runs[-1][-1][0] <= 1:
                runs[-1].append((i, c))
            else:
                runs.append([(i, c)])
        for run in runs:
            frame, c = min(run, key=lambda item: item[1])
            span = f"; {run[-1][0] - run[0][0] + 1} frames from {time_code(times[run[0][0]])}" if len(run) > 1 else ""
            out.append(Flag(frame, float(times[frame]), tid, "thin-mask", f"the person mask covers {c:.0%} of its "
                            f"box (usually {usual:.0%} in this track){span}: the person may show", round(
                                float(np.clip(1 - c / usual, 0, 1)) if usual > 0 else 1.0, 4)))  # fmt: skip
    return out


def _isolated_untracked(frames: Sequence[Detections]):
    """``(frame, box)`` of the boxes no track owns that no box of the frames beside them overlaps."""
    for index, dets in enumerate(frames):
        loose = np.flatnonzero(dets.track_ids < 0)
        if not len(loose):
            continue
        near = [frames[j].boxes for j in (index - 1, index + 1) if 0 <= j < len(frames) and len(frames[j])]
        others = np.concatenate(near) if near else np.zeros((0, 4), np.float32)
        for box in loose:
            if not len(others) or iou_matrix(dets.boxes[box : box + 1], others).max() < ISOLATED_IOU:
                yield index, int(box)


def pick_frames(ranked: Sequence[int], n_frames: int, count: int = THUMBS, flagged: int = FLAGGED_THUMBS,
                within: tuple[int, int] | None = None) -> list[int]:  # fmt: skip
    """The frames to show: the first ``flagged`` of the ``ranked`` frames (the top tracks'
    most doubtful frames), then evenly spaced ones up to ``count`` (each the free frame nearest
    its ideal position), in time order. ``within``: the first and last frame of the span
    ``--start``/``--end`` (the frames the run looked at), where the evenly spaced ones are taken."""
    lo, hi = within if within is not None else (0, n_frames - 1)
    chosen: list[int] = []
    for frame in ranked:
        if len(chosen) >= min(flagged, count):
            break
        if frame not in chosen:
            chosen.append(frame)
    need = min(count, hi - lo + 1) - len(chosen)
    if need > 0:
        taken = set(chosen)
        for ideal in np.linspace(lo, hi, need):
            ideal = int(round(ideal))
            for step in range(hi - lo + 1):
                hit = next((c for c in (ideal - step, ideal + step) if lo <= c <= hi and c not in taken), None)
                if hit is not None:
                    taken.add(hit)
                    chosen.append(hit)
                    break
    return sorted(chosen)
