"""The pipeline: frames source -> detect (batched) -> track -> render -> sink.

Each stage is a small object with one job, in a module of its own: a source of frames
(:mod:`vidanon.source`), the detector made by :func:`build_detector` and run on batches
(:mod:`vidanon.detect`), a :class:`~vidanon.tracking.Tracker` (:mod:`vidanon.track`, or the
replay of a tracks file, :mod:`vidanon.tracksfile`), the renderer (:mod:`vidanon.render`)
and a sink (:mod:`vidanon.sink`). They pass :class:`~vidanon.detections.Detections`
records. With ``--target ...,plates`` the detect stage also runs the plate detector
(:mod:`vidanon.plates`) on the same frames and the track stage is a
:class:`~vidanon.jointtrack.JointTracker` (a tracker per kind). :func:`build_stages` makes the detect, track and render stages from
:class:`~vidanon.options.Options` for every entry point; :func:`run_stages` joins them:

* :func:`anonymize` (the command line, batch folders, ``--segments``, Ray): a file
  source, all stages, a file sink;
* :mod:`vidanon.clip` (moviepy): a clip source, detect and track into a list of
  Detections; moviepy then pulls each frame through the render stage.

:func:`run_stages` runs three stages at once, joined by bounded queues so that memory
stays flat whatever the clip's length: a reader thread decodes frames and groups them
into batches; the calling thread runs the detector on each batch and the tracker on
each frame; a consumer thread renders and writes. ffmpeg decodes and encodes in
processes of its own, and TensorFlow releases the GIL while it computes.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from .detect.tf_setup import TRIM_EVERY, compute_device, release_free_memory
from .detect.view import detector_view
from .detections import FACE, PERSON, PLATE, Detections
from .media.paths import prepare_output
from .media.probe import VideoInfo, probe
from .media.reader import Frame
from .media.sink import FileSink, Stats
from .media.source import FileSource, batched
from .options import TARGETS, Options  # noqa: F401 - Options and TARGETS are part of this module's API
from .render.compositor import Compositor
from .review import check_review_target, write_review
from .review.flags import mask_cover
from .track.replay import ReplayTracker, TracksRecorder, load_tracks  # noqa: F401 - load_tracks: API
from .track.stage import TrackStage

_END = object()


# The face network sees every frame at its native resolution (frames under 960 px
# enlarged towards 960, at most 2x), so faces down to about 18 px are found at any frame
# size; on a CPU only every SCAN_EVERY_CPU-th frame gets that full pass and the frames in
# between a pass at half the scale (see vidanon.detect.ScanPlan and README for the figures).
SCAN_EVERY_CPU = 2
SCAN_EVERY_GPU = 1
# Score levels for the tracker (see vidanon.track): a detection at --threshold or above is
# always masked; one at TRACK_START_THRESHOLD or above starts a track that is masked once
# confirmed; one at TRACK_LOW_THRESHOLD or above only extends a track.
TRACK_START_THRESHOLD = 0.2
TRACK_LOW_THRESHOLD = 0.1
# The same three levels for people (SSDLite's scores; its --threshold default is 0.5).
PERSON_START_THRESHOLD = 0.35
PERSON_LOW_THRESHOLD = 0.2


@dataclass
class Summary:
    """What one run did."""

    input: str
    output: str
    frames: int
    width: int
    height: int
    fps: float
    faces: int  # boxes masked (faces, or people with --target people / splash), summed over frames
    frames_with_faces: int
    tracks: int
    seconds: float
    device: str
    warnings: list[str] = field(default_factory=list)
    target: str = "faces"
    metadata_removed: list[str] = field(default_factory=list)  # tags of the input left out of the output
    review: str | None = None  # the review sheet written (see vidanon.review)
    flagged: int = 0  # frames the review sheet lists as worth a look

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["frames_per_second"] = round(self.frames_per_second, 2)
        return d


def auto_batch_size(height: int, width: int, gpu: bool) -> int:
    """Frames per detector call: enough to keep the device busy, bounded in memory."""
    pixels = max(height * width, 1)
    if gpu:
        return int(np.clip(48e6 // pixels, 1, 32))
    return int(np.clip(1.2e6 // pixels, 1, 8))


class _Stage(threading.Thread):
    """A daemon thread whose exception is re-raised in the caller by :meth:`check`.

    A failure also sets ``stop``, so that a thread blocked handing work to this one
    (its queue full, nobody taking from it any more) gives up instead of waiting forever.
    """

    def __init__(self, target: Callable[[], None], name: str, stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self._stop_all = stop
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.error = exc
            self._stop_all.set()

    def check(self) -> None:
        if self.error is not None:
            raise self.error


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue, stages: list[_Stage], stop: threading.Event | None = None):
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if stop is not None and stop.is_set():
                return _END
            for stage in stages:
                stage.check()
                if not stage.is_alive() and stage.error is None and q.empty():
                    # the producer ended without its end marker: it was stopped
                    return _END


@dataclass
class Stages:
    """The detect, track and render stages for one video, as :func:`build_stages` makes them."""

    detect: Callable[[list[np.ndarray]], list[Detections]]  # a batch of frames -> raw detections per frame
    track: TrackStage
    render: Compositor
    batch_size: int
    device: str
    people: bool


def build_stages(opts: Options, height: int, width: int, first_index: int = 0,
                 info: VideoInfo | None = None) -> Stages:  # fmt: skip
    """The stages every entry point runs, from the (validated) options and the frame size;
    ``first_index`` is the number, in its video, of the first frame the source gives (the
    detector's scan plan counts frames from the video's start). ``info``: the video file the
    frames come from, if any: the detector then sees them as :func:`vidanon.video.detector_view`
    makes them (square pixels, PQ HDR at SDR brightness); the tracker, the renderer and the
    sink get the source's frames as they are."""
    from .track.shots import ShotCuts
    from .track.sort import SortTracker
    from .track.stage import NoTracker

    people = opts.people
    plates = None
    if opts.plates and not opts.tracks:  # first: a bad plate model is reported before TensorFlow loads
        from .detect.plates import resolve_model

        plates = _plate_detector(str(resolve_model(opts.plates_model)), plate_threshold(opts))
    device = compute_device()
    batch = opts.batch_size or auto_batch_size(height, width, device.startswith("GPU"))
    threshold = effective_threshold(opts)
    if opts.tracks:  # a replay: no detector at all
        tracker = ReplayTracker(opts.tracks)
        return Stages(_no_detections, TrackStage(tracker), build_render(opts), batch, device, people)
    detector = build_detector(opts, device) if opts.faces or people else None
    start, low = (PERSON_START_THRESHOLD, PERSON_LOW_THRESHOLD) if people else (TRACK_START_THRESHOLD, TRACK_LOW_THRESHOLD)
    if opts.track:
        tracker = SortTracker(threshold=threshold, start_threshold=min(start, threshold),
                              low_threshold=min(low, threshold), class_id=PERSON if people else FACE)  # fmt: skip
    else:
        tracker = NoTracker(threshold)
    if plates is not None:  # a second detector on the same frames, and a tracker of its own
        from .track.joint import JointTracker, Part, plate_tracker

        plate_part = Part((PLATE,), plate_tracker(plate_threshold(opts), opts.track))
        tracker = JointTracker([Part((FACE, PERSON), tracker), plate_part] if detector else [plate_part])

    position = [first_index]

    def detect(frames: list[np.ndarray]) -> list[Detections]:
        batch = np.stack(frames)  # 8-bit RGB (a file source's Frames hold their 16-bit samples aside)
        if info is not None:  # as displayed: boxes are normalized, so they fit the frames as stored too
            batch = detector_view(batch, info)
        if detector is None:
            found = [Detections.empty() for _ in frames]
        elif people:
            found = detector(batch)
        else:
            found = detector(batch, position[0])
            position[0] += len(frames)
        if plates is not None:
            found = [Detections.merge([a, b]) for a, b in zip(found, plates(batch))]
        return found

    return Stages(detect, TrackStage(tracker, ShotCuts()), build_render(opts), batch, device, people)


