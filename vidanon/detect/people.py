"""People: SSDLite MobileNetV2 (COCO's person class), batched, wide frames cut into
overlapping square tiles so that small people keep enough pixels."""

from __future__ import annotations

import math

import numpy as np

from ..detections import PERSON, Detections, nms
from ..errors import ModelError
from ..targets import PEOPLE
from .models import model_path
from .tf_setup import configure_tensorflow
from .view import as_batch

PERSON_THRESHOLD = PEOPLE.threshold  # the default --threshold, set in vidanon.targets


PERSON_INPUT = 300  # the SSD graph's own input size; frames are reduced to it once, batched


# A frame further from square than this is also scanned as overlapping square tiles: the
# graph squashes its input to 300x300, which narrows the people of a 16:9 frame 1.8 times
# and loses many of them (seated, far, half out at an edge).
TILE_ASPECT = 1.25


# At most this many tiles: past MAX_TILES squares (a panorama wider than 8:1, a strip a few
# pixels high: 4000x2 made 2,001 tiles a frame and ran out of 24 GB) the tiles are longer
# than square, squashed like a whole frame, MAX_TILES of them overlapping by a tenth.
MAX_TILES = 8


TILE_EDGE = 0.01  # a tile's box this close to an edge the tile shares with the frame's inside is cut


TILE_COVERED = 0.6  # a cut box mostly inside another box is that person's part: dropped


PERSON_NMS_IOU = 0.5


