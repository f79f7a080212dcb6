"""The person detector without TensorFlow: SSDLite's network up to its box selection, shipped
as a TensorFlow Lite file (``models/ssdlite_person.tflite``, built from the vendored graph by
``scripts/build_person_lite.py``) and run by LiteRT, and the graph's selection (NMS, clipping
to the input, the best 100) done here in the graph's order. It loads in a tenth of a second
and imports no TensorFlow; :class:`~vidanon.detect.people.PersonDetector` (the whole graph in
TensorFlow) stays for ``--target people``, whose outlines need TensorFlow anyway."""

from __future__ import annotations

import threading

import numpy as np

from ..detections import PERSON, Detections, nms
from ..resample import resize_windows
from .lite import LiteNet
from .models import model_path
from .people import PERSON_INPUT, PERSON_THRESHOLD, merge_windows, person_windows

# The graph's own selection (its BatchMultiClassNonMaxSuppression): greedy NMS at IoU 0.6 on
# the boxes as decoded, at most 100 kept; then the kept boxes clipped to the input, those left
# with no area dropped.
SSD_NMS_IOU = 0.6
SSD_MAX_BOXES = 100

# Where the shipped network cuts the graph: its normalized input, and the decoded boxes and
# person scores that enter the selection (scripts/build_person_lite.py).
FEED = "Preprocessor/sub:0"
FETCH = ("Postprocessor/raw_box_locations:0", "Postprocessor/Slice:0")


def normalized(small: np.ndarray) -> np.ndarray:
    """A 300x300 uint8 window as the network takes it (the graph's Preprocessor: x * 2/255 - 1)."""
    return (small.astype(np.float32) * np.float32(0.007843138) - np.float32(1.0))[None]


def select(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The graph's selection of one window's decoded ``boxes`` (N x 4, normalized to the
    window, possibly beyond it) and person ``scores``: those from ``threshold`` up that NMS
    keeps, at most SSD_MAX_BOXES, then clipped to the window, the empty ones dropped."""
    keep = np.flatnonzero(scores >= threshold)
    keep = keep[nms(boxes[keep], scores[keep], SSD_NMS_IOU)][:SSD_MAX_BOXES]
    boxes, scores = np.clip(boxes[keep], 0.0, 1.0), scores[keep]
    kept = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes[kept], scores[kept]


def raw_outputs(net: LiteNet, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shipped network's decoded boxes (1, N, 4) and person scores (1, N, 1) for ``x``."""
    boxes, scores = sorted(net.outputs(x), key=lambda a: a.shape[-1], reverse=True)
    return boxes, scores


class PersonLite:
    """People in frames (COCO's person class), as :class:`~vidanon.detect.people.PersonDetector`
    finds them (the same windows, the same selection), through LiteRT; the whole frame and its
    squares only, not the large frames' fine tiles (the context look asks for the person around
    a large face, whom the squares see). Thread-safe: calls in
    several threads at once each take an interpreter of their own (:class:`LiteNet`'s, made
    when none is free; 12 MB of weights each), the windows run on one thread each
    (:func:`~.lite.threads_for`)."""

    def __init__(self) -> None:
        self._net = LiteNet(model_path("ssdlite_person_lite").read_bytes())
        self._pool = None  # the threads of many(), made on its first call
        self._pool_lock = threading.Lock()

    def __call__(self, frame: np.ndarray, threshold: float = PERSON_THRESHOLD) -> Detections:
        """The people of one frame (H, W, 3) uint8 scoring ``threshold`` or more."""
        height, width = frame.shape[:2]
        windows = person_windows(height, width)
        resized = resize_windows(frame, windows, PERSON_INPUT, PERSON_INPUT)
        parts = [self._window(small, threshold) for small in resized]
        boxes, scores = merge_windows(parts, windows, height, width)
        return Detections(boxes, scores, np.full(len(scores), PERSON))

    def _window(self, resized: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """One window's people, normalized to the window, from the window resized to the
        network's input (float32, not yet rounded)."""
        small = np.round(resized).astype(np.uint8)
        boxes, scores = raw_outputs(self._net, normalized(small))
        return select(boxes[0], scores[0][:, 0], threshold)

    def many(self, frames: np.ndarray, threshold: float, workers: int) -> list[Detections]:
        """The people of each of ``frames``, up to ``workers`` frames at a time: one pool of
        threads for the process (its size set by the first call), shared by every caller,
        so that several decode threads calling at once do not multiply the threads and the
        interpreters (12 MB each)."""
        if workers <= 1 or len(frames) <= 1:
            return [self(frame, threshold) for frame in frames]
        with self._pool_lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(workers, thread_name_prefix="vidanon-people")
        return list(self._pool.map(lambda frame: self(frame, threshold), frames))


_shared: list[PersonLite | None] = []  # empty until loaded; [None] when it could not be
_shared_lock = threading.Lock()


def shared_person_lite() -> PersonLite | None:
    """One :class:`PersonLite` a process, loaded on first use; None when it cannot be loaded
    (a damaged model file, LiteRT failing), remembered so that it is not tried again."""
    with _shared_lock:
        if not _shared:
            try:
                _shared.append(PersonLite())
            except Exception:  # any failure to load: the callers go on without people
                _shared.append(None)
        return _shared[0]
