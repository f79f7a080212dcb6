"""The tracks file (``--save-tracks`` / ``--tracks``): the boxes hidden in every frame, as JSON.

``{"video": ..., "width": W, "height": H, "fps": F, "frames": [[{"id", "box", "score",
"class", "source"}, ...], ...]}``, one list per frame, boxes normalized
``[ymin, xmin, ymax, xmax]`` as in :class:`~vidanon.detections.Detections`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..detections import CLASS_NAMES, FACE, SOURCE_NAMES, Detections
from ..errors import InputError


def load_tracks(path: str, n_expected: int | None = None) -> list[Detections]:
    """Read a ``--save-tracks`` sidecar back into one Detections per frame."""
    try:
        with open(path, encoding="utf8") as fh:
            data = json.load(fh)
        return from_records(data["frames"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"cannot read tracks file {path}: {exc}") from None


def from_records(frames: list[list[dict]]) -> list[Detections]:
    """The records of every frame (as :func:`tracks_record` makes them) as one Detections per frame."""
    names = {v: k for k, v in SOURCE_NAMES.items()}
    classes = {v: k for k, v in CLASS_NAMES.items()}
    return [
        Detections(
            [o["box"] for o in objects],
            [o.get("score", 0.0) for o in objects],
            [classes.get(o.get("class", "face"), FACE) for o in objects],
            track_ids=[o.get("id", -1) for o in objects],
            sources=[names.get(o.get("source", "detected"), 0) for o in objects],
        )
        for objects in frames
    ]


def tracks_record(index: int, dets: Detections) -> list[dict]:
    return [
        {
            "id": int(dets.track_ids[i]),
            "box": [round(float(v), 6) for v in dets.boxes[i]],
            "score": round(float(dets.scores[i]), 4),
            "class": CLASS_NAMES.get(int(dets.classes[i]), "face"),
            "source": SOURCE_NAMES[int(dets.sources[i])],
        }
        for i in range(len(dets))
    ]


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "w", encoding="utf8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def save_tracks(path: str | os.PathLike, frames: list[list[dict]], video: str, width: int, height: int,
                fps: float) -> None:  # fmt: skip
    """Write the records of every frame (see :func:`tracks_record`) as a tracks file."""
    write_json(Path(path), {"video": video, "width": width, "height": height, "fps": float(fps), "frames": frames})


class TracksRecorder:
    """Collects the boxes hidden in each frame, for :func:`save_tracks` and the review sheet
    (:mod:`vidanon.review`), with each frame's time in seconds (None where unknown) and, for
    the review, how much of each box its person mask covers (None: a face's fixed ellipse)."""

    def __init__(self) -> None:
        self.frames: list[list[dict]] = []
        self.times: list[float | None] = []
        self.covers: list[list[float] | None] = []

    def add(self, index: int, dets: Detections, time: float | None = None, cover: list[float] | None = None) -> None:
        self.frames.append(tracks_record(index, dets))
        self.times.append(time)
        self.covers.append(cover)

    def save(self, path: str | os.PathLike, video: str, width: int, height: int, fps: float) -> None:
        save_tracks(path, self.frames, video, width, height, fps)


class ReplayTracker:
    """A :class:`~vidanon.tracking.Tracker` that replays a saved tracks file: frame ``i``
    gets the boxes the file lists for frame ``i`` whatever the detections (none are made).
    :meth:`flush` checks that the video had as many frames as the file."""

    lookahead = 0
    needs_detections = False

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        self.frames = load_tracks(self.path)
        self._frame = -1

    def push(self, payload, detections: Detections | None = None, cut: bool = False, frame=None):
        self._frame += 1
        index = self._frame
        yield index, payload, self.frames[index] if index < len(self.frames) else Detections.empty()

    def flush(self):
        if self._frame + 1 != len(self.frames):
            raise InputError(
                f"tracks file {self.path} has {len(self.frames)} frames but the video has {self._frame + 1}"
            )
        return iter(())
