"""What a run is asked to do: the options shared by the command line and the API.

:data:`OPTIONS` is the one table of the options: for each its name (the keyword),
type, default, command-line flags, help text and validation (a :class:`Range`, a
:class:`Choice` or a function). Everything else is built from it: the fields of
:class:`Options`, the command line's arguments (:func:`vidanon.cli.build_parser`), the
keywords of :func:`vidanon.anonymize`, :class:`vidanon.Anonymize` and
:func:`vidanon.anonymize_clip`, and their docstrings. Adding an option is adding an entry.

The command line parses its arguments into plain values and hands them to the same
:func:`check` as the API, so a bad value gets the same one-line message from either:
an :class:`OptionError` (a :class:`ValueError` and a :class:`VidanonError` whose exit
code, like argparse's, is 2). A message that tells the user what to pass names the
option as the caller spells it: ``--overwrite`` on the command line, ``overwrite=True``
in Python (:func:`ask`, :func:`spell`, :func:`spoken`).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import re
import textwrap
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any, Callable

from .errors import OptionError, UnknownOptionError, VidanonError  # noqa: F401 - OptionError: named from here too
from .media import METADATA_POLICIES, ODD_SIZES
from .render import DEFAULT_MASK_SCALE, EFFECTS

TARGETS = ("faces", "people", "plates")  # --target takes one, or a comma list (faces,plates)


@dataclass(frozen=True)
class Range:
    """A number between ``lo`` and ``hi`` inclusive, or one of ``also`` (a special value)."""

    label: str  # the option's name in messages
    whole: bool  # a whole number (int) or any number (float)
    lo: float
    hi: float
    also: tuple = ()
    also_means: str = ""

    def describe(self) -> str:
        span = f"between {_fmt(self.lo)} and {_fmt(self.hi)}"
        if self.also:
            return f"{' or '.join(_fmt(a) for a in self.also)} ({self.also_means}) or {span}"
        return span


@dataclass(frozen=True)
class Choice:
    """One of ``values``; ``label`` names the option in messages."""

    label: str
    values: tuple[str, ...]


# --------------------------------------------------------------------------- spelling
CLI, PYTHON = "cli", "python"
# Who is asking: the command line (the default: the package's own entry points and
# messages speak it) or the Python API, which sets PYTHON for the time of a call.
_SPELLING: contextvars.ContextVar[str] = contextvars.ContextVar("vidanon_spelling", default=CLI)
_PLACEHOLDER = re.compile(r"\{(\w+)(?:=([^{}]*))?\}")


@contextmanager
def spoken(style: str):
    """Within this block, messages name options as ``style`` (CLI or PYTHON) spells them."""
    token = _SPELLING.set(style)
    try:
        yield
    finally:
        _SPELLING.reset(token)


def ask(name: str, value: Any = inspect.Parameter.empty, style: str | None = None) -> str:
    """How the caller sets option ``name`` (to ``value``, as typed on a command line):
    ``ask("overwrite", True)`` is ``--overwrite`` on the command line and ``overwrite=True``
    in Python; ``ask("odd_size", "444")`` is ``--odd-size 444`` or ``odd_size='444'``."""
    option = OPTION[name]
    bare = value is inspect.Parameter.empty
    if (style or _SPELLING.get()) == CLI and option.long:
        if option.switches and not bare:
            return next((flag for flag, const, _ in option.switches if str(const) == str(value)), option.long)
        return option.long if bare or option.valid is _bool else f"{option.long} {value}"
    if bare:
        return name
    literal = isinstance(value, str) and (option.valid is _bool or isinstance(option.valid, Range))
    return f"{name}={value if literal else repr(value)}"


def spell(text: str, style: str | None = None, facts: dict | None = None) -> str:
    """``text`` with each ``{name}`` or ``{name=value}`` naming an option as the caller spells
    it (:func:`ask`); other ``{word}`` are taken from ``facts``."""

    def one(match: re.Match) -> str:
        name, value = match.group(1), match.group(2)
        if name in OPTION:
            return ask(name, inspect.Parameter.empty if value is None else value, style)
        return str(facts[name])

    return _PLACEHOLDER.sub(one, text)


# --------------------------------------------------------------------------- value checks
def _bool(name: str, value) -> bool:
    if numpy_scalar(value, "b"):  # np.bool_, as Python's bool
        value = bool(value)
    if not isinstance(value, bool):
        raise OptionError(f"{name} must be True or False, not {_fmt(value)}")
    return value


def _str(name: str, value) -> str:
    if not isinstance(value, str):
        raise OptionError(f"{name} must be a string, not {_fmt(value)}")
    return value


# they use this module's messages (looked up at each call)
from .option_values import (  # noqa: E402
    check_replay,
    check_style,
    colour,
    name_value,
    numpy_scalar,
    path_value,
    review_path,
    style_warning,
    time_value,
    track_ids,
    tracks_value,
)


def _review(name: str, value) -> str:
    return review_path(path_value(name, value))


def _target(name: str, value) -> str:
    return check_target(value)


# --------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Option:
    """One option. ``help`` is written once for both readers: ``{name}`` / ``{name=value}``
    name an option as the reader spells it (:func:`spell`), ``{default}`` is the default and
    ``{face_threshold}``-style words are the defaults set elsewhere (:func:`facts`)."""

    name: str  # the keyword, and the field of Options
    type: Any  # its annotation
    default: Any
    help: str
    valid: Range | Choice | Callable[[str, Any], Any] | None = None  # None: not checked
    flags: tuple[str, ...] = ()  # the command line's, short first; () and no switches: not on the command line
    metavar: str | None = None
    switches: tuple[tuple[str, Any, str], ...] = ()  # flags that each set a value: (flag, value, help)
    file: bool = True  # a field of Options and a keyword of vidanon.anonymize
    clip: bool = False  # a keyword of the moviepy effect, vidanon.Anonymize
    public: bool = True  # False: set by vidanon.batch for a part of a job; not documented

    @property
    def long(self) -> str | None:
        return self.flags[-1] if self.flags else (self.switches[0][0] if self.switches else None)

    def accept(self, value):
        """``value`` checked (and normalized), else :class:`OptionError`; None where the default is None."""
        if (value is None and self.default is None) or self.valid is None:
            return value
        if isinstance(self.valid, (Range, Choice)):
            return check(self.name, value)
        return self.valid(self.name, value)


_num = float | None
_int = int | None
_text = str | None
OPTIONS: tuple[Option, ...] = (
    Option("effect", str, "blur", "how faces are hidden: a strong Gaussian blur scaled to each face (default), "
           "coarse pixelation, a solid fill ({fill_color}), or an image over each head ({image}); 'splash' keeps "
           "people in colour and turns everything else "
           "grey (a look, not anonymization: faces stay visible)", Choice("effect", EFFECTS), ("-e", "--effect"),
           clip=True),
    Option("strength", _num, None, "cells across a face for blur (samples before smoothing, default {blur_cells}) "
           "and pixelate (blocks, default {pixel_cells}), {range}: fewer is stronger",
           Range("strength", False, 1.0, 64.0), ("--strength",), "CELLS", clip=True),
    Option("fill_color", tuple[int, int, int] | str | None, None, "the colour of {effect=fill}: a name (black, "
           "white, grey, ...) or #RRGGBB (default black)", colour, ("--fill-color",), "COLOR", clip=True),
    Option("image", _text, None, "the image of {effect=image}, stretched over each head box (where it is "
           "transparent, the face shows blurred)", path_value, ("--image",), "PATH", clip=True),
    Option("target", str, "faces", "what blur/pixelate/fill hide: faces (default), whole people following each "
           "person's outline (and every face), or licence plates (needs {plates_model}); a comma list hides several: faces,plates",
           _target, ("--target",), "{" + ",".join(TARGETS) + "}", clip=True),
    Option("plates_model", _text, None, "the plate detector for {target=plates}: a YOLOv5/v8/v9-style ONNX file "
           "(default: $VIDANON_PLATES_MODEL; needs pip install 'vidanon[plates]'); see docs/plates.md",
           path_value, ("--plates-model",), "PATH.onnx", clip=True),
    Option("plates_threshold", _num, None, "plate detector score above which a plate is hidden, {range} (default "
           "{plate_threshold})", Range("plates threshold", False, 0.01, 0.99), ("--plates-threshold",), clip=True),
    Option("threshold", _num, None, "detector score above which a face is hidden, {range} (default "
           "{face_threshold}; people: {people_threshold}); lower hides more (and more false alarms)",
           Range("threshold", False, 0.01, 0.99), ("-t", "--threshold"), clip=True),
    Option("mask_scale", float, DEFAULT_MASK_SCALE, "grow the head around each face by this factor before masking, "
           "{range} (default {default})", Range("mask scale", False, 0.5, 5.0), ("-s", "--mask-scale"), clip=True),
    Option("detect_size", _int, None, "longest side of the frames the detector's full pass sees, {range} (default: the "
           "native resolution, frames under 960 px enlarged towards 960; 0: exactly native); smaller is faster and "
           "misses small faces (see README 'Accuracy and speed')",
           Range("detect size", True, 64, 8192, also=(0,), also_means="native resolution"), ("--detect-size",),
           clip=True),
    Option("scan_every", _int, None, "give every K-th frame the full-size pass and the others a half-size one, the "
           "tracker carrying small faces between; K {range} (default {scan_every_default})",
           Range("scan every", True, 1, 8), ("--scan-every",), "K", clip=True),
    Option("model", str, "int8", "the face network: 'int8' (default; on a CPU about twice as fast as the float one, "
           "on a GPU the same scores, its integer arithmetic done exactly in float32) or 'float' (the original, finding fewer heads; see README "
           "'Accuracy and speed')", Choice("model", ("int8", "float")), ("--model",), clip=True),
    Option("turned_faces", bool, False, "also find faces lying sideways or upside down (people lying down, a camera on "
           "its side): the detector also looks at each frame turned, taking about 3-4 times as long", _bool,
           ("--turned-faces",), clip=True),
    Option("device", str, "auto", "where the detectors run: 'auto' (default: the GPU where TensorFlow sees one, except "
           "for a video of faces under 45 frames of 1080p a CPU core, which the CPU finishes sooner), 'cpu' or 'gpu'",
           Choice("device", ("auto", "cpu", "gpu")), ("--device",), clip=True),
    Option("batch_size", _int, None, "frames per detector call, {range} (default: chosen from the frame size and "
           "the device)", Range("batch size", True, 1, 256), ("-b", "--batch-size"), clip=True),
    Option("max_face_size", _num, None, "refuse (do not draw) a mask larger than this share of the frame's area, "
           "{range} (default: no limit): a large false mask (a wall, a poster) is left out; the review sheet flags "
           "each refused box", Range("max face size", False, 0.01, 1.0), ("--max-face-size",), "SHARE"),
    Option("track", bool, True, "hide only what the detector finds in each frame, without the tracker that covers "
           "the frames where it blinks (for comparison)", _bool, ("--no-track",), clip=True),
    Option("save_tracks", _text, None, "also write the boxes hidden in every frame (track id, box, score, source) "
           "to JSON", path_value, ("--save-tracks",), "JSON", clip=True),
    Option("tracks", _text, None, "re-render from a {save_tracks} file of the same video instead of detecting again "
           "(e.g. another effect; its frame size and {target} must match)", tracks_value, ("--tracks",), "JSON", clip=True),
    Option("keep", tuple[int, ...] | str | None, None, "leave these faces unmasked: track ids as numbered in the "
           "{save_tracks} file and on the review sheet (ids are the same for the same input and options, so they "
           "apply to a replay with {tracks} and to a fresh run alike)", track_ids, ("--keep",), "ID[,ID...]"),
    Option("review", _text, None, "also write a review sheet (.png or .html): sampled frames with each mask's "
           "outline, a timeline of the tracks and the frames most worth a look, with their time codes", _review,
           ("--review",), "SHEET"),
    Option("start", float | str | None, None, "hide faces only from this time on (seconds or HH:MM:SS(.ms)); the "
           "frames before it are written unmasked", time_value, ("--start",), "T"),
    Option("end", float | str | None, None, "hide faces only up to this time (seconds or HH:MM:SS(.ms)); the "
           "frames after it are written unmasked", time_value, ("--end",), "T"),
    Option("crf", int, 18, "encoder quality of libx264, libx265 and VP9, 0 (lossless) to 51 (worst); default 18 "
           "(visually lossless)", Range("crf", True, 0, 51), ("--crf",)),
    Option("codec", _text, None, "ffmpeg video encoder (default libx264; libvpx-vp9 for .webm; a 10-bit HEVC, VP9 or "
           "AV1 input keeps its family)", name_value, ("--codec",)),
    Option("preset", str, "veryfast", "x264/x265 preset (default veryfast; slower presets such as medium give smaller "
           "files)", name_value, ("--preset",)),
    Option("audio", bool, True, "drop the audio track", _bool, ("--no-audio",)),
    Option("metadata", str, "private", "'private' (default) removes the tags that identify a place or a device, "
           "'keep' keeps every tag, 'strip' removes every tag and the chapters",
           Choice("metadata policy", METADATA_POLICIES), switches=(
               ("--keep-metadata", "keep", ("keep every metadata tag (by default tags that identify a place or a "
                "device are removed: GPS location, make, model, serial numbers, device names, comments, software)")),
               ("--strip-metadata", "strip", "remove every metadata tag and the chapters"))),
    Option("odd_size", str, "pad", "H.264/HEVC at an odd width or height: 'pad' (default) repeats the last "
           "row/column to write 4:2:0, which plays everywhere; '444' keeps the exact size as 4:4:4, which many "
           "players refuse", Choice("odd-size mode", ODD_SIZES), ("--odd-size",)),
    Option("mkdir", bool, False, "create the output folder if it does not exist", _bool, ("--mkdir",)),
    Option("overwrite", bool, False, "replace the output if it exists (in a batch: redo files whose output exists, "
           "else skipped)", _bool, ("-y", "--overwrite")),
    Option("progress", bool, True, "show a progress bar", _bool, clip=True),
    Option("fps", _num, None, "the rate at which the clip is sampled to find faces (default: the clip's own; needed "
           "for a clip without fps)", Range("fps", False, 0.01, 1000.0), file=False, clip=True),
    # A part of a longer job (see vidanon.batch): only frames [start, stop) are written
    # (stop None: to the end), with ``context`` frames on each side decoded and tracked
    # but not written, so that the tracker is warm at the part's first frame and its
    # look-ahead sees past the last one.
    Option("frame_range", tuple[int, int | None] | None, None, "frames [start, stop) written", public=False),
    Option("context", int, 30, "frames decoded and tracked on each side of a part", public=False),
    Option("on_frames", Callable[[int], None] | None, None, "called with the number of frames just written",
           public=False),
)
OPTION: dict[str, Option] = {o.name: o for o in OPTIONS}
FILE_OPTIONS = tuple(o for o in OPTIONS if o.file)  # the fields of Options
CLIP_OPTIONS = tuple(o for o in OPTIONS if o.clip)  # the fields of vidanon.Anonymize
RANGES: dict[str, Range] = {
    **{o.name: o.valid for o in OPTIONS if isinstance(o.valid, Range)},
    "jobs": Range("--jobs", True, 1, 64),  # the command line's own (vidanon.cli)
    "segments": Range("--segments", True, 1, 64),
}
CHOICES: dict[str, tuple[str, ...]] = {o.name: o.valid.values for o in OPTIONS if isinstance(o.valid, Choice)}
CHOICE_LABELS = {o.name: o.valid.label for o in OPTIONS if isinstance(o.valid, Choice)}


@functools.lru_cache(maxsize=1)
def facts() -> dict:
    """The defaults the help texts quote that are set where they are used."""
    from .render import BLUR_CELLS, PIXEL_CELLS
    from .targets import FACES, PEOPLE, PLATES, SCAN_EVERY

    return {"blur_cells": _fmt(BLUR_CELLS), "pixel_cells": _fmt(PIXEL_CELLS), "face_threshold": FACES.threshold, "people_threshold": PEOPLE.threshold,
            "plate_threshold": PLATES.threshold, "scan_every_default": SCAN_EVERY}  # fmt: skip


def help_text(option: Option, style: str, help: str | None = None) -> str:
    """``option``'s help (or ``help``) for ``style``'s reader."""
    span = {"range": option.valid.describe()} if isinstance(option.valid, Range) else {}  # what check() takes
    return spell(option.help if help is None else help, style, {**facts(), "default": _fmt(option.default), **span})


def _annotation_text(kind) -> str:
    return kind.__name__ if isinstance(kind, type) else re.sub(r"\b[\w.]+\.(\w+)", r"\1", str(kind))


def document(options, style: str = PYTHON, types: dict | None = None) -> str:
    """The options' entries of a docstring (numpydoc's Parameters style)."""
    lines, types = [], types or {}
    for o in options:
        words = help_text(o, style)
        if o.valid is _bool and o.flags:  # the flag's help says what the value other than the default does
            words = f"{not o.default}: {words}"
        lines += [f"{o.name} : {_annotation_text(types.get(o.name, o.type))}, default {o.default!r}",
                  *textwrap.wrap(words, 84, initial_indent="    ", subsequent_indent="    ")]
    return "\n".join(lines)


def with_options(doc: str, options, types: dict | None = None) -> str:
    """A docstring (indented by 4) followed by the options' entries, under Parameters."""
    head = doc.rstrip() if "----------" in doc else doc.rstrip() + "\n\n    Parameters\n    ----------"
    return head + "\n" + textwrap.indent(document(options, PYTHON, types), "    ") + "\n"


