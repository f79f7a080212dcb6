"""moviepy 2.x: anonymize a clip inside a moviepy script.

::

    from moviepy import VideoFileClip
    import vidanon

    clip = VideoFileClip("in.mp4")
    anon = clip.with_effects([vidanon.Anonymize(effect="pixelate")])   # or vidanon.anonymize_clip(clip)
    anon.write_videofile("out.mp4")

How it works: :meth:`Anonymize.apply` makes a first pass over the clip, as the command
line does over a file: the frames at the clip's fps (frame ``i`` at ``t = i / fps``),
batched through the same detector and the same tracker (look-ahead and shot cuts
included, :func:`vidanon.pipeline.build_stages`), with a progress bar. It keeps the
boxes to hide in every frame (a few bytes per face: :class:`ClipTracks`), not the frames.
The returned clip renders frame ``t`` on demand from the source's frame ``t`` and the
boxes of frame ``round(t * fps)``; so a preview of one frame (``get_frame(t)``, in any
order) shows the same pixels as the sequential render, and the clip composes like any
other (``subclipped``, ``concatenate_videoclips``, ``CompositeVideoClip``,
``write_videofile``). Between two frames (a composition at another fps), the boxes of
both neighbours are hidden, or, where the picture shown is one the pass looked at (a
checksum of each is kept), that frame's alone. Size, duration, fps, audio and mask are
the source's.
"""

from __future__ import annotations

import inspect
import math
import os
import time
import warnings
from dataclasses import dataclass

import numpy as np
from moviepy.Effect import Effect

from .detections import Detections
from .errors import VidanonError
from .media.source import ClipSource, SizeGrew, as_rgb8, fingerprint, frame_count
from .options import (
    CLIP_OPTIONS,
    PYTHON,
    OptionError,
    Options,
    check,
    from_table,
    reject_unknown,
    signature,
    spoken,
    with_options,
)
from .targets import PLATES, selected
from .track.replay import check_looked_for

# |t * fps - round(t * fps)| below this (in frames) is frame round(t * fps) itself: times
# computed as i / fps, or shifted by a composition's start, are off by rounding only. It stays
# under the 1e-5 frame by which moviepy's file reader rounds up (it shows frame int(t * fps +
# 1e-5)): a 29.97 fps clip written at 30 fps asks for t = 1/30, 0.999 of a frame, where the
# reader shows frame 0; both neighbours are hidden there.
ON_FRAME = 1e-6
# A picture shown for less than PART_FRAMES frames of the pass raises its rate up to this (a part
# shown for less than 1/60 s is under a frame of any usual output).
SHORTEST_FPS = 60
# The frames of the pass in the shortest part (a slideshow's photo): with two, one is at least half a
# frame inside it, whatever the rounding of the part's start (moviepy sums the durations in floats: a
# photo lasting one frame of the pass began a rounding step after its frame, which showed the photo
# before, and was never looked at: a QA sweep).
PART_FRAMES = 2


