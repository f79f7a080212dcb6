"""What a run is asked to do: the options shared by the command line and the API.

:data:`RANGES` and :data:`CHOICES` are the one table of what each option accepts. The
command line parses its arguments into plain values and hands them to the same
:func:`check` as the API (:class:`Options`, :func:`vidanon.anonymize`,
:class:`vidanon.Anonymize`), so a bad value gets the same one-line message from either:
an :class:`OptionError` (a :class:`ValueError` and a :class:`VidanonError` whose exit
code, like argparse's, is 2).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

from .errors import VidanonError
from .media.plan import METADATA_POLICIES, ODD_SIZES
from .render.effects import EFFECTS
from .render.masks import DEFAULT_MASK_SCALE

TARGETS = ("faces", "people", "plates")  # --target takes one, or a comma list (faces,plates)


class OptionError(VidanonError, ValueError):
    """An option has a value it cannot take (out of range, wrong type, unknown name)."""

    exit_code = 2


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


RANGES: dict[str, Range] = {
    "threshold": Range("threshold", False, 0.01, 0.99),
    "mask_scale": Range("mask scale", False, 0.5, 5.0),
    "detect_size": Range("detect size", True, 64, 8192, also=(0,), also_means="native resolution"),
    "scan_every": Range("scan-every", True, 1, 8),
    "batch_size": Range("batch size", True, 1, 256),
    "crf": Range("crf", True, 0, 51),
    "jobs": Range("jobs", True, 1, 64),
    "segments": Range("segments", True, 1, 64),
    "fps": Range("fps", False, 0.01, 1000.0),
    "plates_threshold": Range("plates threshold", False, 0.01, 0.99),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "effect": EFFECTS,
    "target": TARGETS,
    "metadata": METADATA_POLICIES,  # private: identifying tags removed; keep: all kept; strip: none kept
    "odd_size": ODD_SIZES,  # H.264/HEVC at an odd size: pad (4:2:0, edge repeated) or 444
}
CHOICE_LABELS = {"metadata": "metadata policy", "odd_size": "odd-size mode"}  # the name in messages, where not the key


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
    number = _as_number(value)
    if number is None or (spec.whole and not isinstance(number, int)):
        kind = "a whole number" if spec.whole else "a number"
        raise OptionError(f"{spec.label} must be {kind}, not {_fmt(value)}")
    number = int(number) if spec.whole else float(number)
    if not (spec.lo <= number <= spec.hi or number in spec.also):
        raise OptionError(f"{spec.label} must be {spec.describe()}, not {_fmt(value)}")
    return number


def check_target(value) -> str:
    """``--target``: one of TARGETS or a comma list of them, normalized to TARGETS' order
    (``plates,faces`` -> ``faces,plates``); faces and people exclude each other."""
    parts = [p.strip() for p in value.split(",")] if isinstance(value, str) else [value]
    for part in parts:
        if part not in TARGETS:
            raise OptionError(f"unknown target {_fmt(part)}; choose from {', '.join(TARGETS)} or a comma list "
                              "such as faces,plates")  # fmt: skip
    if "people" in parts and "faces" in parts:
        raise OptionError("people and faces cannot be combined: hiding whole people hides their faces already")
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


@dataclass
class Options:
    effect: str = "blur"
    threshold: float | None = None  # None: the detector's default
    mask_scale: float = DEFAULT_MASK_SCALE
    batch_size: int | None = None  # None: chosen from the frame size and the device
    detect_size: int | None = None  # None: native (small frames enlarged); 0: native; N: longer side
    scan_every: int | None = None  # full-size pass every K-th frame; None: 2 on a CPU, 1 on a GPU
    crf: int = 18
    codec: str | None = None
    preset: str = "veryfast"
    audio: bool = True
    overwrite: bool = False
    track: bool = True
    save_tracks: str | None = None
    tracks: str | None = None
    review: str | None = None  # a review sheet (.png or .html) written after the output, see vidanon.review
    progress: bool = True
    target: str = "faces"  # or "people" (implied by the splash effect)
    metadata: str = "private"  # identifying tags removed; "keep": all kept; "strip": none kept
    odd_size: str = "pad"  # H.264/HEVC at an odd size: "pad" (4:2:0, edge repeated) or "444"
    mkdir: bool = False  # create a missing output folder
    plates_model: str | None = None  # --target plates: an .onnx YOLO plate detector (or $VIDANON_PLATES_MODEL)
    plates_threshold: float | None = None  # None: vidanon.plates.PLATE_THRESHOLD
    # A part of a longer job (see vidanon.batch): only frames [start, stop) are written
    # (stop None: to the end), with ``context`` frames on each side decoded and tracked
    # but not written, so that the tracker is warm at the part's first frame and its
    # look-ahead sees past the last one.
    frame_range: tuple[int, int | None] | None = None
    context: int = 30
    on_frames: Callable[[int], None] | None = None  # called with the number of frames just written

    def _check_plates(self) -> None:
        import os

        from .detect.plates import ENV_MODEL, INSTALL_HINT, NO_MODEL_HINT

        if self.effect == "splash":
            raise OptionError("the splash effect shows people; it does not hide plates (use blur, pixelate or fill)")
        if not (self.plates_model or os.environ.get(ENV_MODEL)):
            raise OptionError(NO_MODEL_HINT)
        try:
            import onnxruntime  # noqa: F401 - only whether it is there
        except ImportError:
            raise OptionError(f"plates need onnxruntime: {INSTALL_HINT}") from None

    @classmethod
    def from_kwargs(cls, **kwargs) -> "Options":
        """``Options(**kwargs)``, validated; an unknown name is an :class:`OptionError` too."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise OptionError(f"unknown option {unknown[0]!r}; options are {', '.join(sorted(known))}")
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
        """Faces are detected (with or without plates); False for people or plates alone."""
        return "faces" in self.target.split(",") and not self.people

    def validate(self) -> None:
        """Check every option against the table (and normalize numbers); raise :class:`OptionError`."""
        self.effect = check("effect", self.effect)
        self.target = check_target(self.target)
        self.metadata = check("metadata", self.metadata)
        self.odd_size = check("odd_size", self.odd_size)
        for name in ("threshold", "batch_size", "detect_size", "scan_every", "plates_threshold"):  # None: the default
            if getattr(self, name) is not None:
                setattr(self, name, check(name, getattr(self, name)))
        self.mask_scale = check("mask_scale", self.mask_scale)
        self.crf = check("crf", self.crf)
        if self.review is not None:
            self.review = check_review_path(self.review)
        if self.plates and not self.tracks:
            self._check_plates()
        if self.frame_range is not None:
            start, stop = self.frame_range
            if start < 0 or (stop is not None and stop <= start):
                raise OptionError(f"frame range {self.frame_range} is empty or negative")
            if self.tracks:
                raise OptionError("a tracks file covers the whole video; it cannot be used for a part")
            if self.review:
                raise OptionError("a review sheet covers the whole video; it cannot be made for a part")


def check_review_path(path) -> str:
    """A review sheet's path, if its extension names a format (.png, .html)."""
    from pathlib import Path

    from .review import SHEET_FORMATS

    text = str(path)
    if Path(text).suffix.lower() not in SHEET_FORMATS:
        raise OptionError(f"review sheet {text}: the name must end in .png or .html")
    return text
