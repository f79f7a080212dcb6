"""Stage 3a: soft per-box masks, in the ``detection_masks`` convention.

Every box carries a low-resolution soft mask that covers the box; pasting it into the
frame means resizing it to the box's size in pixels. Faces use one shared template:
an ellipse inscribed in the (scaled) box whose border is feathered by a mean filter,
so no hard rectangle edge shows. A face box is first turned into the box of the head
around it (:func:`head_boxes`: wider, reaching up over the hair), then grown by
``mask_scale`` around its centre, so that hair, ears and chin are covered even when the
box sits a little off the face.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ..detections import head_boxes, scale_boxes  # noqa: F401 - scale_boxes: box scaling is written once, in detections
from ..targets import TARGETS
from . import DEFAULT_MASK_SCALE  # noqa: F401 - set in vidanon.render (light, for the options)

TEMPLATE_SIZE = 64
# Which boxes get which mask: each target's record says (vidanon.targets).
RECTANGLES = [t for t in TARGETS.values() if t.mask == "rectangle"]
HEADS = [t.class_id for t in TARGETS.values() if t.mask == "head"]


@lru_cache(maxsize=8)
def ellipse_template(size: int = TEMPLATE_SIZE, feather: float = 0.2) -> np.ndarray:
    """A soft elliptical mask of ``size`` x ``size`` in [0, 1] covering the unit box.

    A hard ellipse of radius ``1 - feather / 2`` (in half-box units) is smoothed by a
    mean kernel ``feather`` half-boxes wide: the mask is exactly 1 up to radius
    ``1 - feather`` and exactly 0 from radius 1 on (the box's inscribed ellipse).
    """
    if not 0.0 <= feather < 1.0:
        raise ValueError("feather must be in [0, 1)")
    sub = 4  # supersampling of the hard ellipse before the mean filter
    n = size * sub
    c = (np.arange(n) + 0.5) / n * 2.0 - 1.0
    r = np.sqrt(c[:, None] ** 2 + c[None, :] ** 2)
    hard = (r <= 1.0 - feather / 2).astype(np.float64)
    k = max(1, int(round(feather / 2 * n / 2)) * 2 + 1)  # feather half-boxes = feather*n/2 samples
    if k > 1 and feather > 0:
        kernel = np.ones(k) / k
        pad = k // 2
        padded = np.pad(hard, pad)
        hard = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), 0, padded)
        hard = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), 1, hard)
    # Average the supersamples back down to the template size.
    mask = hard.reshape(size, sub, size, sub).mean(axis=(1, 3))
    mask[mask > 0.999] = 1.0
    mask[mask < 0.001] = 0.0
    return mask.astype(np.float32)


@dataclass(frozen=True)
class Region:
    """Where one box's mask lands in a frame of pixels.

    ``y0:y1, x0:x1`` is the part of the frame the mask touches (clipped to the frame);
    ``crop`` is that part in the mask's own normalized coordinates (for
    ``tf.image.crop_and_resize``); ``face_px`` is the size of the unscaled box in
    pixels (effects set their strength from it).
    """

    y0: int
    x0: int
    y1: int
    x1: int
    crop: tuple[float, float, float, float]
    face_px: float
    index: int  # the box this region belongs to


def regions(boxes: np.ndarray, height: int, width: int, mask_scale: float,
            heads: np.ndarray | None = None) -> list[Region]:
    """The pixel regions of normalized ``boxes`` grown by ``mask_scale``; empty ones dropped.

    ``heads`` (one bool per box, or None for none) marks face boxes, whose region is their
    head box's (:func:`head_boxes`) grown by ``mask_scale``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    shaped = boxes
    if heads is not None and np.any(heads):
        shaped = np.where(np.asarray(heads, bool).reshape(-1, 1), head_boxes(boxes), boxes)
    grown = scale_boxes(shaped, mask_scale)
    out = []
    for index, (raw, (ymin, xmin, ymax, xmax)) in enumerate(zip(boxes, grown)):
        py0, px0, py1, px1 = ymin * height, xmin * width, ymax * height, xmax * width
        if py1 - py0 < 1e-6 or px1 - px0 < 1e-6:
            continue
        y0, x0 = max(0, int(np.floor(py0))), max(0, int(np.floor(px0)))
        y1, x1 = min(height, int(np.ceil(py1))), min(width, int(np.ceil(px1)))
        if y1 <= y0 or x1 <= x0:
            continue
        # Pixel centres of the region, in the mask's normalized coordinates.
        crop = (
            (y0 + 0.5 - py0) / (py1 - py0),
            (x0 + 0.5 - px0) / (px1 - px0),
            (y1 - 0.5 - py0) / (py1 - py0),
            (x1 - 0.5 - px0) / (px1 - px0),
        )
        face_px = max((raw[2] - raw[0]) * height, (raw[3] - raw[1]) * width, 1.0)
        out.append(Region(y0, x0, y1, x1, crop, float(face_px), index))
    return out


