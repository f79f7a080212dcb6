"""The pipeline: frames source -> detect (batched) -> track -> render -> sink.

Each stage is a small object with one job, in a package of its own: a source of frames
(:mod:`vidanon.media.source`), a detector per target (:mod:`vidanon.detect`, chosen by
:mod:`vidanon.targets`) run on batches, a :class:`~vidanon.track.Tracker` per target
(:mod:`vidanon.track`; several joined by a :class:`~vidanon.track.JointTracker`, or the
replay of a tracks file), the compositor (:mod:`vidanon.render`) and a sink
(:mod:`vidanon.media.sink`). They pass :class:`~vidanon.detections.Detections` records.
:func:`build_stages` makes the detect, track and render stages from
:class:`~vidanon.options.Options` for every entry point; :func:`run_stages` joins them:

* :func:`anonymize` (the command line, batch folders, ``--segments``, Ray): a file
  source, all stages, a file sink;
* :mod:`vidanon.clip` (moviepy): a clip source, detect and track into a list of
  Detections; moviepy then pulls each frame through the render stage.

:func:`run_stages` runs the stages at once, joined by bounded queues so that memory
stays flat whatever the clip's length: a reader thread decodes frames and groups them
into batches and makes the networks' inputs; a detect thread runs the networks on each
batch; decode threads turn their output into boxes and look again at the weak ones; the
calling thread runs the tracker on each frame; a consumer thread renders and writes. ffmpeg decodes and encodes in
processes of its own, and TensorFlow releases the GIL while it computes.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .console import count, one_line
from .detect import Detector
from .detect.colour import SPLASH_GREY, ColourWatch
from .detect.tf_setup import (
    TRIM_EVERY,
    compute_device,
    configure_tensorflow,
    cpu_device,
    cpu_threads,
    hide_gpu,
    release_free_memory,
)
from .detect.view import detector_view
from .detections import Detections
from .errors import InputError, OutputError, ResourceError, VidanonError, out_of_memory
from .media.encoders import check_encoder
from .media.gif import deep_gif_message
from .media.paths import OutputClaim, clear_stale_temp_files, prepare_output, undo_folders
from .media.plan import CONTAINERS, ODD_420, container_of, default_codec
from .media.probe import VideoInfo, probe
from .media.reader import Frame
from .media.sidefile import check_side_file, run_inputs
from .media.sink import EncodeSettings, FileSink, Stats
from .media.source import FileSource
from .options import OPTION, TARGETS, OptionError, Options, ask, spell  # noqa: F401 - Options and TARGETS are part of this module's API
from .photo import is_photo
from .render.compositor import Compositor
from .review import check_review_target, write_review
from .review.flags import mask_cover
from .runner import Finish, Run, at_once, network_lanes, run_stages
from .targets import BY_CLASS, FACES, PEOPLE, PLATES, run_kinds, selected
from .track import (  # noqa: F401 - load_tracks: API
    JointTracker,
    Part,
    ReplayTracker,
    ShotCuts,
    TracksRecorder,
    TrackStage,
    load_tracks,
    replay_for,
)

# --start/--end: the detector and the tracker also see this many seconds on each side of
# the span, so that a face is tracked (and its track confirmed) at the span's first frame
# exactly as in a run over the whole video.
SPAN_MARGIN = 1.0

# --device auto: a video of faces with fewer pixels in all than this many frames of 1920x1080
# a CPU thread (90 frames on 2 cores, 720 on 16; a 3840x2160 frame counts four) runs on the CPU
# even where TensorFlow sees a GPU. A GPU run spends 9-19 s before its frames go at full speed
# (TensorFlow's import, its first calls on the GPU), the CPU path about 1-3 s; per frame of
# 1080p the CPU path took 146 ms on 2 cores and 58 ms on an H200 machine's 16 (400 frames), the
# GPU path 36 ms there with about 19 s of start (docs/gpu.md): the GPU catches up after about 90
# frames on 2 cores, 780 on 16.
SHORT_VIDEO_FRAMES_A_THREAD = 45


def short_video_pixels() -> int:
    """The pixels under which --device auto keeps a video of faces on the CPU (see
    SHORT_VIDEO_FRAMES_A_THREAD), for this process's share of the cores."""
    return SHORT_VIDEO_FRAMES_A_THREAD * cpu_threads() * 1920 * 1080