def signature(leading: list[inspect.Parameter], options, types: dict | None = None) -> inspect.Signature:
    """``leading`` then the options as keyword-only parameters with their defaults."""
    types = types or {}
    keywords = [inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default,
                                  annotation=types.get(o.name, o.type)) for o in options]  # fmt: skip
    return inspect.Signature(leading + keywords)


def reject_unknown(given, options, what: str = "") -> None:
    """:class:`OptionError` for the first keyword of ``given`` not among ``options``."""
    names = [o.name for o in options]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise UnknownOptionError(f"unknown option {unknown[0]!r}{what}; options are {', '.join(names)}")


def from_table(options, types: dict | None = None):
    """A class decorator: the options become the dataclass fields of the class (``types``:
    annotations other than the table's), in the table's order."""

    def build(cls):
        cls.__annotations__ = {o.name: (types or {}).get(o.name, o.type) for o in options}
        for o in options:
            setattr(cls, o.name, o.default)
        return dataclass(cls)

    return build


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return str(value)
    return repr(value)


def check(name: str, value):
    """``value`` if option ``name`` accepts it (numbers normalized to int or float), else
    :class:`OptionError` with a one-line message."""
    if name in CHOICES:
        if value not in CHOICES[name]:
            label = CHOICE_LABELS.get(name, name)
            raise OptionError(f"unknown {label} {_fmt(value)}; choose from {', '.join(CHOICES[name])}")
        return value
    spec = RANGES[name]
    label = ask(name) if name in OPTION and OPTION[name].flags else spec.label  # as the caller spells it
    number = _as_number(value)
    if spec.whole and isinstance(number, float) and number.is_integer():
        number = int(number)  # --crf 20.0 is 20
    if number is None or (spec.whole and not isinstance(number, int)):
        kind = "a whole number" if spec.whole else "a number"
        raise OptionError(f"{label} must be {kind}, not {_fmt(value)}")
    number = int(number) if spec.whole else float(number)
    if not (spec.lo <= number <= spec.hi or number in spec.also):
        raise OptionError(f"{label} must be {spec.describe()}, not {_fmt(value)}")
    return number


