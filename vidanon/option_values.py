"""The checks of the options that pick and tune the effect, and of times and track ids
(the entries of :data:`vidanon.options.OPTIONS` point here; this module uses its messages)."""

from __future__ import annotations

import os
import re

from . import options as o  # partly loaded when this is imported: its names are looked up at each call

_CLOCK = re.compile(r"(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d*)?|\.\d+)")


def name_value(name: str, value) -> str:
    """An encoder's or a preset's name: text, not empty (an unset shell variable)."""
    if not o._str(name, value).strip():
        raise o.OptionError(f"{o.ask(name)} needs a name, not an empty one")
    return value


def path_value(name: str, value) -> str:
    """A file's path: a str or os.PathLike, not empty."""
    if not isinstance(value, (str, os.PathLike)):
        raise o.OptionError(f"{name} must be a path (a str or os.PathLike), not {o._fmt(value)}")
    if os.fspath(value) == "":  # an unset shell variable: it was taken as no file at all
        raise o.OptionError(f"{o.ask(name)} needs a path, not an empty one")
    return os.fspath(value)


def tracks_value(name: str, value):
    """A tracks file (a path), or the boxes of a clip already found (a ClipTracks, kept)."""
    return value if hasattr(value, "at") and hasattr(value, "frames") else path_value(name, value)


def time_value(name: str, value) -> float:
    """A time in the video: seconds (a number, or text such as ``90`` or ``1.5``) or a
    clock ``[HH:]MM:SS[.ms]``; not negative."""
    number = o._as_number(value)
    if number is None and isinstance(value, str):
        match = _CLOCK.fullmatch(value.strip())
        hours, minutes, seconds = match.groups() if match else (None, None, None)
        if match and (minutes is None or (int(minutes) < 60 or hours is None) and float(seconds) < 60):
            number = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds)
    if number is None or number < 0:
        raise o.OptionError(f"{o.ask(name)} must be a time in seconds (90, 1.5) or HH:MM:SS(.ms) (00:01:30.5), "
                          f"not {o._fmt(value)}")  # fmt: skip
    return float(number)


def numpy_scalar(value, kinds: str) -> bool:
    """Whether ``value`` is a numpy scalar (or 0-d array) of one of the dtype ``kinds`` ("b":
    bool, "iu": integers), told without importing numpy."""
    return type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0 and value.dtype.kind in kinds


def whole_number(value) -> int | None:
    """``value`` as an int where it is a whole number (Python's or numpy's, not a bool), else None."""
    if isinstance(value, int) and not isinstance(value, bool) or numpy_scalar(value, "iu"):
        return int(value)
    return None


def track_ids(name: str, value) -> tuple[int, ...]:
    """Track ids: a comma list (``"3,7"``), one id, or an iterable of ids; not negative."""
    parts = value.split(",") if isinstance(value, str) else value if isinstance(value, (list, tuple, set)) else [value]
    ids = [whole_number(o.parse_number(p.strip()) if isinstance(p, str) else p) for p in parts]
    if not ids or any(i is None or i < 0 for i in ids):
        raise o.OptionError(f"{o.ask(name)} takes track ids (whole numbers, as in the {o.ask('save_tracks')} file and "
                          f"on the review sheet) separated by commas, not {o._fmt(value)}")  # fmt: skip
    return tuple(sorted(set(ids)))


def colour(name: str, value) -> tuple[int, int, int]:
    """A colour: a name Pillow knows (black, white, grey, ...), #RRGGBB, or (r, g, b)."""
    listed = isinstance(value, (tuple, list)) or type(value).__module__ == "numpy" and getattr(value, "ndim", 0) == 1
    rgb = [whole_number(v) for v in value] if listed else []  # (numpy's ints too: np.array([255, 0, 0]))
    if len(rgb) == 3 and all(v is not None and 0 <= v <= 255 for v in rgb):
        return tuple(rgb)
    if isinstance(value, str):
        from PIL import ImageColor

        try:
            rgba = ImageColor.getrgb(value.strip())
        except ValueError:
            rgba = None
        if rgba is not None and len(rgba) == 4 and rgba[3] != 255:  # #RRGGBBAA: it was drawn opaque, unsaid
            raise o.OptionError(f"{o.ask(name, value)} is transparent; a fill is opaque: give #RRGGBB (a transparent "
                                f"cover: {o.ask('effect', 'image')} with a PNG)")  # fmt: skip
        if rgba is not None and all(0 <= v <= 255 for v in rgba[:3]):  # (rgb(300,0,0) came back as it was)
            return rgba[:3]
    raise o.OptionError(f"{o.ask(name)} must be a colour name (black, white, grey, ...) or #RRGGBB, "
                        f"not {o._fmt(value)}")  # fmt: skip


