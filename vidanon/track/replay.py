"""The tracks file (``--save-tracks`` / ``--tracks``): the boxes hidden in every frame, as JSON.

``{"video": ..., "width": W, "height": H, "fps": F, "looked_for": ["faces", ...], "frames":
[[{"id", "box", "score", "class", "source"}, ...], ...]}``, one list per frame, boxes normalized
``[ymin, xmin, ymax, xmax]`` as in :class:`~vidanon.detections.Detections`. Only "frames"
and each box's "box" are required (a file written by hand): "width" and "height", when
given, must be the replayed video's; "looked_for", the kinds of boxes the run that saved it
looked for (a splash run's file has people only: no face was looked for); a box's "id"
defaults to -1 (no track), "score" to 0.0, "class" to face and "source" to detected.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..detections import CLASS_NAMES, FACE, SOURCE_NAMES, Detections
from ..errors import InputError
from ..targets import BY_CLASS, TARGETS

# A tracks file lists at most this many boxes in a frame (what vidanon writes is far below:
# a crowd is a few hundred faces); more is refused when the file is read, as rendering
# tens of thousands of boxes a frame would take minutes a frame.
MAX_BOXES_PER_FRAME = 1000
_ID_RANGE = (-1, 2**63 - 1)  # -1: no track
BOX_REACH = 1000  # a box's corners and its score lie within this much of 0 (in frames; a score near 0-1)


def load_tracks(path: str, n_expected: int | None = None) -> list[Detections]:
    """Read a ``--save-tracks`` sidecar back into one Detections per frame; a file that is
    not one, or a box that would hide nothing or cannot be drawn, is an :class:`InputError`
    naming the frame and the box."""
    return from_records(read_tracks(path)["frames"])


def read_tracks(path: str) -> dict:
    """The JSON object of a tracks file, its header and every box checked (see
    :func:`check_file`); anything wrong is an :class:`InputError` in words."""
    try:
        with open(path, encoding="utf-8-sig") as fh:  # a byte-order mark too (Windows' Notepad writes one)
            data = json.load(fh)
    except OSError as exc:
        raise InputError(f"cannot read tracks file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"cannot read tracks file {path}: it is not text (a tracks file is JSON)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"cannot read tracks file {path}: it is not JSON (line {exc.lineno}, column {exc.colno}: "
                         f"{exc.msg})") from None
    except (ValueError, RecursionError):  # a number too long to read, lists nested thousands deep
        raise InputError(f"cannot read tracks file {path}: its JSON is nested too deep or a number too long") from None
    problem = check_file(data)
    if problem is not None:
        raise InputError(f"tracks file {path}: {problem}")
    return data


def _kind(value) -> str:
    """The JSON type of ``value``, in words."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "true or false", type(None): "null"}
    return names.get(type(value), "a number")


def check_file(data) -> str | None:
    """What is wrong with a tracks file's JSON (its header, then its records), or None."""
    if not isinstance(data, dict):
        return f"must be a JSON object with a 'frames' list, not {_kind(data)}"
    if "frames" not in data:
        return "has no 'frames' list (one list of boxes per frame)"
    for key in ("width", "height"):
        value = data.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            return f"'{key}' must be the video's {key} in pixels, not {json.dumps(value)[:40]}"
    if (data.get("width") is None) != (data.get("height") is None):
        return "gives only one of 'width' and 'height' (give both, or neither)"
    looked = data.get("looked_for")
    if looked is not None and (not isinstance(looked, list) or not all(k in TARGETS for k in looked)):
        return f"'looked_for' must list kinds of boxes ({', '.join(TARGETS)}), not {json.dumps(looked)[:60]}"
    return check_records(data["frames"])


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _box_problem(o) -> str | None:
    """What is wrong with one box record, or None."""
    if not isinstance(o, dict):
        return "not an object"
    box = o.get("box")
    if not isinstance(box, list) or len(box) != 4 or not all(_number(v) for v in box):
        return f"'box' must be 4 numbers [ymin, xmin, ymax, xmax], not {json.dumps(box)[:60]}"
    if not all(isinstance(v, int) or math.isfinite(v) for v in box):  # (an int: finite, maybe too large for a float)
        return f"the box {box} is not finite"
    if any(abs(v) > BOX_REACH for v in box):  # (1e39 passed, and became infinite as the 32-bit floats boxes are)
        return f"the box {box} reaches more than {BOX_REACH} frames past the picture (its corners are fractions of it)"
    if not (box[2] > box[0] and box[3] > box[1]):
        return f"the box {box} has no area (ymax must exceed ymin, xmax xmin): it would hide nothing"
    if box[0] >= 1 or box[1] >= 1 or box[2] <= 0 or box[3] <= 0:
        return f"the box {box} lies outside the picture (0 to 1 of its height and width): it would hide nothing"
    score, track = o.get("score", 0.0), o.get("id", -1)
    if not _number(score) or not (isinstance(score, int) or math.isfinite(score)) or abs(score) > BOX_REACH:
        return f"the score {score} is not a score (a finite number, from 0 to 1 as vidanon writes them)"
    if not isinstance(track, int) or isinstance(track, bool) or not _ID_RANGE[0] <= track <= _ID_RANGE[1]:
        return f"the id {track} is not a track number (an integer, -1 for none)"
    for key, default, names in (("class", "face", CLASS_NAMES), ("source", "detected", SOURCE_NAMES)):
        value = o.get(key, default)
        if value not in names.values():
            return f"the {key} {json.dumps(value)[:40]} is not one of {', '.join(names.values())}"
    return None