@dataclass
class Summary:
    """What one run did."""

    input: str
    output: str
    frames: int
    width: int
    height: int
    fps: float  # the rate of the frames written (media.sink.FileSink.fps: an animated image's mean rate)
    faces: int  # boxes masked (faces, or people with --target people / splash), summed over frames
    frames_with_faces: int
    tracks: int
    seconds: float
    device: str
    warnings: list[str] = field(default_factory=list)
    target: str = "faces"
    metadata_removed: list[str] = field(default_factory=list)  # tags of the input left out of the output
    review: str | None = None  # the review sheet written (see vidanon.review)
    flagged: int = 0  # tracks the review sheet lists as worth a look
    photo: bool = False  # a photo (vidanon.photo): one frame

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["frames_per_second"] = round(self.frames_per_second, 2)
        return d


def auto_batch_size(height: int, width: int, gpu: bool) -> int:
    """Frames per detector call: enough to keep the device busy, bounded in memory. On a CPU
    the network sees one frame at a time whatever the batch, and up to two batches wait
    prepared as float inputs (vidanon.runner.PREPARED), up to 2.25 times the frame's pixels
    each: about 0.6 megapixels a batch kept the memory of the single-threaded detector
    (640x360: 2 frames, 220 MB peak against 265 MB with 5) at the same speed."""
    pixels = max(height * width, 1)
    if gpu:
        return int(np.clip(48e6 // pixels, 1, 32))
    return int(np.clip(0.6e6 // pixels, 1, 8))


@dataclass
class Stages:
    """The detect, track and render stages for one video, as :func:`build_stages` makes them."""

    detect: Callable[[list[np.ndarray]], list[Detections]]  # a batch of frames -> raw detections per frame
    track: TrackStage
    render: Compositor
    batch_size: int
    device: str
    people: bool
    # ``detect`` in three steps, for :func:`run_stages`: a batch of frames -> a function
    # running the networks -> a function giving the detections. The first (the networks'
    # inputs) runs in the reading thread, the second (the networks, the GIL mostly
    # released) in the detect thread, the third (decoding and second looks) in a decode
    # thread; None: all of ``detect`` in the detect thread.
    prepare: Callable[[list[np.ndarray]], Run] | None = None
    # Batches whose networks run at once (vidanon.runner.network_lanes): 2 only where
    # ``prepare`` is given and every detector may run two batches at once.
    lanes: int = 1
    warnings: list[str] = field(default_factory=list)  # for the run's summary (a replayed file's)
    target: str | None = None  # a replay: the kinds its file holds, as --target spells them (None: the run's)
    colour: ColourWatch | None = None  # faces: whether the frames show colour (grey: fewer faces found)
    looked_for: str | None = None  # the kinds looked for (a replay: its file's), as --target spells them


def build_stages(opts: Options, height: int, width: int, first_index: int = 0,
                 info: VideoInfo | None = None, frames: int | None = None, photo: bool = False) -> Stages:  # fmt: skip
    """The stages every entry point runs, from the (validated) options and the frame size:
    for each target of the run (:mod:`vidanon.targets`) its detector and its tracker.
    ``first_index`` is the number, in its video, of the first frame the source gives (the
    face detector's scan plan counts frames from the video's start). ``info``: the video
    file the frames come from, if any: the detectors then see them as
    :func:`vidanon.detect.view.detector_view` makes them (square pixels, PQ HDR at SDR
    brightness); the tracker, the renderer and the sink get the source's frames as they are.
    ``frames``: the video's length where ``info`` does not give it (a moviepy clip; a photo
    is one frame), for the choice of the device (:func:`run_device`). ``photo``: one still
    frame, no tracker (:meth:`vidanon.targets.Target.tracker`)."""
    targets = selected(opts.target, opts.effect)
    people = PEOPLE in targets
    frames = info.n_frames if info is not None else frames
    pixels = None if frames is None else frames * height * width
    if opts.tracks:  # a replay: no detector at all (the file is checked before TensorFlow loads)
        replay = replay_for(opts.tracks, targets, opts.effect, width, height, info and info.path.name,
                            info and float(info.fps))  # fmt: skip
        device = run_device(opts, pixels, people)
        batch = opts.batch_size or auto_batch_size(height, width, device.startswith("GPU"))
        kinds = ",".join(n for n in TARGETS if n in {BY_CLASS[c].name for c in replay.classes})
        return Stages(_no_detections, TrackStage(replay), build_render(opts), batch, device, people,
                      warnings=replay.warnings, target=kinds or None, looked_for=replay.looked_for)  # fmt: skip
    detectors: dict[str, Detector] = {}
    if PLATES in targets:  # first: a bad plate model is reported before choosing the device imports TensorFlow
        detectors[PLATES.name] = PLATES.detector(opts, "")
    device = run_device(opts, pixels, people)
    for target in targets:
        if target is not PLATES:
            detectors[target.name] = target.detector(opts, device, info)
    batch = opts.batch_size or auto_batch_size(height, width, device.startswith("GPU"))
    targets = sorted(targets, key=lambda t: t.class_id)  # faces or people, then plates
    # the face detector's frames between two of its full passes (its scan plan)
    plan = getattr(detectors.get(FACES.name), "plan", None)
    carry = {FACES.name: plan(height, width).every - 1} if plan is not None else {}
    if len(targets) == 1:
        tracker = targets[0].tracker(opts, photo=photo, carry=carry.get(targets[0].name, 0))
    else:  # several kinds on the same frames: a tracker of its own for each
        tracker = JointTracker([Part((t.class_id,), t.tracker(opts, photo=photo, carry=carry.get(t.name, 0)))
                                for t in targets])  # fmt: skip
    position = [first_index]
    near = span_test(opts, info, margin=SPAN_MARGIN)
    cuts = ShotCuts()  # the shots' first frames, for the face detector's scan plan
    colour = ColourWatch(hint=effective_threshold(opts) > 0.3) if FACES in targets else None
    if opts.effect == "splash":  # (its look of people in colour changes nothing in a grey video)
        colour = ColourWatch(hint=False, said=SPLASH_GREY)
    # the video's last frame gets the full pass too: no later one confirms a small face arriving there
    last = -1 if frames is None else frames - 1

    def prepare(frames: list[np.ndarray]) -> Run:
        first = position[0]
        starts = [cuts(f) or first + i in (first_index, last) for i, f in enumerate(frames)]  # every frame seen by cuts
        position[0] += len(frames)
        if colour is not None:
            colour(frames)
        if not any(map(near, frames)):  # far outside --start/--end: nothing to look for
            return functools.partial(at_once, _no_detections, frames)
        batch = np.stack(frames)  # 8-bit RGB (a file source's Frames hold their 16-bit samples aside)
        if info is not None:  # as displayed: boxes are normalized, so they fit the frames as stored too
            batch = detector_view(batch, info)
        runs = [_prepared(detectors[t.name], batch, first, starts) for t in targets]
        return functools.partial(_run_all, runs)

    def detect(frames: list[np.ndarray]) -> list[Detections]:
        return prepare(frames)()()

    lanes = network_lanes() if all(getattr(d, "parallel_batches", False) for d in detectors.values()) else 1
    return Stages(detect, TrackStage(tracker, ShotCuts()), build_render(opts), batch, device, people, prepare, lanes,
                  colour=colour, looked_for=run_kinds(opts.target, opts.effect))  # fmt: skip


def run_device(opts: Options, pixels: int | None, people: bool) -> str:
    """The device a run's detectors use, in words (the summary line's): ``--device`` cpu or
    gpu as asked; auto, the GPU where TensorFlow sees one, except for a short video with
    faces alone (``pixels`` in all its frames fewer than :func:`short_video_pixels`; None: not
    known), which the CPU path finishes sooner than the GPU path. People need
    TensorFlow anyway: ``--device cpu`` then keeps it off the GPU for the rest of the process."""
    if opts.device == "cpu":
        if people:
            hide_gpu()
        return cpu_device()
    if opts.device == "gpu":
        device = configure_tensorflow()
        if not device.startswith("GPU"):
            raise OptionError(f"{ask('device', 'gpu')}: TensorFlow sees no GPU on this machine (it runs on the "
                              f"{device}); see docs/gpu.md")  # fmt: skip
        return device
    if not people and pixels is not None and pixels < short_video_pixels():
        return cpu_device()
    return compute_device()


def _prepared(detector: Detector, batch: np.ndarray, first: int, starts: list[bool]) -> Run:
    """``detector`` on ``batch`` in the steps of :attr:`Stages.prepare`: its own where it has
    them (the face detector, told which frames start a shot), else all of it in the networks' step."""
    prepare = getattr(detector, "prepare", None)
    return prepare(batch, first, starts) if prepare is not None else functools.partial(at_once, detector, batch, first)


def _run_all(runs: list[Run]) -> Finish:
    return functools.partial(_finish_all, [run() for run in runs])


def _finish_all(finishes: list[Finish]) -> list[Detections]:
    found = [finish() for finish in finishes]
    return found[0] if len(found) == 1 else [Detections.merge(list(parts)) for parts in zip(*found)]


def span_test(opts: Options, info: VideoInfo | None, margin: float = 0.0) -> Callable[[Any], bool]:
    """Whether a frame is inside the span ``--start``/``--end`` (its presentation time from
    the video's start; the end excluded), widened by ``margin`` seconds on each side. Every
    frame is when there is no span."""
    if info is None or (opts.start is None and opts.end is None):
        return lambda frame: True
    start = (opts.start or 0.0) - margin
    end = float("inf") if opts.end is None else opts.end + margin
    origin = info.file_start

    def inside(frame) -> bool:
        pts = getattr(frame, "pts", None)
        return pts is None or start <= float(pts) - origin < end

    return inside


def check_span(opts: Options, info: VideoInfo) -> list[str]:
    """``--start``/``--end`` against the video's duration (when it is known): a start past
    the end is an error; an end past it (one ``--end`` for a folder of videos of many
    lengths) hides faces to the end, with a warning."""
    if opts.start is not None and info.duration > 0 and opts.start >= info.duration:
        raise InputError(f"{ask('start')} {opts.start:g} s is past the end of {info.path.name} "
                         f"({info.duration:.2f} s)")  # fmt: skip
    last = info.duration + (1.0 / float(info.fps) if info.fps else 0.0) / 2  # up to half a frame past
    if opts.end is not None and info.duration > 0 and opts.end > last:
        return [f"{ask('end')} {opts.end:g} s is past the end of {info.path.name} ({info.duration:.2f} s): faces "
                "hidden to the end"]  # fmt: skip
    return []


def effective_threshold(opts: Options) -> float:
    """The score above which a box is always masked: ``--threshold``, else the default of
    the run's first target (faces, or people)."""
    main = [t for t in selected(opts.target, opts.effect) if t is not PLATES] or [PLATES]
    return main[0].levels(main[0].user_threshold(opts))[0]


def build_render(opts: Options) -> Compositor:
    """The render stage: the effect, and the people segmenter when people are hidden."""
    from .render.effects import load_image

    return Compositor(opts.effect, opts.mask_scale, opts.people, _segmenter() if opts.people else None,
                      cells=opts.strength, fill_color=opts.fill_color or (0, 0, 0),
                      image=load_image(opts.image) if opts.effect == "image" else None)  # fmt: skip


def _no_detections(frames: list[np.ndarray]) -> list[Detections]:
    return [Detections.empty() for _ in frames]


def check_encoding(opts: Options, target: Path, info: VideoInfo | None = None) -> None:
    """A ``--codec``, ``--preset`` or ``--crf`` the output cannot be written with is refused before
    the run (:func:`~vidanon.media.encoders.check_encoder`; the defaults need no check), and so is a
    10-bit input as a GIF. ``info``: the input, when known (a 10-bit input is written at 10 bits)."""
    if info is not None and info.deep and container_of(target) == "gif":
        raise OutputError(deep_gif_message(target, info))
    if opts.odd_size != OPTION["odd_size"].default:  # (as a --preset the encoder ignores)
        codec = opts.codec or default_codec(container_of(target), info)
        if codec in ODD_420 or codec == "gif":
            raise OptionError(spell(f"{{odd_size={opts.odd_size}}} has no effect: it is for libx264 and libx265, and "
                                    f"{target.suffix.lower()} is written with {codec}, which keeps an odd size as it is"))
    if opts.codec or opts.preset != OPTION["preset"].default or opts.crf != OPTION["crf"].default:
        container = container_of(target)
        check_encoder(container, opts.codec or default_codec(container, info), opts.preset, opts.crf,
                      deep=bool(info is not None and info.deep), name=target.suffix.lower() or None,
                      named=bool(opts.codec))  # fmt: skip


NO_FRAME_IN_SPAN = "no frame starts"  # a warning a segmented run gives only if each part gives it


@undo_folders()
def anonymize(input: str | os.PathLike, output: str | os.PathLike, effect: str = "blur", **kwargs) -> Summary:
    """Hide every face of the video ``input`` and write the result to ``output``.

    Keyword arguments are the fields of :class:`Options`. Returns a :class:`Summary`.
    Raises :class:`~vidanon.errors.VidanonError` for anything wrong with the inputs
    (:class:`~vidanon.options.OptionError`, a ValueError too, for a bad option).
    """
    opts = Options.from_kwargs(effect=effect, **kwargs)
    started = time.perf_counter()
    info = probe(input)
    span_warnings = check_span(opts, info)
    if is_photo(output):  # "an unknown container extension" said less
        what = "an animated image is written as a video or a GIF" if is_photo(input) else \
            "a video is written as a video"
        raise OutputError(f"output {output}: {what}; name it {', '.join(sorted(CONTAINERS))}")
    target = prepare_output(output, info.path, opts.overwrite, mkdir=opts.mkdir)
    check_encoding(opts, target, info)
    if opts.save_tracks:  # the side files are checked as the output is: before any work
        check_side_file(opts.save_tracks, "tracks file", info.path, target, opts.overwrite, run_inputs(opts))
    if opts.review:
        check_review_target(opts.review, info.path, target, opts.overwrite, opts.save_tracks, run_inputs(opts))
    first, last = 0, None  # frames written: [first, last)
    skip, limit = 0, None  # frames decoded: [skip, skip + limit)
    if opts.frame_range is not None:
        first, last = opts.frame_range
        skip = max(0, first - opts.context)
        limit = None if last is None else last + opts.context - skip
    stages = build_stages(opts, info.height, info.width, first_index=skip, info=info)
    stats = Stats()
    recorder = TracksRecorder(stages.looked_for) if opts.save_tracks or opts.review else None
    progress = _progress(info, opts.progress)
    source = FileSource(info, skip=skip, limit=limit)
    inside = span_test(opts, info)
    seen: set[int] = set()  # track ids met (for --keep)
    spanned: list[int] = []  # the first and last frame inside --start/--end (for the sheet)
    refused: list[tuple[int, int, float]] = []  # masks over --max-face-size: (frame, track id, share)
    sink: FileSink | None = None

    def consume(index: int, frame: Frame, dets: Detections) -> None:
        index += skip  # the frame's number in the whole video
        if index < first or (last is not None and index >= last):
            return  # context of a part: tracked, not written
        span = inside(frame)
        if not span:  # outside --start/--end: written as it is (also by splash, which greys a frame without people)
            dets = Detections.empty()
        else:
            spanned[min(len(spanned), 1):] = [index]  # [first] then [first, last]
            if opts.keep:  # --keep: those tracks are left as they are
                seen.update(int(t) for t in dets.track_ids)
                dets = dets[np.flatnonzero(~np.isin(dets.track_ids, opts.keep))]
        if opts.max_face_size is not None and len(dets):  # masks too large: refused, and listed for the sheet
            shares = stages.render.shares(dets, info.height, info.width)
            big = shares > opts.max_face_size
            refused.extend((index, int(dets.track_ids[i]), float(shares[i])) for i in np.flatnonzero(big))
            dets = dets[np.flatnonzero(~big)]
        shown = stages.render.masks(frame, dets)
        if recorder is not None:
            recorder.add(index, dets, frame.pts, mask_cover(shown) if opts.review else None)
        # the decoded frame goes along: its time (and 16-bit samples) go to the encoder
        if sink.write(stages.render.draw(frame.picture, shown) if span else frame.picture, source=frame):
            stats.add(dets)  # over the frames written, as Summary.frames (a GIF leaves some out)
        progress.update(1)
        if sink.frames_written % TRIM_EVERY == 0:
            release_free_memory()
        if opts.on_frames is not None:
            opts.on_frames(1)

    claim: OutputClaim | None = None
    try:
        if not opts.overwrite:  # the name taken now: of two runs writing it, the second is refused
            claim = OutputClaim(target)
        settings = EncodeSettings(
            codec=opts.codec, crf=opts.crf, preset=opts.preset, audio=opts.audio, metadata=opts.metadata,
            odd_size=opts.odd_size, extras=opts.frame_range is None,  # a part: the join adds the extras
        )  # fmt: skip
        sink = FileSink(target, info, settings)
        run_stages(source, stages, consume)
        sink.finish()
        sink.commit()
    except BaseException as exc:
        source.close()
        if sink is not None:
            sink.abort()
        if claim is not None:
            claim.release()
        progress.close()
        if out_of_memory(exc):
            raise ResourceError(f"out of memory while anonymizing {info.path.name} ({info.width}x{info.height} "
                                "frames); free some memory, or try --batch-size 1 and --detect-size 960") from None
        raise
    finally:
        source.close()
    progress.close()
    sheet = None
    try:  # the video is kept if a side file fails (a full disk): the message says so
        if opts.save_tracks:
            recorder.save(opts.save_tracks, str(info.path), info.width, info.height, float(info.fps))
        if opts.review:  # drawn on frames read back from the finished output, sampled in the span
            span = (spanned[0], spanned[-1]) if spanned and (opts.start, opts.end) != (None, None) else None
            sheet = write_review(opts.review, recorder, info, target, effective_threshold(opts), opts.mask_scale,
                                 stages.people, refused=(refused, opts.max_face_size), span=span)  # fmt: skip
    except VidanonError as exc:
        raise OutputError(f"{exc}; the video {target} was written") from None

    warnings = span_warnings + stages.warnings + (stages.colour.warnings() if stages.colour else []) + sink.warnings()
    if refused:
        warnings.append(f"{count(len(refused), 'mask')} larger than {opts.max_face_size:g} of the frame "
                        f"{'was' if len(refused) == 1 else 'were'} not drawn "
                        f"({count(len({t for _, t, _ in refused}), 'track')})")  # fmt: skip
    unknown = sorted(set(opts.keep or ()) - seen)
    if unknown:
        where = "" if opts.start is None and opts.end is None else f" between {ask('start')} and {ask('end')}"
        warnings.append(f"no track {', '.join(map(str, unknown))} to keep in {info.path.name}{where}")
    if not spanned and (opts.start, opts.end) != (None, None):  # a part: of its share (said if every part says it)
        warnings.append(f"{NO_FRAME_IN_SPAN} between {ask('start')} and {ask('end')}: no face was hidden (a frame "
                        "counts when its time is in the span)")  # fmt: skip
    if source.decode_warning:
        warnings.append(f"the input has decoding errors; {source.frames_read} frames were decoded "
                        f"({source.decode_warning})")  # fmt: skip
    cleared = clear_stale_temp_files(target)  # a killed run's files, once this one is done
    if cleared:
        warnings.append(cleared)
    return Summary(
        input=str(info.path), output=str(target), frames=sink.frames_written, width=info.width,
        height=info.height, fps=sink.fps, faces=stats.boxes,
        frames_with_faces=stats.frames_with_boxes, tracks=len(stats.track_ids),
        seconds=time.perf_counter() - started, device=stages.device, warnings=warnings,
        target=stages.target or run_kinds(opts.target, opts.effect),
        metadata_removed=sink.metadata_removed,
        review=opts.review, flagged=sheet.worth_a_look if sheet is not None else 0,
    )  # fmt: skip


@functools.lru_cache(maxsize=1)
def _segmenter():
    from .render.segment import PersonSegmenter

    return PersonSegmenter()


def _progress(info: VideoInfo, enabled: bool):
    """The bar of one video's frames; its clock starts at the first frame written."""
    from .progress import FrameBar

    return FrameBar(
        total=info.n_frames or None, unit="frame", desc=one_line(info.path.name)[:30], disable=not enabled,
        dynamic_ncols=True, leave=False,
    )  # fmt: skip