def effective_threshold(opts: Options) -> float:
    from .detect.centerface import DEFAULT_THRESHOLD
    from .detect.people import PERSON_THRESHOLD

    if opts.threshold is not None:
        return opts.threshold
    return PERSON_THRESHOLD if opts.people else DEFAULT_THRESHOLD


def plate_threshold(opts: Options) -> float:
    from .detect.plates import PLATE_THRESHOLD

    return opts.plates_threshold if opts.plates_threshold is not None else PLATE_THRESHOLD


def build_detector(opts: Options, device: str | None = None):
    """THE detector factory: every entry point gets its detector here (cached per process)."""
    threshold = effective_threshold(opts)
    if opts.people:
        return _person_detector(threshold, min(PERSON_LOW_THRESHOLD, threshold))
    gpu = (device or compute_device()).startswith("GPU")
    every = opts.scan_every or (SCAN_EVERY_GPU if gpu else SCAN_EVERY_CPU)
    return _detector(threshold, min(TRACK_LOW_THRESHOLD, threshold), opts.detect_size, every)


def build_render(opts: Options) -> Compositor:
    """The render stage: the effect, and the people segmenter when people are hidden."""
    return Compositor(opts.effect, opts.mask_scale, opts.people, _segmenter() if opts.people else None)


def _no_detections(frames: list[np.ndarray]) -> list[Detections]:
    return [Detections.empty() for _ in frames]


