"""The pipeline: decode -> detect (batched) -> track -> mask + effect -> encode.

Three stages run at once, joined by bounded queues so that memory stays flat whatever
the clip's length: a reader thread decodes frames and groups them into batches; the
calling thread runs the detector on each batch and the tracker on each frame; a
writer thread renders the effect and feeds the encoder. ffmpeg decodes and encodes in
processes of its own, and TensorFlow releases the GIL while it computes.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .detections import CLASS_NAMES, FACE, PERSON, SOURCE_NAMES, Detections
from .errors import InputError, VidanonError
from .mask import DEFAULT_MASK_SCALE
from .video import (METADATA_POLICIES, ODD_SIZES, FrameReader, VideoInfo, VideoWriter, container_of, prepare_output,
                    probe, detector_view, temp_path_for)

_END = object()


@dataclass
class Options:
    effect: str = "blur"
    threshold: float | None = None  # None: the detector's default
    mask_scale: float = DEFAULT_MASK_SCALE
    batch_size: int | None = None  # None: chosen from the frame size and the device
    detect_size: int | None = None  # None: DEFAULT_DETECT_SIZE; 0: native resolution
    crf: int = 18
    codec: str | None = None
    preset: str = "veryfast"
    audio: bool = True
    overwrite: bool = False
    track: bool = True
    save_tracks: str | None = None
    tracks: str | None = None
    progress: bool = True
    metadata: str = "private"  # identifying tags removed; "keep": all kept; "strip": none kept
    odd_size: str = "pad"  # H.264/HEVC at an odd size: "pad" (4:2:0, edge repeated) or "444"
    mkdir: bool = False  # create a missing output folder
    target: str = "faces"  # or "people" (implied by the splash effect)
    # A part of a longer job (see vidanon.batch): only frames [start, stop) are written
    # (stop None: to the end), with ``context`` frames on each side decoded and tracked
    # but not written, so that the tracker is warm at the part's first frame and its
    # look-ahead sees past the last one.
    frame_range: tuple[int, int | None] | None = None
    context: int = 30
    on_frames: Callable[[int], None] | None = None  # called with the number of frames just written

    @property
    def people(self) -> bool:
        return self.target == "people" or self.effect == "splash"

    def validate(self) -> None:
        from .effects import EFFECTS

        if self.effect not in EFFECTS:
            raise VidanonError(f"unknown effect {self.effect!r}; choose from {', '.join(EFFECTS)}")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise VidanonError(f"threshold {self.threshold} is out of range: use a value between 0 and 1")
        if not 0.5 <= self.mask_scale <= 5.0:
            raise VidanonError(f"mask scale {self.mask_scale} is out of range: use 0.5 to 5")
        if self.batch_size is not None and not 1 <= self.batch_size <= 256:
            raise VidanonError(f"batch size {self.batch_size} is out of range: use 1 to 256")
        if self.detect_size is not None and self.detect_size != 0 and not 64 <= self.detect_size <= 8192:
            raise VidanonError(f"detect size {self.detect_size} is out of range: use 64 to 8192, or 0 for native")
        if self.target not in TARGETS:
            raise VidanonError(f"unknown target {self.target!r}; choose from {', '.join(TARGETS)}")
        if self.metadata not in METADATA_POLICIES:
            raise VidanonError(f"unknown metadata policy {self.metadata!r}; choose from {', '.join(METADATA_POLICIES)}")
        if self.odd_size not in ODD_SIZES:
            raise VidanonError(f"unknown odd-size mode {self.odd_size!r}; choose from {', '.join(ODD_SIZES)}")
        if not 0 <= self.crf <= 51:
            raise VidanonError(f"crf {self.crf} is out of range: use 0 (lossless) to 51")
        if self.frame_range is not None:
            start, stop = self.frame_range
            if start < 0 or (stop is not None and stop <= start):
                raise VidanonError(f"frame range {self.frame_range} is empty or negative")
            if self.tracks:
                raise VidanonError("a tracks file covers the whole video; it cannot be used for a part")


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
TARGETS = ("faces", "people")


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


def _tracks_record(index: int, dets: Detections) -> list[dict]:
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


def anonymize(input: str | os.PathLike, output: str | os.PathLike, effect: str = "blur", **kwargs) -> Summary:
    """Hide every face of the video ``input`` and write the result to ``output``.

    Keyword arguments are the fields of :class:`Options`. Returns a :class:`Summary`.
    Raises :class:`~vidanon.errors.VidanonError` for anything wrong with the inputs.
    """
    opts = Options(effect=effect, **kwargs)
    opts.validate()
    started = time.perf_counter()
    info = probe(input)
    target = prepare_output(output, info.path, opts.overwrite, mkdir=opts.mkdir)
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
                sidecar.append(_tracks_record(index, dets))
            if len(dets):
                stats["faces"] += len(dets)
                stats["frames_with_faces"] += 1
                stats["tracks"].update(int(t) for t in dets.track_ids if t >= 0)
            if segmenter is not None:
                dets = segmenter(frame, dets)
            source = frame  # the decoded frame: its time (and 16-bit samples) go to the encoder
            if len(dets) or always_render:
                frame = renderer(frame, dets)
            writer.write(frame, source)
            progress.update(1)
            written += 1
            if written % TRIM_EVERY == 0:
                _release_free_memory()
            if opts.on_frames is not None:
                opts.on_frames(1)

    try:
        writer = VideoWriter(
            tmp, info.width, info.height, info.fps, container, codec=opts.codec, crf=opts.crf,
            preset=opts.preset, audio_from=info if opts.audio else None, source=info, metadata=opts.metadata,
            odd_size=opts.odd_size, extras=opts.frame_range is None,
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
            # the detector sees square pixels (as displayed; its boxes are normalized, so they fit either)
            # and HDR tone-mapped to SDR brightness
            for frame, dets in zip(chunk, detector(detector_view(np.stack(chunk), info))):
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
            _write_json(Path(opts.save_tracks), {"video": str(info.path), "width": info.width,
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

    warnings = list(writer.notes)
    if writer.plan.left_out:
        warnings.append(f"{target.suffix} cannot hold everything of the input; left out: {'; '.join(writer.plan.left_out)}")
    if reader.decode_warning:
        warnings.append(f"the input has decoding errors; {reader.frames_read} frames were decoded "
                        f"({reader.decode_warning})")  # fmt: skip
    return Summary(
        input=str(info.path), output=str(target), frames=writer.frames_written, width=info.width,
        height=info.height, fps=float(info.fps), faces=stats["faces"],
        frames_with_faces=stats["frames_with_faces"], tracks=len(stats["tracks"]),
        seconds=time.perf_counter() - started, device=device, warnings=warnings,
        target="people" if people else "faces", metadata_removed=writer.plan.metadata_removed,
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


TRIM_EVERY = 64  # frames between two calls of malloc_trim


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim``, or None elsewhere."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


def _release_free_memory() -> None:
    """Give freed heap pages back to the system.

    Frames are allocated in the reader thread and freed in the writer thread, and the
    effects allocate frame-sized buffers in between; glibc keeps the freed pages of
    each thread's arena, so without this the resident memory of a long clip creeps up
    (splash at 1080p: 1.2 GB after 100 frames, several GB after 1500).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "w", encoding="utf8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


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