def check_records(frames) -> str | None:
    """What is wrong with the records of a tracks file (naming the frame and the box), or None."""
    if not isinstance(frames, list):
        return f"'frames' must be a list of frames (one list of boxes per frame), not {_kind(frames)}"
    for i, objects in enumerate(frames):
        if not isinstance(objects, list):
            return f"frame {i}: must be a list of boxes"
        if len(objects) > MAX_BOXES_PER_FRAME:
            return f"frame {i}: {len(objects)} boxes; a tracks file may list at most {MAX_BOXES_PER_FRAME} a frame"
        for j, o in enumerate(objects):
            problem = _box_problem(o)
            if problem is not None:
                return f"frame {i}, box {j}: {problem}"
    return None


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


def tracks_record(dets: Detections) -> list[dict]:
    """The boxes of one frame as the tracks file lists them."""
    return [
        {
            "id": int(dets.track_ids[i]),
            "box": [float(str(v)) for v in dets.boxes[i]],  # float32's shortest exact digits: replayed as drawn
            "score": round(float(dets.scores[i]), 4),
            "class": CLASS_NAMES.get(int(dets.classes[i]), "face"),
            "source": SOURCE_NAMES[int(dets.sources[i])],
        }
        for i in range(len(dets))
    ]


def write_json(path: Path, data: dict) -> None:
    from ..media.sidefile import write_side_file

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf8") as fh:
            json.dump(data, fh)

    write_side_file(path, "tracks file", write)


def save_tracks(path: str | os.PathLike, frames: list[Detections], video: str, width: int, height: int,
                fps: float, looked_for: str | None = None) -> None:  # fmt: skip
    """Write the boxes of every frame as a tracks file; ``looked_for``: the kinds the run looked
    for, as ``--target`` spells them (``faces,people``)."""
    data = {"video": video, "width": width, "height": height, "fps": float(fps),
            **({"looked_for": looked_for.split(",")} if looked_for else {}),
            "frames": [tracks_record(dets) for dets in frames]}  # fmt: skip
    write_json(Path(path), data)


class TracksRecorder:
    """Collects the boxes hidden in each frame, for :func:`save_tracks` and the review sheet
    (:func:`vidanon.review.write_review`), with each frame's time in seconds (None where
    unknown) and, for the review, how much of each box its person mask covers (None: a
    face's fixed ellipse). The boxes are kept as :class:`~vidanon.detections.Detections`
    without their masks (a copy: later stages may change theirs)."""

    def __init__(self, looked_for: str | None = None) -> None:
        self.looked_for = looked_for  # the kinds the run looked for (save_tracks)
        self.frames: list[Detections] = []
        self.times: list[float | None] = []
        self.covers: list[list[float] | None] = []

    def add(self, index: int, dets: Detections, time: float | None = None, cover: list[float] | None = None) -> None:
        """Record frame ``index``'s boxes (frames come in order, one call each)."""
        self.frames.append(Detections(dets.boxes.copy(), dets.scores.copy(), dets.classes.copy(), None,
                                      dets.track_ids.copy(), dets.sources.copy()))  # fmt: skip
        self.times.append(time)
        self.covers.append(cover)

    def save(self, path: str | os.PathLike, video: str, width: int, height: int, fps: float) -> None:
        save_tracks(path, self.frames, video, width, height, fps, self.looked_for)


