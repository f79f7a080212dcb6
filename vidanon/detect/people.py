"""People: SSDLite MobileNetV2 (COCO's person class), batched, wide frames cut into
overlapping square tiles and large frames into a finer grid, so that small people keep
enough pixels."""

from __future__ import annotations

import math

import numpy as np

from ..detections import PERSON, Detections, nms
from ..errors import ModelError
from ..targets import PEOPLE
from .models import model_path
from .tf_setup import configure_tensorflow
from .tiles import tile_count, tile_starts, to_frame
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


# Fine tiles (SAHI's slicing): the squares above are reduced to 300 px, a 960x540 frame's to
# 0.56 of their size, and runners of 100 px (56 px in the network) were missed. A frame whose
# squares are reduced below FINE_SCALE is also cut into a grid of FINE_SIDE squares, which the
# network sees at their own size, each overlapping the next by at least FINE_OVERLAP of a side.
# Measured on the labelled frames (tests/data/heads.json), heads matched one to one with a
# person box: marathon_street (960x540) 153 of 1,375 with the squares alone, 279 with 300 px
# tiles, 219 with 400 px ones; mot20_08_square (960x366, squares at 0.82) 38 -> 78 of 663.
FINE_SIDE = PERSON_INPUT
# 0.85 takes in mot20_08_square's 0.82 and leaves out the 480x270 clips (squares at 1.1),
# which have nothing to gain.
FINE_SCALE = 0.85
# 0.25: a 960x540 frame has three rows of four tiles (0.2 gave two rows and 225 heads of the
# marathon, 0.4 gave 284 with 15 tiles).
FINE_OVERLAP = 0.25


# At most this many fine tiles: past it (1080p would take 40 of 300 px, 13 times as many inputs
# as its squares) the tiles are grown by FINE_GROW until they fit: 15 of 483 px at 1080p.
# The marathon enlarged to 1920x1080: 151 heads matched without them, 251 with them (all 40
# of 300 px: 322); opera_crowd_1080p 58 -> 79 of 114.
MAX_FINE_TILES = 16
FINE_GROW = 1.1


# A fine tile is looked at only where the squares saw something like a small person: a box of
# theirs scoring FINE_FOCUS or more (far below the scores tracked), small enough to lie whole in
# a tile, with its centre in the tile. On the labelled frames of five clips with people this
# found what every tile found (560 heads matched), with 0.9-1.3 tiles a frame instead of 6-15
# on highway_no_people, parking_no_people and bottles_hand_no_face (all 12 on the marathon,
# 5-7 on hikers_trail, reception_group and opera_crowd_1080p); at 0.1, 3 heads fewer; at 0.02,
# 1.5-7.4 tiles a frame on the clips without people.
FINE_FOCUS = 0.05


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


