"""The tracks file (``--save-tracks`` / ``--tracks``): the boxes hidden in every frame, as JSON.

``{"video": ..., "width": W, "height": H, "fps": F, "frames": [[{"id", "box", "score",
"class", "source"}, ...], ...]}``, one list per frame, boxes normalized
``[ymin, xmin, ymax, xmax]`` as in :class:`~vidanon.detections.Detections`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .detections import CLASS_NAMES, FACE, SOURCE_NAMES, Detections
from .errors import InputError


def load_tracks(path: str, n_expected: int | None = None) -> list[Detections]:
    """Read a ``--save-tracks`` sidecar back into one Detections per frame."""
    try:
        with open(path, encoding="utf8") as fh:
            data = json.load(fh)
        frames = data["frames"]
        out = []
        names = {v: k for k, v in SOURCE_NAMES.items()}
        classes = {v: k for k, v in CLASS_NAMES.items()}
        for objects in frames:
            out.append(
                Detections(
                    [o["box"] for o in objects],
                    [o.get("score", 0.0) for o in objects],
                    [classes.get(o.get("class", "face"), FACE) for o in objects],
                    track_ids=[o.get("id", -1) for o in objects],
                    sources=[names.get(o.get("source", "detected"), 0) for o in objects],
                )
            )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"cannot read tracks file {path}: {exc}") from None
    return out


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
