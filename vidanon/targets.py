"""What vidanon hides, each kind described once: its detector, its score levels, how it is
tracked and the shape of its mask.

The pipeline loops over the :class:`Target` records of a run (:func:`selected`); nothing
else branches on the kind. A record holds the rules, measured where they are set:

* three score levels: a detection at ``threshold`` (``--threshold``) or above is always
  masked; one at ``start`` or above starts a track that is masked once confirmed; one at
  ``low`` or above only extends a track (``None``: the same as the level above it);
* the tracker's settings (``follow``: whether a lost box is followed by its appearance);
* the mask: ``head`` (the ellipse of the head around a face box), ``outline`` (the box's
  own soft mask, a person's outline), ``rectangle`` (a feathered rectangle grown by
  ``mask_scale``; ``None`` there means the user's ``--mask-scale``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .detect import Detector
    from .media.probe import VideoInfo
    from .options import Options

# Class ids carried in Detections.classes (vidanon.detections), one per kind below. This module
# imports nothing heavy: the options' help quotes its defaults, and `import vidanon` stays light.
FACE = 0
PERSON = 1
PLATE = 2
CLASS_NAMES = {FACE: "face", PERSON: "person", PLATE: "plate"}

# The face network sees every frame at its native resolution (frames under 960 px
# enlarged towards 960, at most 2x), so faces down to about 18 px are found at any frame
# size; only every SCAN_EVERY-th frame gets that full pass and the frames in between a pass
# at half the scale, on a CPU and on a GPU alike (the same network, the same scores: see
# vidanon.detect.centerface.ScanPlan and docs/accuracy-and-speed.md for the figures).
SCAN_EVERY = 2


@dataclass(frozen=True)
class Target:
    name: str  # as --target spells it
    class_id: int  # the class of its boxes in Detections
    threshold: float  # the default --threshold
    start: float | None  # a track starts at this score (None: the threshold)
    low: float | None  # a track is extended down to this score (None: the start level)
    follow: bool  # a lost track is followed by its appearance
    mask: str  # "head", "outline" or "rectangle"
    mask_scale: float | None = None  # None: the user's --mask-scale
    # In a photo no track confirms a box: True masks one from the start level (else the threshold)
    alone_from_start: bool = False
    # A clear track early in its shot is back-filled up to the shot's start (vidanon.track.sort.EARLY_CLEAR)
    early: bool = False
    # Back-fill also follows a new track back by its look (vidanon.track.backfill; measured on faces)
    follow_back: bool = False

    def levels(self, threshold: float | None = None) -> tuple[float, float, float]:
        """``(threshold, start, low)`` with the user's threshold (None: the default); the
        lower levels never exceed the threshold."""
        t = self.threshold if threshold is None else threshold
        start = t if self.start is None else min(self.start, t)
        low = start if self.low is None else min(self.low, t)
        return t, start, low

    def detector(self, opts: Options, device: str, info: VideoInfo | None = None) -> Detector:
        """This target's detector for a run on ``device`` (:func:`vidanon.pipeline.run_device`;
        one per setting and process: later videos skip the model's load), for the video
        ``info`` (an interlaced one: the face detector looks at its fields too)."""
        from .detect import cached_detector

        threshold, _, low = self.levels(self.user_threshold(opts))
        if self is FACES:
            from .detect.dark import DarkAndLifted
            from .detect.fields import for_fields

            backend = "tf" if device.startswith("GPU") else "cpu"
            faces = cached_detector("faces", threshold, low, opts.detect_size, opts.scan_every or SCAN_EVERY, backend,
                                    opts.model)  # fmt: skip
            if opts.turned_faces:
                from .detect.turns import TurnedFaces

                faces = TurnedFaces(faces)
            faces = faces if info is None else for_fields(faces, info)
            return DarkAndLifted(faces)
        if self is PEOPLE:
            return cached_detector("people", threshold, low)
        from .detect.plates import resolve_model

        return cached_detector("plates", threshold, str(resolve_model(opts.plates_model)))

    def tracker(self, opts: Options, photo: bool = False, carry: int = 0):
        """This target's tracker: SORT with look-ahead, or only the detections at the
        threshold with ``--no-track``; for a ``photo`` (one frame, no track to confirm a
        weaker box), the detections at the threshold or, with ``alone_from_start``, at the
        start level. ``carry``: frames between two of the detector's full passes (see
        :class:`~vidanon.track.sort.SortTracker`)."""
        from .track import NoTracker, SortTracker

        threshold, start, low = self.levels(self.user_threshold(opts))
        if photo:  # the user's --threshold is taken as given
            return NoTracker(start if self.alone_from_start and self.user_threshold(opts) is None else threshold)
        if not opts.track:
            return NoTracker(threshold)
        return SortTracker(threshold=threshold, start_threshold=start, low_threshold=low, class_id=self.class_id,
                           follow=self.follow, follow_back=self.follow_back, early=self.early,
                           carry=carry)  # fmt: skip

    def user_threshold(self, opts: Options) -> float | None:
        return opts.plates_threshold if self is PLATES else opts.threshold


# Faces: CenterFace's scores. A detection at 0.2 or more starts a track that is masked once
# confirmed, one at 0.1 or more extends a track (see vidanon.track.sort).
FACES = Target("faces", FACE, threshold=0.4, start=0.2, low=0.1, follow=True, mask="head", early=True,
               follow_back=True)
# People: SSDLite's scores.
# In a photo a person is hidden from the start level: in a video a person seen at 0.35-0.5
# is hidden once a few frames confirm the track, which a photo cannot give (the sample clip's
# walking woman scores 0.41 in the frame where she is nearest the camera).
PEOPLE = Target("people", PERSON, threshold=0.5, start=0.35, low=0.2, follow=True, mask="outline",
                alone_from_start=True)
# Plates: the plate detector gives no weaker boxes, so there is no second, low-score pass;
# a lost plate is not followed by its look (text on a plain ground, much like the next car's).
PLATES = Target("plates", PLATE, threshold=0.25, start=None, low=None, follow=False, mask="rectangle", mask_scale=1.3)

TARGETS = {t.name: t for t in (FACES, PEOPLE, PLATES)}
BY_CLASS = {t.class_id: t for t in TARGETS.values()}


def selected(target: str, effect: str) -> list[Target]:
    """The targets of a run, from ``--target`` (a comma list, already checked) and the
    effect: ``splash`` shows people in colour, so it always detects people (instead of
    faces); hiding people hides faces too, so that a face whose person the person detector
    misses (far away, half behind someone) is still hidden. Plates come first: a bad plate
    model is reported before TensorFlow loads."""
    names = set(target.split(","))
    if effect == "splash" and "faces" in names:
        names = (names - {"faces"}) | {"people"}
    elif "people" in names and effect != "splash":
        names.add("faces")
    return [TARGETS[n] for n in ("plates", "faces", "people") if n in names]


def run_kinds(target: str, effect: str) -> str:
    """What a run hides, as ``--target`` spells it (``faces,people`` for ``people``)."""
    names = {t.name for t in selected(target, effect)}
    return ",".join(n for n in TARGETS if n in names)