def fine_windows(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """The fine grid of a frame (see FINE_SIDE): squares of FINE_SIDE px, or larger ones where
    more than MAX_FINE_TILES would be needed, overlapping, covering the frame; none where they
    would be no finer than FINE_SCALE of the frame's shorter side (a small frame, whose squares
    the network already sees near their own size, or a strip too long for MAX_FINE_TILES)."""
    side = FINE_SIDE
    while tile_count(height, side, FINE_OVERLAP) * tile_count(width, side, FINE_OVERLAP) > MAX_FINE_TILES:
        side = round(side * FINE_GROW)
    if side > FINE_SCALE * min(height, width):
        return []
    return [(y, x, y + side, x + side) for y in tile_starts(height, side, FINE_OVERLAP)
            for x in tile_starts(width, side, FINE_OVERLAP)]  # fmt: skip


def focused(tiles: list[tuple[int, int, int, int]], boxes: np.ndarray, height: int, width: int) -> list[int]:
    """Which of the fine ``tiles`` (their indices) hold the centre of one of ``boxes``
    (normalized to the frame) small enough to lie whole in a tile: there the squares' pass
    saw something like a person too small for it."""
    pixels = boxes * np.array([height, width, height, width])
    if tiles:
        side = tiles[0][2] - tiles[0][0]
        pixels = pixels[(pixels[:, 2] - pixels[:, 0] < side) & (pixels[:, 3] - pixels[:, 1] < side)]
    cy, cx = (pixels[:, 0] + pixels[:, 2]) / 2, (pixels[:, 1] + pixels[:, 3]) / 2
    return [t for t, (y0, x0, y1, x1) in enumerate(tiles) if ((cy >= y0) & (cy < y1) & (cx >= x0) & (cx < x1)).any()]


def merge_windows(parts: list[tuple[np.ndarray, np.ndarray]], windows: list[tuple[int, int, int, int]],
                  height: int, width: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """One frame's boxes from every window (normalized to its window) as frame boxes.

    A tile's box that touches an edge the tile shares with the inside of the frame is a
    person cut by the tile; it is dropped when another box holds most of it (the whole
    frame's or the neighbouring tile's view of the same person). Then greedy NMS.
    """
    boxes, scores, cut = [], [], []
    for (b, s), (y0, x0, y1, x1) in zip(parts, windows):
        frame_boxes = to_frame(b, (y0, x0, y1, x1), height, width)
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
    anyway), all in one batch, then through those of its :func:`fine_windows` (a large
    frame's finer grid) where the first saw something person-like (:func:`focused`), in a
    second batch; :func:`merge_windows` joins their boxes.
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

    def __call__(self, frames: np.ndarray, first_index: int = 0) -> list[Detections]:
        """People in each frame (see :class:`~vidanon.detect.Detector`; every frame alike):
        the frames' squares in one batch, then the fine tiles each frame's squares point at
        (:func:`focused`) in another."""
        frames = as_batch(frames)
        n, height, width = frames.shape[:3]
        squares = person_windows(height, width) if self.tiles else [(0, 0, height, width)]
        tiles = fine_windows(height, width) if self.tiles else []
        seen = self._look(frames, squares, [list(range(n))] * len(squares))
        chosen = []
        for i in range(n):
            hints = [to_frame(b[s >= FINE_FOCUS], window, height, width) for window, (b, s) in
                     zip(squares, (found[i] for found in seen))]  # fmt: skip
            chosen.append(focused(tiles, np.concatenate(hints), height, width))
        fine = self._look(frames, tiles, [[i for i in range(n) if t in chosen[i]] for t in range(len(tiles))])
        out = []
        for i in range(n):
            parts = [found[i] for found in seen] + [fine[t][i] for t in chosen[i]]
            parts = [(b[s >= self.low_threshold], s[s >= self.low_threshold]) for b, s in parts]
            b, s = merge_windows(parts, squares + [tiles[t] for t in chosen[i]], height, width)
            out.append(Detections(b, s, np.full(len(s), PERSON)))
        return out

    def _look(self, frames: np.ndarray, windows: list[tuple[int, int, int, int]], which: list[list[int]]
              ) -> list[dict[int, tuple[np.ndarray, np.ndarray]]]:  # fmt: skip
        """The person boxes (normalized to the window) and scores, from FINE_FOCUS or the low
        threshold up, of each window ``windows[k]`` in the frames ``which[k]``, all in one batch:
        per window, a dict by frame."""
        floor = min(self.low_threshold, FINE_FOCUS)
        crops = [self._reduce(frames[:, y0:y1, x0:x1] if len(rows) == len(frames) else frames[rows, y0:y1, x0:x1])
                 .numpy() for (y0, x0, y1, x1), rows in zip(windows, which) if rows]  # fmt: skip
        if not crops:
            return [{} for _ in windows]
        boxes, scores, classes = (t.numpy() for t in self._fn(np.concatenate(crops)))
        out, j = [], 0
        for rows in which:
            found = {}
            for i in rows:
                keep = (scores[j] >= floor) & (classes[j] == 1)  # COCO class 1: person
                found[i] = (np.clip(boxes[j][keep], 0.0, 1.0), scores[j][keep])
                j += 1
            out.append(found)
        return out