def person_windows(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """The pixel windows ``(y0, x0, y1, x1)`` the person detector sees of a frame: the whole
    frame, then, for a frame further from square than TILE_ASPECT, squares of its shorter
    side spread evenly along its longer side (overlapping, covering it), at most MAX_TILES
    (longer tiles, overlapping, past that)."""
    out = [(0, 0, height, width)]
    side, long = min(height, width), max(height, width)
    if long <= side * TILE_ASPECT:
        return out
    count = min(math.ceil(long / side), MAX_TILES)
    length = side if long <= side * MAX_TILES else min(long, math.ceil(long / count * 1.1))
    for k in range(count):
        start = round(k * (long - length) / (count - 1))
        out.append((0, start, side, start + length) if width >= height else (start, 0, start + length, side))
    return out


def merge_windows(parts: list[tuple[np.ndarray, np.ndarray]], windows: list[tuple[int, int, int, int]],
                  height: int, width: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """One frame's boxes from every window (normalized to its window) as frame boxes.

    A tile's box that touches an edge the tile shares with the inside of the frame is a
    person cut by the tile; it is dropped when another box holds most of it (the whole
    frame's or the neighbouring tile's view of the same person). Then greedy NMS.
    """
    boxes, scores, cut = [], [], []
    for (b, s), (y0, x0, y1, x1) in zip(parts, windows):
        th, tw = y1 - y0, x1 - x0
        frame_boxes = np.stack([(y0 + b[:, 0] * th) / height, (x0 + b[:, 1] * tw) / width,
                                (y0 + b[:, 2] * th) / height, (x0 + b[:, 3] * tw) / width], axis=1)  # fmt: skip
        inner = np.zeros(len(b), bool)
        if (y0, x0, y1, x1) != (0, 0, height, width):
            inner |= (b[:, 0] < TILE_EDGE) & (y0 > 0)
            inner |= (b[:, 1] < TILE_EDGE) & (x0 > 0)
            inner |= (b[:, 2] > 1 - TILE_EDGE) & (y1 < height)
            inner |= (b[:, 3] > 1 - TILE_EDGE) & (x1 < width)
        boxes.append(frame_boxes)
        scores.append(s)
        cut.append(inner)
    boxes, scores, cut = np.concatenate(boxes), np.concatenate(scores), np.concatenate(cut)
    if len(boxes) == 0:
        return boxes.reshape(0, 4), scores
    pixels = boxes * np.array([height, width, height, width])
    keep = np.ones(len(boxes), bool)
    if cut.any():
        from ..detections import box_areas, intersection_matrix

        inside = intersection_matrix(pixels[cut], pixels) / np.maximum(box_areas(pixels[cut])[:, None], 1e-9)
        inside[np.arange(cut.sum()), np.flatnonzero(cut)] = 0.0  # not itself
        keep[np.flatnonzero(cut)[(inside >= TILE_COVERED).any(axis=1)]] = False
    idx = np.flatnonzero(keep)
    idx = idx[nms(pixels[idx], scores[idx], PERSON_NMS_IOU)]
    return np.clip(boxes[idx], 0.0, 1.0), scores[idx]


def person_graph(feed: str, fetches: list[str]):
    """The SSDLite graph from the tensor ``feed`` to the tensors ``fetches``, as a function
    (TensorFlow imported here)."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(model_path("ssdlite_person").read_bytes())
    except Exception as exc:  # a damaged file that passed no check cannot get here
        raise ModelError(f"cannot load the person detector: {exc}") from None
    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    graph = wrapped.graph
    return wrapped.prune(feeds=graph.get_tensor_by_name(feed), fetches=[graph.get_tensor_by_name(n) for n in fetches])


class PersonDetector:
    """People, from the TF Object Detection API's SSDLite/MobileNetV2 frozen graph.

    The graph is loaded with ``tf.compat.v1.wrap_function`` and pruned to
    ``image_tensor:0`` -> ``detection_boxes/scores/classes``; it takes a batch of uint8
    frames and returns normalized ``[ymin, xmin, ymax, xmax]`` boxes. Each frame is seen
    through the windows of :func:`person_windows` (the whole frame; wide or tall frames
    also as overlapping squares), each reduced to 300x300 (what the graph resizes to
    anyway), all in one batch; :func:`merge_windows` joins their boxes.
    """

    def __init__(self, threshold: float = PERSON_THRESHOLD, low_threshold: float | None = None,
                 tiles: bool = True) -> None:  # fmt: skip
        self.device = configure_tensorflow()  # TensorFlow imported quietly and without Keras, before anything
        import tensorflow as tf

        self.threshold = float(threshold)
        self.low_threshold = min(float(low_threshold if low_threshold is not None else threshold), self.threshold)
        self.tiles = bool(tiles)
        pruned = person_graph("image_tensor:0", [f"detection_{n}:0" for n in ("boxes", "scores", "classes")])

        self._reduce = tf.function(
            lambda part: tf.cast(tf.round(tf.image.resize(part, (PERSON_INPUT, PERSON_INPUT), method="area")), tf.uint8),
            autograph=False, input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)], reduce_retracing=True,
        )  # fmt: skip
        self._fn = tf.function(pruned, autograph=False,
                               input_signature=[tf.TensorSpec([None, PERSON_INPUT, PERSON_INPUT, 3], tf.uint8)])  # fmt: skip

    def windows(self, height: int, width: int) -> list[tuple[int, int, int, int]]:
        return person_windows(height, width) if self.tiles else [(0, 0, height, width)]

    def __call__(self, frames: np.ndarray, first_index: int = 0) -> list[Detections]:
        """People in each frame (see :class:`~vidanon.detect.Detector`; every frame alike)."""
        frames = as_batch(frames)
        n, height, width = frames.shape[:3]
        windows = self.windows(height, width)
        small = np.concatenate([self._reduce(frames[:, y0:y1, x0:x1]).numpy() for y0, x0, y1, x1 in windows])
        boxes, scores, classes = (t.numpy() for t in self._fn(small))
        out = []
        for i in range(n):
            parts = []
            for k in range(len(windows)):
                j = k * n + i  # window-major batch
                keep = (scores[j] >= self.low_threshold) & (classes[j] == 1)  # COCO class 1: person
                parts.append((np.clip(boxes[j][keep], 0.0, 1.0), scores[j][keep]))
            b, s = merge_windows(parts, windows, height, width)
            out.append(Detections(b, s, np.full(len(s), PERSON)))
        return out