def run_stages(
    source: Iterable[np.ndarray],
    stages: Stages,
    consume: Callable[[int, Any, Detections], None],
    keep_frames: bool = True,
) -> None:
    """Run ``source`` through detect and track, and hand every frame's result to ``consume``
    as ``(index, frame, Detections)`` in order (``frame`` None unless ``keep_frames``).

    The source is read in a thread of its own, and ``consume`` runs in another, so that
    decoding, detection and rendering overlap; an exception in any of them stops the
    others and is raised here.
    """
    stop = threading.Event()
    batches: queue.Queue = queue.Queue(maxsize=3)
    ready: queue.Queue = queue.Queue(maxsize=max(2 * stages.batch_size, 8))

    def read_stage() -> None:
        for chunk in batched(source, stages.batch_size):
            if not _put(batches, chunk, stop):
                return
        _put(batches, _END, stop)

    def consume_stage() -> None:
        while True:
            item = _get(ready, [], stop)
            if item is _END:
                return
            consume(*item)

    read_thread = _Stage(read_stage, "vidanon-read", stop)
    consume_thread = _Stage(consume_stage, "vidanon-write", stop)
    try:
        read_thread.start()
        consume_thread.start()

        def emit(items) -> None:
            for item in items:
                if not _put(ready, item, stop):
                    return
                consume_thread.check()

        while True:
            chunk = _get(batches, [read_thread])
            if chunk is _END:
                break
            consume_thread.check()
            payloads = chunk if keep_frames else [None] * len(chunk)
            emit(stages.track.push(chunk, stages.detect(chunk), payloads))
        read_thread.check()
        emit(stages.track.flush())
        _put(ready, _END, stop)
        while consume_thread.is_alive():
            consume_thread.join(timeout=0.1)
        consume_thread.check()
    except BaseException:
        stop.set()
        close = getattr(source, "close", None)
        if close is not None:
            close()  # unblocks a reader waiting on ffmpeg
        raise