@dataclass
class ClipTracks:
    """The boxes to hide in every frame of a clip sampled at ``fps`` (frame ``i`` at ``i / fps``)."""

    fps: float
    frames: list[Detections]
    device: str = ""
    seconds: float = 0.0  # the first pass's wall time
    size: tuple[int, int] | None = None  # (width, height) of the clip the boxes were found in
    looked_for: str | None = None  # the kinds the first pass looked for, as target= spells them
    prints: list[int] | None = None  # the fingerprint of each frame looked at (media.source.fingerprint)
    duration: float | None = None  # the length of the clip looked at (s)

    def __len__(self) -> int:
        return len(self.frames)

    def check_fits(self, clip) -> None:
        """Refuse (:class:`OptionError`) a clip of another size, or of another length at
        :attr:`fps`, than the one these boxes were found in: on a cut of it they would hide
        the faces of other times (frame ``i`` of the cut is not frame ``i`` of the clip), on
        a crop or another clip those of other places."""
        size = tuple(int(v) for v in clip.size)
        frames = shown_frames(clip, self.fps)
        if (self.size is not None and size != self.size) or frames != len(self):
            saved = f"{self.size[0]}x{self.size[1]} clip" if self.size is not None else "clip"
            raise OptionError(f"the boxes given as tracks= are those of a {saved} of {len(self)} frames at "
                              f"{self.fps:g} fps, but this clip is {size[0]}x{size[1]}, {frames} frames at "
                              f"{self.fps:g} fps: they belong to another clip (anonymize this clip itself, or cut the "
                              "anonymized one)")  # fmt: skip
        self._check_not_turned(clip)

    def _check_not_turned(self, clip) -> None:
        """Refuse (:class:`OptionError`) a copy of the clip mirrored, upside down or reversed in
        time (``vfx.MirrorX``, ``TimeMirror``: same size and length, every box in the wrong
        place): its first, middle and last frames have the :attr:`prints` of those the boxes were
        found in turned, or in the other order. Three frames read; another change (a colour
        grade) is not told from another clip, and is let through."""
        n = len(self)
        if self.prints is None:  # (boxes read from a file, or made by hand)
            return
        with warnings.catch_warnings():  # moviepy warns when asked for a time after a file's last frame
            warnings.simplefilter("ignore")
            shown = {i: as_rgb8(clip.get_frame(i / self.fps)) for i in sorted({0, n // 2, n - 1})}
        marks = {i: fingerprint(f) for i, f in shown.items()}
        if all(marks[i] == self.prints[i] for i in shown):  # the clip itself (the usual)
            return
        back = slice(None, None, -1)
        turns = {"mirrored left to right": (slice(None), back), "upside down": (back,),
                 "turned half round": (back, back)}  # fmt: skip
        said = next((name for name, turn in turns.items() for i, f in shown.items()
                     if marks[i] != self.prints[i] and fingerprint(f[turn]) == self.prints[i]), None)  # fmt: skip
        if said is None and n > 1 and marks[0] == self.prints[-1] != self.prints[0] == marks[n - 1]:
            said = "reversed in time"
        if said is not None:
            raise OptionError(f"the boxes given as tracks= were found in this clip's frames {said}: they would be "
                              "drawn where its faces are not (anonymize this clip itself)")

    def at(self, t: float, frame: np.ndarray | None = None) -> Detections:
        """The boxes to hide at time ``t``: those of frame ``round(t * fps)`` when ``t`` is on a
        frame, else the boxes of the two frames around ``t`` (clamped to the clip). Given the
        ``frame`` shown at ``t`` (its pixels), the boxes of the frames looked at that show the
        same picture (:attr:`prints`) are taken instead where there are some: a slideshow's
        photo that starts a rounding step after a frame of the pass, or between two of them,
        gets its own boxes. A time more than a frame after the clip's end is refused
        (:class:`VidanonError`): its faces were never looked for."""
        x = float(t) * self.fps
        end = max(len(self.frames), (self.duration or 0) * self.fps)
        if x > end + ON_FRAME:
            raise VidanonError(f"the anonymized clip was asked for its frame at {float(t):g} s, after its end "
                               f"({end / self.fps:g} s, {len(self)} frames at {self.fps:g} fps): its faces were only "
                               "looked for up to there; make the clip longer (with_duration) before anonymizing it, "
                               "not after")  # fmt: skip
        nearest = round(x)
        if abs(x - nearest) <= ON_FRAME:  # the frame, else (a photo starting a rounding step after it) a neighbour
            near, seen = [nearest], [nearest, nearest - 1, nearest + 1]
        else:
            near = [math.floor(x), math.floor(x) + 1]
            seen = sorted(near, key=lambda i: abs(x - i))
        if frame is not None and self.prints is not None:
            mark = fingerprint(frame)
            near = next(([i] for i in seen if self.prints[self._clamp(i)] == mark), near)
        kept = sorted({self._clamp(i) for i in near})
        return self.frames[kept[0]] if len(kept) == 1 else Detections.merge([self.frames[i] for i in kept])

    def save(self, path: str, clip) -> None:
        """Write these boxes as a tracks file (the format of ``--save-tracks``) of ``clip``."""
        from .track.replay import save_tracks

        width, height = self.size or (int(v) for v in clip.size)
        save_tracks(path, self.frames, str(getattr(clip, "filename", "") or type(clip).__name__), width, height,
                    self.fps, self.looked_for)  # fmt: skip

    def _clamp(self, i: int) -> int:
        return min(max(int(i), 0), len(self.frames) - 1)


def compute_tracks(clip, opts: Options, fps: float) -> ClipTracks:
    """The first pass: every frame of ``clip`` at ``fps`` through detect and track."""
    started = time.perf_counter()
    width, height = (int(v) for v in clip.size)
    if opts.save_tracks:  # before the work: never the clip's own file, a folder that can be written
        check_tracks_target(opts.save_tracks, clip, opts)
    source = ClipSource(clip, fps, shown_frames(clip, fps), (height, width))
    try:
        frames, stages = _first_pass(source, opts)
    except SizeGrew:  # a zoom in: looked at again at its largest size, no frame made smaller
        source = ClipSource(clip, fps, source.n_frames, source.largest())
        frames, stages = _first_pass(source, opts)
    tracks = ClipTracks(float(fps), frames, stages.device, time.perf_counter() - started, (width, height),
                        stages.looked_for, source.prints, float(clip.duration))  # fmt: skip
    if opts.save_tracks:
        tracks.save(opts.save_tracks, clip)
    return tracks


def _first_pass(source: ClipSource, opts: Options):
    """The boxes of every frame of ``source``, and the stages that found them."""
    from .pipeline import build_stages, run_stages
    from .progress import FrameBar

    stages = build_stages(opts, *source.size, frames=source.n_frames)
    frames: list[Detections] = []
    bar = FrameBar(total=source.n_frames, unit="frame", desc="vidanon: finding faces", disable=not opts.progress,
                   dynamic_ncols=True, leave=False)  # fmt: skip

    def consume(index: int, _frame, dets: Detections) -> None:
        if index != len(frames):  # pragma: no cover - the trackers emit in order
            raise RuntimeError(f"frame {index} came out of order")
        frames.append(dets)
        bar.update(1)

    try:
        run_stages(source, stages, consume, keep_frames=False)
    finally:
        bar.close()
    return frames, stages


def shown_frames(clip, fps: float) -> int:
    """The frames of ``clip`` at ``fps`` that it can show: those moviepy writes of it
    (:func:`~vidanon.media.source.frame_count`), and one more where its duration ends inside a
    frame after them and it shows a new one there (a cut at 1.05 s at 12 fps shows frame 12 at
    1.0 s in a concatenation). A file whose duration is rounded up shows its last frame again
    there, a still clip the same pixels: no frame more."""
    n = frame_count(clip.duration, fps)
    if math.ceil(clip.duration * fps - ON_FRAME) <= n:
        return n
    with warnings.catch_warnings():  # moviepy warns when asked for a time after a file's last frame
        warnings.simplefilter("ignore")
        last = np.array(clip.get_frame((n - 1) / fps))
        after = np.asarray(clip.get_frame(n / fps))
    return n if np.array_equal(last, after) else n + 1


def check_tracks_target(path: str, clip, opts: Options) -> None:
    """Where ``save_tracks`` goes, checked before the work: never the clip's own file nor a
    file the run reads (the tracks file replayed), in a folder that can be written (an
    existing file is replaced: the effect has no overwrite)."""
    from .media.sidefile import check_side_file, run_inputs

    check_side_file(path, "tracks file", getattr(clip, "filename", None), None, overwrite=True, others=run_inputs(opts))


_TYPES = {"tracks": str | os.PathLike | ClipTracks | None}  # the table's, and the boxes of a clip


@from_table(CLIP_OPTIONS, _TYPES)
class Anonymize(Effect):
    """A moviepy effect that hides every face (or person, or plate) of a clip.

    ``clip.with_effects([Anonymize(effect="blur")])``. The options are those of the command
    line, with the same names, ranges and messages (:mod:`vidanon.options`), and ``fps``.
    ``tracks`` also takes the :class:`ClipTracks` of a clip anonymized before
    (``anon.vidanon_tracks``): its boxes are hidden again (another effect, say), without
    looking for them; a clip of another size or length is refused
    (:meth:`ClipTracks.check_fits`). A bad option (out of range, or of the wrong type, or a
    tracks file that cannot be read) raises :class:`~vidanon.options.OptionError` (a
    ValueError) when the effect is made.

    The returned clip has a ``vidanon_tracks`` attribute (:class:`ClipTracks`): the boxes
    hidden in every frame.
    """

    def __post_init__(self) -> None:
        with spoken(PYTHON):
            opts = self.options()  # a bad option fails where the effect is written
            if self.fps is not None:
                self.fps = check("fps", self.fps)
            if opts.tracks and not isinstance(opts.tracks, ClipTracks):
                _check_tracks_file(opts.tracks)
            elif not opts.tracks and PLATES in selected(opts.target, opts.effect):  # (a replay runs no detector)
                from .detect.plates import PlateModelError

                try:
                    PLATES.detector(opts, "")
                except PlateModelError as exc:
                    raise OptionError(str(exc)) from None

    def options(self) -> Options:
        return Options.from_kwargs(**{o.name: getattr(self, o.name) for o in CLIP_OPTIONS if o.file})

    def apply(self, clip):
        """Find the faces of ``clip`` (first pass) and return it with them hidden."""
        from .pipeline import build_render

        with spoken(PYTHON):
            opts = self.options()
            if said := opts.style_warning():  # as the command line says it (a weak strength, a smaller mask, splash)
                warn_caller(said)
            if getattr(clip, "size", None) is None:  # an AudioClip (its fps is its sample rate)
                raise TypeError(f"Anonymize hides faces in video clips; {type(clip).__name__} is not one")
            if getattr(clip, "is_mask", False):  # grey levels in [0, 1]: they came out as 0 and 1 RGB, marked a mask
                raise TypeError("Anonymize hides faces in video clips, not in a mask (is_mask=True): anonymize the "
                                "clip it masks, whose mask is kept")  # fmt: skip
            if clip.duration is None:
                raise OptionError("the clip has no duration: give it one with clip.with_duration(seconds)")
            if isinstance(self.tracks, ClipTracks):
                self.tracks.check_fits(clip)
                check_looked_for("the boxes given as tracks=", self.tracks.looked_for,
                                 selected(opts.target, opts.effect))  # fmt: skip
                tracks = self.tracks
                if opts.save_tracks:  # no first pass: these boxes are the ones to save
                    check_tracks_target(opts.save_tracks, clip, opts)
                    tracks.save(opts.save_tracks, clip)
            else:
                tracks = compute_tracks(clip, opts, self._fps(clip))
        render = build_render(opts)
        # the picture shown picks its boxes (a checksum a frame) only where the clip is made of parts
        # whose pictures can start between two frames of the pass: a slideshow, a concatenation
        parts = shortest_part(clip) is not None

        def frame_function(get_frame, t):
            frame = as_rgb8(get_frame(t))
            return render(frame, tracks.at(t, frame if parts else None))

        out = clip.transform(frame_function)  # mask and audio are kept as they are
        out.vidanon_tracks = tracks
        return out

    def _fps(self, clip) -> float:
        """The pass's rate: ``fps`` if given, else the clip's, raised where a picture of the clip
        is shown for less than a frame (:func:`shortest_part`): a slideshow of photos of their own
        durations has moviepy's fps of photos over length (4 in 3.5 s: 1.14), and a photo
        between two of its frames was never looked at (a QA sweep: faces left visible)."""
        fps = self.fps if self.fps is not None else getattr(clip, "fps", None)
        if not fps:
            raise OptionError("the clip has no fps: pass fps=N, the rate at which to look for faces (the rate it "
                              "will be written at)")  # fmt: skip
        short = None if frames_at(clip, fps) else shortest_part(clip)
        if short is not None and fps * short < PART_FRAMES - 1e-6:  # a picture the pass may not look at
            wanted = min(math.ceil(PART_FRAMES / short - 1e-6), SHORTEST_FPS)  # a frame well inside each
            if self.fps is None:
                fps = max(fps, wanted)
            else:
                warn_caller(f"a part of the clip is shown for {short:g} s, less than {PART_FRAMES} frames at "
                            f"fps={fps:g}: its faces may not be looked for; give fps={wanted} or more")
        return check("fps", fps)


def warn_caller(message: str) -> None:
    """A ``UserWarning`` pointing at the script's line: the first frame outside vidanon and
    moviepy (``anonymize_clip`` and ``with_effects`` are each called from a script)."""
    import moviepy

    inside = (os.path.dirname(moviepy.__file__) + os.sep, os.path.dirname(__file__) + os.sep)
    frame, level = inspect.currentframe(), 1
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def frames_at(clip, fps: float) -> bool:
    """Whether ``clip`` is a sequence of frames at ``fps`` (``ImageSequenceClip(frames, fps=fps)``):
    its pictures start at the pass's own times, ``i / fps`` (moviepy: a float32 hair before),
    so the pass looks at each where moviepy writes it at that rate; not one sped up."""
    starts = getattr(clip, "images_starts", None)
    return (starts is not None and abs(clip.duration * fps - len(starts)) < 1e-6
            and np.allclose(np.asarray(starts, float), np.arange(len(starts)) / fps, rtol=1e-6, atol=1e-6))  # fmt: skip


def shortest_part(clip, depth: int = 0) -> float | None:
    """The shortest time a picture of ``clip`` is shown, where it says: the shortest photo of a
    slideshow of its own durations (an ImageSequenceClip), the shortest part of a concatenation
    or a composition (photos one after the other), looked for a few compositions deep; None
    where nothing says."""
    timings = getattr(clip, "timings", None)  # concatenate_videoclips's chain: where each part starts (and the end)
    parts = [float(d) for d in getattr(clip, "durations", None) or () if d and d > 0]
    parts += [float(b - a) for a, b in zip(timings, timings[1:]) if b > a] if timings is not None else []
    recorded = sum(parts)  # a slideshow's or a chain's length as built
    for sub in getattr(clip, "clips", None) or () if depth < 4 else ():
        parts += [float(sub.duration)] if getattr(sub, "duration", None) and sub.duration > 0 else []
        inner = shortest_part(sub, depth + 1)
        parts += [inner] if inner is not None else []
    if not parts:
        return None
    # a copy sped up (with_speed_scaled) keeps the parts as built: shorter now by its length's ratio
    ratio = clip.duration / recorded if recorded and getattr(clip, "duration", None) else 1.0
    return min(parts) * min(ratio, 1.0)


def _check_tracks_file(path: str) -> None:
    """A tracks file that cannot be replayed (unreadable, not one, a bad box) is a bad option
    value: :class:`OptionError`, with the message the command line prints. Its fit to the clip
    (size, length, kinds of boxes) is checked when the effect is applied."""
    from .errors import InputError
    from .track.replay import read_tracks

    try:
        read_tracks(path)
    except InputError as exc:
        raise OptionError(str(exc)) from None


Anonymize.__doc__ = with_options(Anonymize.__doc__, CLIP_OPTIONS, _TYPES)


def anonymize_clip(clip, **options):
    """``clip.with_effects([Anonymize(**options)])``: ``clip`` with every face hidden; the
    options are :class:`Anonymize`'s.

    Parameters
    ----------
    clip : moviepy.VideoClip
        the clip to anonymize
    """
    with spoken(PYTHON):
        reject_unknown(options, CLIP_OPTIONS, " for a clip")
    if not callable(getattr(clip, "with_effects", None)) or getattr(clip, "size", None) is None:  # (audio)
        raise TypeError(f"anonymize_clip takes a moviepy video clip, not {type(clip).__name__}; for a file use "
                        "vidanon.anonymize(input, output)")  # fmt: skip
    return clip.with_effects([Anonymize(**options)])


anonymize_clip.__doc__ = with_options(anonymize_clip.__doc__, CLIP_OPTIONS, _TYPES)
anonymize_clip.__signature__ = signature([inspect.Parameter("clip", inspect.Parameter.POSITIONAL_OR_KEYWORD)],
                                         CLIP_OPTIONS, _TYPES)  # fmt: skip