class ReplayTracker:
    """A :class:`~vidanon.track.stage.Tracker` that replays a saved tracks file: frame ``i``
    gets the boxes the file lists for frame ``i`` whatever the detections (none are made).

    Given the video's ``width`` and ``height``, a file saved for another frame size is
    refused (an :class:`InputError`; a file without a size, written by hand, is taken);
    given its file name ``video``, a file saved for a file of another name gets a line in
    :attr:`warnings` (a renamed copy is fine). :attr:`classes`: the class ids of its boxes.
    :meth:`flush` checks that the video had as many frames as the file."""

    lookahead = 0

    def __init__(self, path: str | os.PathLike, width: int | None = None, height: int | None = None,
                 video: str | None = None, fps: float | None = None) -> None:  # fmt: skip
        self.path = str(path)
        data = read_tracks(self.path)
        self.frames = from_records(data["frames"])
        self.classes = {int(c) for dets in self.frames for c in dets.classes}
        looked = data.get("looked_for")  # the kinds its run looked for (None: not said)
        self.looked_for = ",".join(n for n in TARGETS if n in looked) if looked else None
        self.warnings: list[str] = []
        size = data.get("width"), data.get("height")
        name = "the video" if video is None else video
        if width is not None and size[0] is not None and size != (width, height):
            raise InputError(f"tracks file {self.path} was saved for a {size[0]}x{size[1]} video, but {name} is "
                             f"{width}x{height}: its boxes belong to another video")  # fmt: skip
        saved = data.get("video")
        saved = saved.replace("\\", "/").rsplit("/", 1)[-1] if isinstance(saved, str) else ""
        if video is not None and saved and saved != video:
            self.warnings.append(f"tracks file {self.path} was saved for {saved}, not {video}: its boxes are "
                                 "another video's unless this is a renamed copy")  # fmt: skip
        rate = data.get("fps")
        if fps and isinstance(rate, (int, float)) and rate > 0 and abs(rate / fps - 1) > 0.001:
            self.warnings.append(f"tracks file {self.path} was saved for a {rate:g} fps video, but {name} is "
                                 f"{fps:g} fps: its boxes are another video's unless its frames are these")  # fmt: skip
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


def replay_for(path: str, targets, effect: str, width: int | None = None, height: int | None = None,
               video: str | None = None, fps: float | None = None) -> ReplayTracker:  # fmt: skip
    """The tracker of a replay (``--tracks``): the file's boxes, for a video of this size, of
    the kinds the run hides (``targets``, :mod:`vidanon.targets`): the renderer draws each kind
    its own way, and the summary counts them as the run's, so a file of other kinds is refused
    (an OptionError), and so is one saved by a run that did not look for a kind this run hides
    (a splash run's file, replayed with ``--target people``: its faces were never looked for)."""
    from ..options import OptionError, ask  # (the options read this package's names)

    replay = ReplayTracker(path, width, height, video, fps)
    check_looked_for(f"tracks file {path}", replay.looked_for, targets)
    unseen = [t.name for t in targets if t.class_id not in replay.classes]
    if replay.looked_for is None and unseen and replay.classes:  # a file written by hand, or by another program
        replay.warnings.append(f"tracks file {path} does not say what its run looked for (no 'looked_for') and "
                               f"holds no {' or '.join(unseen)}: only its boxes are hidden; a run without "
                               f"{ask('tracks')} finds them")  # fmt: skip
    if not replay.classes <= {t.class_id for t in targets}:
        kinds = [n for n in TARGETS if n in {BY_CLASS[c].name for c in replay.classes}]
        hides = ",".join(t.name for t in targets) + (f" ({ask('effect', 'splash')} shows people)"
                                                     if effect == "splash" else "")  # fmt: skip
        advice = f"replay it with {ask('target', ','.join(kinds))}"
        advice += f" and another {ask('effect')}" if effect == "splash" and "faces" in kinds else ""
        raise OptionError(f"tracks file {path} holds boxes of {' and '.join(kinds)}, but this run hides "
                          f"{hides}: {advice}")  # fmt: skip
    return replay


def check_looked_for(boxes: str, looked_for: str | None, targets) -> None:
    """Refuse (an OptionError) to hide ``boxes`` (their name, in words) saved by a run that
    looked for ``looked_for`` (``--target``'s spelling; None: not said) in a run hiding
    ``targets``, one of which that run did not look for: its boxes hold none of it."""
    from ..options import OptionError, ask

    missing = [t.name for t in targets if looked_for and t.name not in looked_for.split(",")]
    if missing:
        how = f" ({ask('effect', 'splash')} looks for people only)" if looked_for == "people" else ""
        raise OptionError(f"{boxes} {'were' if boxes.startswith('the') else 'was'} saved by a run that looked for "
                          f"{looked_for}{how}: {'they have' if boxes.startswith('the') else 'it has'} no "
                          f"{' or '.join(missing)}, which this run hides; find them with a run without "
                          f"{ask('tracks')}")  # fmt: skip
