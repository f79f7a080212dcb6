"""Stage 2b: a soft mask per person, two-stage like Mask R-CNN.

Each person box (after tracking, so masks follow the tracks and do not flicker) is
grown a little, cut out of the frame with ``tf.image.crop_and_resize`` (the stand-in
for Mask R-CNN's RoIAlign) at 256x256, and MediaPipe's selfie segmentation network
(translated into TensorFlow ops, see :mod:`vidanon.detect.tflite_tf`) predicts a soft person
mask on the crop. The mask is reduced to ``MASK_SIZE`` squared and attached to the grown
box: the ``detection_masks`` convention, a low-resolution mask per box that the
renderer resizes into the box.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..detect.models import model_path
from ..detections import DETECTED, Detections

SEG_SIZE = 256  # the network's input
MASK_SIZE = 64  # masks as stored per box
# The crop around a detector's box, in box heights / widths added on each side: more on
# top, where hair and raised arms reach past SSD's box, than at the feet.
MARGIN_TOP, MARGIN_BOTTOM, MARGIN_SIDE = 0.15, 0.06, 0.1
# A mask still high on its crop's edge (at least EDGE_PIXELS of the edge row or column
# over EDGE_HIGH) means the crop cut the person: that side is moved out by GROW of the
# crop's size and the person segmented again, up to GROW_ROUNDS times. Edges at the
# frame's border are left alone.
EDGE_HIGH, EDGE_PIXELS, GROW, GROW_ROUNDS = 0.5, 2, 0.25, 2
# Where a crop edge lies inside the frame, the mask fades to 0 over its last FADE pixels
# (of MASK_SIZE), so a person the crop still cuts ends softly, not along a straight line.
FADE = 4
# Hiding people errs the other way: a pixel is fully hidden from a person-mask value of
# COVER_HIGH (hair and thin arms often get 0.3-0.6), not at all below COVER_LOW (the
# renderer's ramp, :mod:`vidanon.render.effects`; the review's cover, :func:`vidanon.review.flags.mask_cover`).
COVER_LOW, COVER_HIGH = 0.1, 0.45
# A mask that covers under MIN_COVER of its crop (values over COVER_HIGH) failed on a box
# the tracker says holds a person (on the sample clip the walking man's mask drops to 0 for
# two frames while his box is right): the box is then hidden by its inscribed ellipse.
MIN_COVER = 0.1
# A mask that leaves the middle of a person's box bare (under CORE_COVER of the box's core
# over COVER_HIGH: its middle third across, from a fifth to three fifths down, where a standing
# or seated person's body is) went to someone else in the crop: a neighbour in a group, the
# person in front. Where the person detector found that person in this frame, in a box under
# CORE_HEIGHT of the frame's height (the segmenter, made for people close to the camera, loses
# far ones among others), the box is then also hidden by its inscribed ellipse: on hikers_trail
# a far hiker's face stayed visible under his own box (0.67), his mask on the hikers beside him.
# Not for boxes the tracker carries (back-filled, interpolated) nor large ones: there a bare
# core is a loose box beside a person (selfie_vertical: ellipses over the sky).
CORE_COVER = 0.2
CORE_ROWS, CORE_COLS = (0.2, 0.6), (1 / 3, 2 / 3)
CORE_HEIGHT = 0.5


def crop_boxes(boxes: np.ndarray) -> np.ndarray:
    """The crops segmented for detector ``boxes``: each grown by the margins above."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    h, w = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    return np.stack([b[:, 0] - MARGIN_TOP * h, b[:, 1] - MARGIN_SIDE * w,
                     b[:, 2] + MARGIN_BOTTOM * h, b[:, 3] + MARGIN_SIDE * w], axis=1)  # fmt: skip


