"""The pipeline: decode -> detect (batched) -> track -> mask + effect -> encode.

Three stages run at once, joined by bounded queues so that memory stays flat whatever
the clip's length: a reader thread decodes frames and groups them into batches; the
calling thread runs the detector on each batch and the tracker on each frame; a
writer thread renders the effect and feeds the encoder. ffmpeg decodes and encodes in
processes of its own, and TensorFlow releases the GIL while it computes.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .detections import FACE, PERSON, Detections
from .errors import InputError
from .options import TARGETS, Options  # noqa: F401 - Options and TARGETS are part of this module's API
from .tf_setup import TRIM_EVERY, release_free_memory
from .tracksfile import load_tracks, tracks_record, write_json
from .video import FrameReader, VideoInfo, VideoWriter, container_of, prepare_output, probe, temp_path_for

_END = object()


# The network sees frames with their longer side at most this long (faces down to
# about 12 px at that size, i.e. about 25 px in a 1080p frame are found; see README for the trade-off).
DEFAULT_DETECT_SIZE = 960
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


def anonymize(input: str | os.PathLike, output: str | os.PathLike, effect: str = "blur", **kwargs) -> Summary:
    """Hide every face of the video ``input`` and write the result to ``output``.

    Keyword arguments are the fields of :class:`Options`. Returns a :class:`Summary`.
    Raises :class:`~vidanon.errors.VidanonError` for anything wrong with the inputs.
    """
    opts = Options.from_kwargs(effect=effect, **kwargs)
    started = time.perf_counter()
    info = probe(input)
    target = prepare_output(output, info.path, opts.overwrite)
    container = container_of(target)

    from .detect import DEFAULT_THRESHOLD, PERSON_THRESHOLD, configure_tensorflow
    from .effects import Renderer, SplashRenderer
    from .track import FaceTracker, NoTracker, ShotCuts

    people = opts.people
    default_threshold = PERSON_THRESHOLD if people else DEFAULT_THRESHOLD
    threshold = opts.threshold if opts.threshold is not None else default_threshold
    device = configure_tensorflow()
    gpu = device.startswith("GPU")
    batch = opts.batch_size or auto_batch_size(info.height, info.width, gpu)
    detect_size = DEFAULT_DETECT_SIZE if opts.detect_size is None else (opts.detect_size or None)

    precomputed = load_tracks(opts.tracks) if opts.tracks else None
    detector = None
    if precomputed is None:
        if people:
            detector = _person_detector(threshold, min(PERSON_LOW_THRESHOLD, threshold))
        else:
            detector = _detector(threshold, min(TRACK_LOW_THRESHOLD, threshold), detect_size)
    start, low = (PERSON_START_THRESHOLD, PERSON_LOW_THRESHOLD) if people else (TRACK_START_THRESHOLD, TRACK_LOW_THRESHOLD)
    if precomputed is not None:
        tracker = None
    elif opts.track:
        tracker = FaceTracker(threshold=threshold, start_threshold=min(start, threshold),
                              low_threshold=min(low, threshold), class_id=PERSON if people else FACE)
    else:
        tracker = NoTracker(threshold)
    cuts = ShotCuts()
    segmenter = _segmenter() if people else None
    if opts.effect == "splash":
        renderer = SplashRenderer()
    else:  # people's masks follow their outline already: no extra margin
        renderer = Renderer(opts.effect, 1.0 if people else opts.mask_scale)
    always_render = opts.effect == "splash"  # a frame without people is all grey

    tmp = temp_path_for(target)
    first, last = 0, None  # frames written: [first, last)
    skip, limit = 0, None  # frames decoded: [skip, skip + limit)
    if opts.frame_range is not None:
        first, last = opts.frame_range
        skip = max(0, first - opts.context)
        limit = None if last is None else last + opts.context - skip
    reader = FrameReader(info, skip=skip, limit=limit)
    writer = None
    stop = threading.Event()
    batches: queue.Queue = queue.Queue(maxsize=3)
    ready: queue.Queue = queue.Queue(maxsize=max(2 * batch, 8))
    stats = {"faces": 0, "frames_with_faces": 0, "tracks": set()}
    sidecar: list[list[dict]] | None = [] if opts.save_tracks else None
    progress = _progress(info, opts.progress)

    def read_stage() -> None:
        chunk = []
        for frame in reader:
            chunk.append(frame)
            if len(chunk) == batch:
                if not _put(batches, chunk, stop):
                    return
                chunk = []
        if chunk:
            _put(batches, chunk, stop)
        _put(batches, _END, stop)

    def write_stage() -> None:
        written = 0
        while True:
            item = _get(ready, [], stop)
            if item is _END:
                return
            index, frame, dets = item
            index += skip  # the frame's number in the whole video
            if index < first or (last is not None and index >= last):
                continue  # context of a part: tracked, not written
            if sidecar is not None:
                sidecar.append(tracks_record(index, dets))
            if len(dets):
                stats["faces"] += len(dets)
                stats["frames_with_faces"] += 1
                stats["tracks"].update(int(t) for t in dets.track_ids if t >= 0)
            if segmenter is not None:
                dets = segmenter(frame, dets)
            if len(dets) or always_render:
                frame = renderer(frame, dets)
            writer.write(frame)
            progress.update(1)
            written += 1
            if written % TRIM_EVERY == 0:
                release_free_memory()
            if opts.on_frames is not None:
                opts.on_frames(1)

    try:
        writer = VideoWriter(
            tmp, info.width, info.height, info.fps, container, codec=opts.codec, crf=opts.crf,
            preset=opts.preset, audio_from=info if opts.audio else None,
        )  # fmt: skip
        read_thread = _Stage(read_stage, "vidanon-read", stop)
        write_thread = _Stage(write_stage, "vidanon-write", stop)
        read_thread.start()
        write_thread.start()

        def emit(items: Iterator) -> None:
            for item in items:
                if not _put(ready, item, stop):
                    return
                write_thread.check()

        index = 0  # frames since the reader's first (the tracker numbers them the same way)
        while True:
            chunk = _get(batches, [read_thread])
            if chunk is _END:
                break
            write_thread.check()
            if precomputed is not None:
                for frame in chunk:
                    dets = precomputed[index] if index < len(precomputed) else Detections.empty()
                    emit(iter([(index, frame, dets)]))
                    index += 1
                continue
            for frame, dets in zip(chunk, detector(np.stack(chunk))):
                emit(tracker.push(frame, dets, cut=cuts(frame)))
                index += 1
        read_thread.check()
        if tracker is not None:
            emit(tracker.flush())
        _put(ready, _END, stop)
        while write_thread.is_alive():
            write_thread.join(timeout=0.1)
        write_thread.check()
        writer.close()
        if precomputed is not None and len(precomputed) != reader.frames_read:
            raise InputError(
                f"tracks file {opts.tracks} has {len(precomputed)} frames but the video has {reader.frames_read}"
            )
        if sidecar is not None:
            write_json(Path(opts.save_tracks), {"video": str(info.path), "width": info.width,
                        "height": info.height, "fps": float(info.fps), "frames": sidecar})  # fmt: skip
        os.replace(tmp, target)
    except BaseException:
        stop.set()
        reader.close()
        if writer is not None:
            writer.abort()
        _remove(tmp)
        progress.close()
        raise
    finally:
        reader.close()
    progress.close()

    warnings = []
    if info.variable_rate:
        warnings.append(f"the input has a variable frame rate; its {reader.frames_read} frames were written at "
                        f"its average rate, a constant {float(info.fps):.3f} fps (same duration and audio)")
    if reader.decode_warning:
        warnings.append(f"the input has decoding errors; {reader.frames_read} frames were decoded "
                        f"({reader.decode_warning})")  # fmt: skip
    return Summary(
        input=str(info.path), output=str(target), frames=writer.frames_written, width=info.width,
        height=info.height, fps=float(info.fps), faces=stats["faces"],
        frames_with_faces=stats["frames_with_faces"], tracks=len(stats["tracks"]),
        seconds=time.perf_counter() - started, device=device, warnings=warnings,
        target="people" if people else "faces",
    )  # fmt: skip


@functools.lru_cache(maxsize=2)
def _detector(threshold: float, low_threshold: float, detect_size: int | None):
    """One detector per setting and process: later videos skip the model's load and trace."""
    from .detect import FaceDetector

    return FaceDetector(threshold=threshold, low_threshold=low_threshold, detect_size=detect_size)


@functools.lru_cache(maxsize=2)
def _person_detector(threshold: float, low_threshold: float):
    from .detect import PersonDetector

    return PersonDetector(threshold=threshold, low_threshold=low_threshold)


@functools.lru_cache(maxsize=1)
def _segmenter():
    from .segment import PersonSegmenter

    return PersonSegmenter()


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass


def _progress(info: VideoInfo, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=info.n_frames or None, unit="frame", desc=info.path.name[:30], disable=not enabled,
        dynamic_ncols=True, leave=False,
    )  # fmt: skip