def mask_crop(region: Region, mask_size: int) -> np.ndarray:
    """``region.crop`` in ``tf.image.crop_and_resize`` coordinates of a ``mask_size`` mask.

    crop_and_resize maps 0 and 1 to the centres of the first and last mask pixels, while
    ``region.crop`` is in the mask's continuous coordinates (0 and 1 are its outer edges).
    """
    return mask_crops([region], mask_size)[0]


def mask_crops(found: list[Region], mask_size: int) -> np.ndarray:
    """:func:`mask_crop` of each region, (len(found), 4)."""
    u = np.array([r.crop for r in found], np.float64).reshape(-1, 4)
    return ((u * mask_size - 0.5) / max(mask_size - 1, 1)).astype(np.float32)


# Rectangles (plates): a plate detector's boxes hug the plate, and a plate is a rectangle,
# so its mask is a rectangle grown by its target's mask scale (vidanon.targets.PLATES: 1.3)
# whose border is feathered over RECT_FEATHER of the grown box's half-size; the opaque core
# reaches 1.3 * (1 - 0.15) = 1.1 half-boxes out.
RECT_FEATHER = 0.15


@lru_cache(maxsize=8)
def rectangle_template(size: int = TEMPLATE_SIZE, feather: float = RECT_FEATHER) -> np.ndarray:
    """A soft rectangular mask of ``size`` x ``size`` in [0, 1] covering the unit box: exactly 1
    up to ``1 - feather`` half-boxes from the centre along each axis, falling linearly to 0 at
    the box's edge (the product of the two axes' ramps, so corners are rounded off softly)."""
    if not 0.0 <= feather < 1.0:
        raise ValueError("feather must be in [0, 1)")
    c = np.abs((np.arange(size) + 0.5) / size * 2.0 - 1.0)  # distance from the centre, half-boxes
    ramp = np.clip((1.0 - c) / feather, 0.0, 1.0) if feather > 0 else (c <= 1.0).astype(np.float64)
    return np.outer(ramp, ramp).astype(np.float32)


def shaped_regions(detections, height: int, width: int, mask_scale: float) -> list[tuple[Region, np.ndarray]]:
    """Each box of a :class:`~vidanon.detections.Detections` with the mask the renderer pastes
    there, by its target's mask (:mod:`vidanon.targets`): ``rectangle`` (plates), a feathered
    rectangle grown by the target's own scale; a box with its own mask (``outline``: a
    person), that mask, grown by ``mask_scale``; ``head`` (faces), the ellipse of its head box
    (:func:`~vidanon.detections.head_boxes`) grown by ``mask_scale``."""
    classes = detections.classes
    rect = np.zeros(len(classes), bool)
    for target in RECTANGLES:
        rect |= classes == target.class_id
    own = detections.masks is not None
    heads = np.isin(classes, HEADS) & ~rect if not own else None
    scaled = regions(detections.boxes, height, width, mask_scale, heads)
    out = [(r, detections.masks[r.index] if own else ellipse_template()) for r in scaled if not rect[r.index]]
    for target in RECTANGLES:
        index = np.flatnonzero(classes == target.class_id)
        for r in regions(detections.boxes[index], height, width, target.mask_scale) if len(index) else ():
            out.append((replace(r, index=int(index[r.index])), rectangle_template()))
    return out


def detection_regions(detections, height: int, width: int, mask_scale: float) -> list[Region]:
    """The pixel regions the renderer masks for ``detections`` (see :func:`shaped_regions`)."""
    return [r for r, _ in shaped_regions(detections, height, width, mask_scale)]


def mask_shares(detections, height: int, width: int, mask_scale: float) -> np.ndarray:
    """The share of the frame's area each box's mask region takes (0 for a box outside it)."""
    shares = np.zeros(len(detections), np.float64)
    for r in detection_regions(detections, height, width, mask_scale):
        shares[r.index] = max(shares[r.index], (r.y1 - r.y0) * (r.x1 - r.x0) / float(height * width))
    return shares


def alpha_map(detections, height: int, width: int, mask_scale: float) -> np.ndarray:
    """The frame's mask strength in [0, 1] (the maximum of its boxes' soft masks), as the
    renderer pastes them (nearest template sample per pixel; for measuring and drawing)."""
    alpha = np.zeros((height, width), np.float32)
    for region, mask in shaped_regions(detections, height, width, mask_scale):
        n = mask.shape[0]
        v0, u0, v1, u1 = region.crop
        rows = np.linspace(v0, v1, region.y1 - region.y0) if region.y1 - region.y0 > 1 else np.array([(v0 + v1) / 2])
        cols = np.linspace(u0, u1, region.x1 - region.x0) if region.x1 - region.x0 > 1 else np.array([(u0 + u1) / 2])
        ri = np.clip((rows * n).astype(np.int64), 0, n - 1)
        ci = np.clip((cols * n).astype(np.int64), 0, n - 1)
        view = alpha[region.y0 : region.y1, region.x0 : region.x1]
        np.maximum(view, mask[np.ix_(ri, ci)], out=view)
    return alpha