def cut_sides(masks: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N, 4) booleans, top/left/bottom/right: the mask is high on that edge of its box and
    the edge lies inside the frame (so there is more of the person beyond it)."""
    high = masks > EDGE_HIGH
    edges = np.stack([high[:, 0, :], high[:, :, 0], high[:, -1, :], high[:, :, -1]], axis=1)
    inside = np.stack([boxes[:, 0] > 0, boxes[:, 1] > 0, boxes[:, 2] < 1, boxes[:, 3] < 1], axis=1)
    return (edges.sum(axis=2) >= EDGE_PIXELS) & inside


def grow_sides(boxes: np.ndarray, sides: np.ndarray) -> np.ndarray:
    """``boxes`` with each side flagged in ``sides`` moved out by GROW of the box's size
    (not past the frame's border, unless the box already was)."""
    b = np.array(boxes, np.float64)
    h, w = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    b[:, 0] = np.where(sides[:, 0], np.minimum(b[:, 0], np.maximum(0.0, b[:, 0] - GROW * h)), b[:, 0])
    b[:, 1] = np.where(sides[:, 1], np.minimum(b[:, 1], np.maximum(0.0, b[:, 1] - GROW * w)), b[:, 1])
    b[:, 2] = np.where(sides[:, 2], np.maximum(b[:, 2], np.minimum(1.0, b[:, 2] + GROW * h)), b[:, 2])
    b[:, 3] = np.where(sides[:, 3], np.maximum(b[:, 3], np.minimum(1.0, b[:, 3] + GROW * w)), b[:, 3])
    return b


def fill_failed(masks: np.ndarray) -> np.ndarray:
    """``masks`` where every mask covering under MIN_COVER of its crop is raised to at least
    the crop's inscribed soft ellipse (privacy first: a person the segmenter lost stays hidden)."""
    from .masks import ellipse_template

    out = np.array(masks, np.float32)
    if not len(out):
        return out
    failed = (out > COVER_HIGH).mean(axis=(1, 2)) < MIN_COVER
    if failed.any():
        out[failed] = np.maximum(out[failed], ellipse_template(out.shape[1])[None])
    return out


def _span(lo: float, hi: float, start: float, length: float, size: int) -> slice:
    """The mask cells (of ``size``) of ``[lo, hi]`` on a crop from ``start`` of ``length``,
    at least one."""
    a = int(np.clip(np.floor((lo - start) / length * size), 0, size - 1))
    return slice(a, max(a + 1, int(np.clip(np.ceil((hi - start) / length * size), 0, size))))


def fill_missed(masks: np.ndarray, crops: np.ndarray, boxes: np.ndarray, which: np.ndarray) -> np.ndarray:
    """``masks`` (on ``crops``) where a mask of ``which`` (booleans) leaves its box's core
    bare (see CORE_COVER) raised to at least the box's inscribed soft ellipse."""
    from .masks import ellipse_template

    out = np.array(masks, np.float32)
    size = out.shape[1] if len(out) else 0
    template = ellipse_template(size) if which.any() else None
    for i in np.flatnonzero(which):
        (cy0, cx0, cy1, cx1), (y0, x0, y1, x1) = crops[i], boxes[i]
        ch, cw, h, w = cy1 - cy0, cx1 - cx0, y1 - y0, x1 - x0
        core = out[i, _span(y0 + CORE_ROWS[0] * h, y0 + CORE_ROWS[1] * h, cy0, ch, size),
                   _span(x0 + CORE_COLS[0] * w, x0 + CORE_COLS[1] * w, cx0, cw, size)]  # fmt: skip
        if (core > COVER_HIGH).mean() >= CORE_COVER:
            continue
        rows, cols = _span(y0, y1, cy0, ch, size), _span(x0, x1, cx0, cw, size)
        n_r, n_c = rows.stop - rows.start, cols.stop - cols.start
        ellipse = template[np.linspace(0, size - 1, n_r).round().astype(int)][:, np.linspace(0, size - 1, n_c).round().astype(int)]
        out[i, rows, cols] = np.maximum(out[i, rows, cols], ellipse)
    return out


def fade_edges(masks: np.ndarray, boxes: np.ndarray, width: int = FADE) -> np.ndarray:
    """``masks`` faded to 0 over their last ``width`` pixels on every side whose box edge
    lies inside the frame; sides on or past the frame's border keep their values."""
    out = np.array(masks, np.float32)
    n, size = out.shape[:2]
    ramp = np.ones(size, np.float32)
    ramp[:width] = (np.arange(width) + 0.5) / width
    inside = np.stack([boxes[:, 0] > 0, boxes[:, 1] > 0, boxes[:, 2] < 1, boxes[:, 3] < 1], axis=1)
    for i in range(n):
        rows = np.minimum(np.where(inside[i, 0], ramp, 1.0), np.where(inside[i, 2], ramp[::-1], 1.0))
        cols = np.minimum(np.where(inside[i, 1], ramp, 1.0), np.where(inside[i, 3], ramp[::-1], 1.0))
        out[i] *= rows[:, None] * cols[None, :]
    return out


class PersonSegmenter:
    """Attach a soft person mask to every box of a frame's :class:`Detections`."""

    def __init__(self) -> None:
        from ..detect.tf_setup import configure_tensorflow
        from ..detect.tflite_tf import load_tflite_as_tf

        configure_tensorflow()  # TensorFlow imported quietly and without Keras, before anything
        import tensorflow as tf

        net = load_tflite_as_tf(model_path("selfie_segmentation"))

        @tf.function(
            autograph=False,  # plain TF ops only: skip the source transformation
            input_signature=[tf.TensorSpec([None, None, 3], tf.uint8), tf.TensorSpec([None, 4], tf.float32)],
            reduce_retracing=True,
        )
        def segment(frame, boxes):
            image = tf.cast(frame, tf.float32)[None] / 255.0  # the network takes [0, 1]
            crops = tf.image.crop_and_resize(image, boxes, tf.zeros(tf.shape(boxes)[0], tf.int32),
                                             (SEG_SIZE, SEG_SIZE), extrapolation_value=0.0)  # fmt: skip
            masks = net(crops)
            return tf.image.resize(masks, (MASK_SIZE, MASK_SIZE), method="area")[..., 0]

        self._segment = segment

    def masks(self, frame: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The crops of detector ``boxes`` (grown where the person went past them) and the
        raw soft masks of those crops."""
        crops = crop_boxes(boxes)
        masks = self._segment(frame, crops.astype(np.float32)).numpy()
        for _ in range(GROW_ROUNDS):
            sides = cut_sides(masks, crops)
            redo = np.flatnonzero(sides.any(axis=1))
            if redo.size == 0:
                break
            crops[redo] = grow_sides(crops[redo], sides[redo])
            masks[redo] = self._segment(frame, crops[redo].astype(np.float32)).numpy()
        return crops, masks

    def __call__(self, frame: np.ndarray, detections: Detections) -> Detections:
        if len(detections) == 0:
            return replace(detections, masks=np.zeros((0, MASK_SIZE, MASK_SIZE), np.float32))
        crops, masks = self.masks(frame, detections.boxes)
        boxes = np.asarray(detections.boxes, np.float64)
        found = (np.asarray(detections.sources) == DETECTED) & (boxes[:, 2] - boxes[:, 0] < CORE_HEIGHT)
        masks = fill_missed(fill_failed(masks), crops, boxes, found)
        return replace(detections, boxes=crops.astype(np.float32), masks=fade_edges(masks, crops))