def check_style(opts) -> None:
    """``opts`` (:class:`vidanon.options.Options`): the options of one effect are given with
    that effect (and the image can be read)."""
    for name, effects in (("strength", ("blur", "pixelate")), ("fill_color", ("fill",)), ("image", ("image",))):
        if getattr(opts, name) is not None and opts.effect not in effects:
            raise o.OptionError(f"{o.ask(name)} applies to {' and '.join(o.ask('effect', e) for e in effects)}")
    if opts.effect == "splash" and opts.mask_scale != o.OPTION["mask_scale"].default:  # it was taken, unused
        raise o.OptionError(f"{o.ask('mask_scale')} grows the masks of the faces hidden; {o.ask('effect', 'splash')} "
                            "hides none (it keeps each person's own outline in colour)")  # fmt: skip
    for name in FACE_DETECTOR_ONLY if opts.effect == "splash" else ():  # taken, and changed nothing
        if getattr(opts, name) != o.OPTION[name].default:
            raise o.OptionError(f"{o.ask(name, getattr(opts, name))} sets the face detector; "
                                f"{o.ask('effect', 'splash')} looks for no face (it finds people)")  # fmt: skip
    if opts.effect != "image":
        return
    if opts.image is None:
        raise o.OptionError(f"{o.ask('effect', 'image')} needs {o.ask('image', 'PATH')}: the image put over each head")
    if opts.people:
        raise o.OptionError(f"{o.ask('effect', 'image')} covers heads; it does not take {o.ask('target', 'people')}")
    from .errors import InputError
    from .render.effects import load_image

    try:
        load_image(opts.image)  # decoded in full (and kept for the run): a damaged file fails here
    except InputError as exc:
        raise o.OptionError(str(exc)) from None


# The options only the face detector reads.
FACE_DETECTOR_ONLY = ("detect_size", "scan_every", "turned_faces", "model")
# The options only the detectors read: a replay (--tracks) runs none, so they would change nothing.
DETECTION_ONLY = ("threshold", "plates_threshold", *FACE_DETECTOR_ONLY, "track")


def check_replay(opts) -> None:
    """``opts`` (:class:`vidanon.options.Options`): a replay (``tracks``) is not given an option
    that only the detectors read; it was taken and changed nothing (``--threshold 0.9`` hid
    every box of the file)."""
    if opts.tracks is None:
        return
    for name in DETECTION_ONLY:
        value = getattr(opts, name)
        if value != o.OPTION[name].default:
            raise o.OptionError(f"{o.ask(name, value)} has no effect with {o.ask('tracks')}: the boxes are the "
                                f"file's, found when it was saved; leave it out, or detect again without "
                                f"{o.ask('tracks')}")  # fmt: skip


def style_warning(opts) -> str | None:
    """One line when ``strength`` is weaker (more cells) than the effect's default, when the
    image of the image effect is not opaque where the face lies (the face shows blurred there),
    or when ``mask_scale`` is under the default (the mask leaves the chin and mouth first)."""
    from .render import DEFAULT_MASK_SCALE
    from .render.effects import default_cells, face_cover, load_image

    said = []
    if opts.effect == "image" and opts.image is not None:
        cover = face_cover(load_image(opts.image))
        if cover < 0.95:
            said.append(f"{o.ask('image', opts.image)} is transparent over {100 - round(cover * 100)}% of the middle "
                        "of the image, where the face lies: the faces are blurred under it")  # fmt: skip
    elif opts.strength is not None and opts.strength > default_cells(opts.effect):
        cells = o._fmt(default_cells(opts.effect))
        said.append(f"{o.ask('strength', o._fmt(opts.strength))} is weaker than the default ({cells} cells across a "
                    f"face for {opts.effect}): faces may stay recognisable")  # fmt: skip
    if opts.effect == "splash":
        said.append(f"{o.ask('effect', 'splash')} is a look, not anonymization: faces stay visible (people in colour, "
                    "the rest grey)")  # fmt: skip
    elif opts.mask_scale < DEFAULT_MASK_SCALE and opts.target != "plates":
        said.append(f"{o.ask('mask_scale', o._fmt(opts.mask_scale))} makes the masks smaller than the default "
                    f"({o._fmt(DEFAULT_MASK_SCALE)}): the chin and mouth may stay visible (under 1, most of the face)")  # fmt: skip
    return "; ".join(said) or None


def review_path(path) -> str:
    """A review sheet's path, if its extension names a format (.png, .html)."""
    from pathlib import Path

    from .review import SHEET_FORMATS

    text = str(path)
    if Path(text).suffix.lower() not in SHEET_FORMATS:
        raise o.OptionError(f"review sheet {text}: the name must end in .png or .html")
    return text