def anonymize(input: str | os.PathLike, output: str | os.PathLike, effect: str = "blur", **kwargs) -> Summary:
    """Hide every face of the video ``input`` and write the result to ``output``.

    Keyword arguments are the fields of :class:`Options`. Returns a :class:`Summary`.
    Raises :class:`~vidanon.errors.VidanonError` for anything wrong with the inputs
    (:class:`~vidanon.options.OptionError`, a ValueError too, for a bad option).
    """
    opts = Options.from_kwargs(effect=effect, **kwargs)
    started = time.perf_counter()
    info = probe(input)
    target = prepare_output(output, info.path, opts.overwrite, mkdir=opts.mkdir)
    if opts.review:
        check_review_target(opts.review, info.path, target)
    first, last = 0, None  # frames written: [first, last)
    skip, limit = 0, None  # frames decoded: [skip, skip + limit)
    if opts.frame_range is not None:
        first, last = opts.frame_range
        skip = max(0, first - opts.context)
        limit = None if last is None else last + opts.context - skip
    stages = build_stages(opts, info.height, info.width, first_index=skip, info=info)
    stats = Stats()
    recorder = TracksRecorder() if opts.save_tracks or opts.review else None
    progress = _progress(info, opts.progress)
    source = FileSource(info, skip=skip, limit=limit)
    sink: FileSink | None = None

    def consume(index: int, frame: Frame, dets: Detections) -> None:
        index += skip  # the frame's number in the whole video
        if index < first or (last is not None and index >= last):
            return  # context of a part: tracked, not written
        shown = stages.render.masks(frame, dets)
        if recorder is not None:
            recorder.add(index, dets, frame.pts, mask_cover(shown) if opts.review else None)
        stats.add(dets)
        # the decoded frame goes along: its time (and 16-bit samples) go to the encoder
        sink.write(stages.render.draw(frame, shown), source=frame)
        progress.update(1)
        if sink.frames_written % TRIM_EVERY == 0:
            release_free_memory()
        if opts.on_frames is not None:
            opts.on_frames(1)

    try:
        sink = FileSink(target, info, opts)
        run_stages(source, stages, consume)
        sink.finish()
        if opts.save_tracks:
            recorder.save(opts.save_tracks, str(info.path), info.width, info.height, float(info.fps))
        sink.commit()
    except BaseException:
        source.close()
        if sink is not None:
            sink.abort()
        progress.close()
        raise
    finally:
        source.close()
    progress.close()
    sheet = None
    if opts.review:  # drawn on frames read back from the finished output (kept if this fails)
        sheet = write_review(opts.review, recorder, info, target, effective_threshold(opts), opts.mask_scale,
                             stages.people)  # fmt: skip

    warnings = sink.warnings()
    if source.decode_warning:
        warnings.append(f"the input has decoding errors; {source.frames_read} frames were decoded "
                        f"({source.decode_warning})")  # fmt: skip
    return Summary(
        input=str(info.path), output=str(target), frames=sink.frames_written, width=info.width,
        height=info.height, fps=float(info.fps), faces=stats.boxes,
        frames_with_faces=stats.frames_with_boxes, tracks=len(stats.track_ids),
        seconds=time.perf_counter() - started, device=stages.device, warnings=warnings,
        target="people" if stages.people and not opts.plates else opts.target, metadata_removed=sink.metadata_removed,
        review=opts.review, flagged=len(sheet.flags) if sheet is not None else 0,
    )  # fmt: skip


@functools.lru_cache(maxsize=2)
def _detector(threshold: float, low_threshold: float, detect_size: int | None, every: int = 1):
    """One detector per setting and process: later videos skip the model's load and trace."""
    from .detect.centerface import FaceDetector

    return FaceDetector(threshold=threshold, low_threshold=low_threshold, detect_size=detect_size, every=every)


@functools.lru_cache(maxsize=2)
def _person_detector(threshold: float, low_threshold: float):
    from .detect.people import PersonDetector

    return PersonDetector(threshold=threshold, low_threshold=low_threshold)


@functools.lru_cache(maxsize=2)
def _plate_detector(model: str, threshold: float):
    """One plate detector per model file and threshold per process."""
    from .detect.plates import PlateDetector
    from .detect.tf_setup import cpu_threads

    return PlateDetector(model, threshold=threshold, threads=cpu_threads())


@functools.lru_cache(maxsize=1)
def _segmenter():
    from .render.segment import PersonSegmenter

    return PersonSegmenter()


def _progress(info: VideoInfo, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=info.n_frames or None, unit="frame", desc=info.path.name[:30], disable=not enabled,
        dynamic_ncols=True, leave=False,
    )  # fmt: skip
