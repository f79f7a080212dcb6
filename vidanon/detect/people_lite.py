"""The person detector without TensorFlow: SSDLite's network, everything before its box
selection, converted once to TensorFlow Lite and cached beside the face network's
conversion (:mod:`vidanon.detect.lite`), and the selection (score, clipping to the input,
NMS) done here as the graph does it. Loading the cached conversion imports no TensorFlow
(0.1 s); :class:`~vidanon.detect.people.PersonDetector` (the whole graph in TensorFlow)
stays for ``--target people``, whose outlines need TensorFlow anyway."""

from __future__ import annotations

import threading

import numpy as np

from ..detections import PERSON, Detections, nms
from ..errors import ModelError
from ..resample import resize
from .lite import (
    LiteNet,
    lite_cache_path,
    read_cache,
    read_probe,
    write_cache,
    write_probe,
)
from .people import (
    PERSON_INPUT,
    PERSON_THRESHOLD,
    merge_windows,
    person_graph,
    person_windows,
)

# The graph's own selection (its BatchMultiClassNonMaxSuppression): boxes clipped to the
# input, then greedy NMS at IoU 0.6, at most 100 people an input.
SSD_NMS_IOU = 0.6
SSD_MAX_BOXES = 100

# Where the graph is cut: its normalized input, and the decoded boxes and person scores
# that enter the selection.
_FEED = "Preprocessor/sub:0"
_FETCH = ("Postprocessor/raw_box_locations:0", "Postprocessor/Slice:0")
_SCALE = np.float32(0.007843138)  # the graph's Preprocessor: x * (2 / 255) - 1


def _probe() -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, (1, PERSON_INPUT, PERSON_INPUT, 3)).astype(np.float32)


def _graph_function():
    """The graph from its input to the selection's inputs, as a TensorFlow function."""
    import tensorflow as tf

    return tf.function(person_graph(_FEED, list(_FETCH)), autograph=False,
                       input_signature=[tf.TensorSpec([1, PERSON_INPUT, PERSON_INPUT, 3], tf.float32)])  # fmt: skip


def _agrees(net: LiteNet, expected: list[np.ndarray]) -> bool:
    try:
        got = net.outputs(_probe())
    except Exception:
        return False
    got = sorted(got, key=lambda a: a.shape[-1], reverse=True)  # boxes (..., 4), then scores (..., 1)
    return len(got) == len(expected) and all(
        g.shape == e.shape and np.allclose(g, e, atol=1e-3, rtol=1e-3) for g, e in zip(got, expected))  # fmt: skip


def _load() -> LiteNet:
    """The cached conversion when it answers the probe as the graph did; else converted now
    (TensorFlow imported once) and cached."""
    path = lite_cache_path("ssdlite_person")
    blob, expected = read_cache(path), read_probe(path, 2)
    if blob is not None and expected is not None:
        net = LiteNet(blob)
        if _agrees(net, expected):
            return net
    import warnings

    from .tf_setup import configure_tensorflow, quiet_native_stderr

    configure_tensorflow()  # imported quietly, once
    import tensorflow as tf

    try:
        with quiet_native_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn = _graph_function()
            expected = [t.numpy() for t in fn(tf.constant(_probe()))]
            blob = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn).convert()
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"cannot convert the person detector for the CPU: {exc}") from None
    net = LiteNet(blob)
    if not _agrees(net, expected):
        raise ModelError("the TensorFlow Lite person detector disagrees with the graph")
    write_cache(path, blob)
    write_probe(path, expected)
    return net


class PersonLite:
    """People in frames (COCO's person class), as :class:`~vidanon.detect.people.PersonDetector`
    finds them (the same windows, the same selection), through LiteRT. Thread-safe."""

    def __init__(self, threshold: float = PERSON_THRESHOLD) -> None:
        self.threshold = float(threshold)
        self._net = _load()
        # one call at a time: a second interpreter (its own copy of the packed weights, tens of
        # megabytes) is not worth it for a network that runs on few frames
        self._lock = threading.Lock()

    def __call__(self, frame: np.ndarray) -> Detections:
        """The people of one frame (H, W, 3) uint8."""
        height, width = frame.shape[:2]
        windows = person_windows(height, width)
        parts = [self._window(frame[y0:y1, x0:x1]) for y0, x0, y1, x1 in windows]
        boxes, scores = merge_windows(parts, windows, height, width)
        return Detections(boxes, scores, np.full(len(scores), PERSON))

    def _window(self, part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One window's people, normalized to the window."""
        small = np.round(resize(part, PERSON_INPUT, PERSON_INPUT, "area")).astype(np.uint8)
        x = (small.astype(np.float32) * _SCALE - np.float32(1.0))[None]
        with self._lock:
            out = sorted(self._net.outputs(x), key=lambda a: a.shape[-1], reverse=True)
        boxes, scores = np.clip(out[0][0], 0.0, 1.0), out[1][0][:, 0]
        keep = (scores >= self.threshold) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores = boxes[keep], scores[keep]
        order = nms(boxes, scores, SSD_NMS_IOU)[:SSD_MAX_BOXES]
        return boxes[order], scores[order]


_shared: dict[float, PersonLite] = {}
_shared_lock = threading.Lock()


def shared_person_lite(threshold: float = PERSON_THRESHOLD) -> PersonLite:
    """One :class:`PersonLite` a process (loaded on first use)."""
    with _shared_lock:
        if threshold not in _shared:
            _shared[threshold] = PersonLite(threshold)
        return _shared[threshold]