def check_target(value) -> str:
    """``--target``: one of TARGETS or a comma list of them, normalized to TARGETS' order
    (``plates,faces`` -> ``faces,plates``)."""
    parts = [p.strip() for p in value.split(",")] if isinstance(value, str) else [value]
    for part in parts:
        if part not in TARGETS:
            raise OptionError(f"unknown target {_fmt(part)}; choose from {', '.join(TARGETS)} or a comma list "
                              "such as faces,plates")  # fmt: skip
    return ",".join(t for t in TARGETS if t in parts)


def _as_number(value) -> float | int | None:
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def parse_number(text: str):
    """What the command line hands to :func:`check`: ``text`` as an int, else a float, else
    the text itself (which :func:`check` then refuses with the option's own message)."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    return text


@from_table(FILE_OPTIONS)
class Options:
    """The options of a run on a file, one field per entry of :data:`OPTIONS` (see there)."""

    def _check_plates(self) -> None:
        from .detect.plates import ENV_MODEL, INSTALL_HINT

        if self.effect == "splash":
            raise OptionError("the splash effect shows people; it does not hide plates (use blur, pixelate or fill)")
        if not (self.plates_model or os.environ.get(ENV_MODEL)):
            raise OptionError(spell(NO_PLATES_MODEL, facts={"env": ENV_MODEL}))
        try:
            import onnxruntime  # noqa: F401 - only whether it is there
        except ImportError:
            raise OptionError(f"plates need onnxruntime: {INSTALL_HINT}") from None

    @classmethod
    def from_kwargs(cls, **kwargs) -> "Options":
        """``Options(**kwargs)``, validated; an unknown name is an :class:`OptionError` too."""
        known = {f.name for f in fields(cls)}
        if set(kwargs) - known:
            reject_unknown(kwargs, [o for o in FILE_OPTIONS if o.public])
        opts = cls(**kwargs)
        opts.validate()
        return opts

    @property
    def people(self) -> bool:
        return "people" in self.target.split(",") or self.effect == "splash"

    @property
    def plates(self) -> bool:
        return "plates" in self.target.split(",")

    @property
    def faces(self) -> bool:
        """Faces are detected: alone, with plates, with people (whose hiding hides faces too);
        not with splash, which shows people as they are."""
        from .targets import FACES, selected

        return FACES in selected(self.target, self.effect)

    def _check_style(self) -> None:
        check_style(self)

    def style_warning(self) -> str | None:
        """One line when the effect's settings may leave faces seen (:func:`~.option_values.style_warning`)."""
        return style_warning(self)

    def validate(self) -> None:
        """Check every option against the table (and normalize it); raise :class:`OptionError`."""
        for option in FILE_OPTIONS:
            setattr(self, option.name, option.accept(getattr(self, option.name)))
        if self.plates and self.tracks is None:  # not a replay
            self._check_plates()
        stray = next((n for n in ("plates_model", "plates_threshold") if getattr(self, n) is not None), None)
        if stray and not self.plates:  # the user meant plates hidden: say so, do not run without
            raise OptionError(f"{ask(stray)} hides plates only with {ask('target', 'plates')} (or faces,plates)")
        self._check_style()
        check_replay(self)
        if self.keep and not self.track:  # it warned "no track 1 to keep" and kept nothing
            raise OptionError(f"{ask('keep')} leaves tracks unmasked; {ask('track', False)} makes none")
        if self.end is not None and self.end <= (self.start or 0.0):  # --end 0 alone too
            raise OptionError(f"the span is empty: {ask('end')} ({_fmt(self.end)} s) must come after "
                              f"{ask('start') if self.start is not None else 'the start'} ({_fmt(self.start or 0.0)} s)")  # fmt: skip
        if self.frame_range is not None:
            start, stop = self.frame_range
            if start < 0 or (stop is not None and stop <= start):
                raise OptionError(f"frame range {self.frame_range} is empty or negative")
            if self.tracks:
                raise OptionError("a tracks file covers the whole video; it cannot be used for a part")
            if self.review:
                raise OptionError("a review sheet covers the whole video; it cannot be made for a part")
            if self.keep:
                raise OptionError("track ids number the tracks of the whole video; --keep cannot be used for a part")


# no plate model: the option named as the caller spells it (raised by options and vidanon.detect.plates)
NO_PLATES_MODEL = ("plates need a detector: pass {plates_model=PATH.onnx} (any YOLOv5/v8/v9 ONNX plate detector) or "
                   "set {env}; see docs/plates.md for where to get one")  # fmt: skip
