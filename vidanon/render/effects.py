"""Stage 3b: the effects, in NumPy, composited through the soft masks.

Work is done only where a mask lands: each box's region is cut out of the frame, the
effect is computed on that region (a blur on a downscaled copy, so its cost follows the
region, not the frame), and the result is blended back through the pasted mask.
Pixels outside every mask are never written, so they stay bit-identical.

Strength follows the face: the blur reduces every face, whatever its size, to about
``BLUR_CELLS`` samples across before smoothing, and pixelation to ``PIXEL_CELLS``
blocks across. A fixed-size kernel would leave large faces recognisable.

The resampling follows TensorFlow's image ops (:mod:`vidanon.resample`; the effects ran in
TensorFlow before, and the CPU path now starts without it).
"""

from __future__ import annotations

import math
import os
from functools import lru_cache

import numpy as np

from ..detections import Detections
from ..errors import InputError
from ..resample import area_taps, bilinear_taps, crop_and_resize, crop_matrices, matrix, nearest_taps, resample
from . import BLUR_CELLS, DEFAULT_MASK_SCALE, EFFECTS, PIXEL_CELLS  # noqa: F401 - set in vidanon.render (light)
from .masks import Region, mask_crop, mask_crops, regions, shaped_regions
from .segment import COVER_HIGH, COVER_LOW

# The colour splash keeps people in colour and turns the rest grey (ITU-R BT.601 luma).
LUMA = (0.299, 0.587, 0.114)
SPLASH_LOW, SPLASH_HIGH = 0.4, 0.7  # the splash's colour ramps up between these person-mask values

_EFFECT_IDS = {"blur": 0, "pixelate": 1, "fill": 2}


_GAUSS = np.exp(-0.5 * np.arange(-2, 3, dtype=np.float64) ** 2)
_GAUSS = (_GAUSS / _GAUSS.sum()).astype(np.float32)


def _smooth(x: np.ndarray, axis: int) -> np.ndarray:
    """``x`` convolved with the 5-tap Gaussian along ``axis``, zero beyond its ends."""
    n = x.shape[axis]
    shape = list(x.shape)
    shape[axis] += 4
    padded = np.zeros(shape, x.dtype)
    lead = (slice(None),) * axis
    padded[lead + (slice(2, n + 2),)] = x
    out = np.zeros_like(x)
    for k, g in enumerate(_GAUSS):
        out += g * padded[lead + (slice(k, k + n),)]
    return out


@lru_cache(maxsize=1024)
def _support(h: int, w: int) -> np.ndarray:
    """The blurred support of an ``h`` x ``w`` region (what :func:`gaussian` divides by)."""
    support = np.outer(_smooth(np.ones(h, np.float32), 0), _smooth(np.ones(w, np.float32), 0))[:, :, None]
    support.flags.writeable = False
    return support


def gaussian(x: np.ndarray) -> np.ndarray:
    """A normalized convolution: zero padding divided by the blurred support, so any size
    (down to 1x1) works and edges are not darkened."""
    return _smooth(_smooth(x, 0), 1) / _support(*x.shape[:2])


@lru_cache(maxsize=4096)
def axis_operators(n: int, small: int, effect: int) -> tuple[np.ndarray, np.ndarray]:
    """The blur (``effect`` 0) or pixelation (1) of ``n`` pixels along one axis, as two
    float32 matrices: ``down`` (small, n) area-averages them to ``small`` samples (and, for the
    blur, applies :func:`gaussian` along the axis: the 5-tap Gaussian divided by its support),
    ``up`` (n, small) enlarges them again (bilinear for the blur, repeated samples for
    pixelation). Both axes of a region so give ``up_h @ down_h @ region @ down_w.T @ up_w.T``,
    the effect of :func:`effect_reference`."""
    down = matrix(area_taps(n, small), n).astype(np.float64)
    if effect == 0:
        offsets = np.arange(small)[None, :] - np.arange(small)[:, None] + 2
        inside = (offsets >= 0) & (offsets < len(_GAUSS))
        g = np.where(inside, _GAUSS.astype(np.float64)[np.clip(offsets, 0, len(_GAUSS) - 1)], 0.0)
        down = (g @ down) / g.sum(axis=1, keepdims=True)
        up = matrix(bilinear_taps(small, n), small)
    else:
        up = matrix(nearest_taps(small, n), small)
    down = down.astype(np.float32)
    for a in (down, up):
        a.flags.writeable = False
    return down, up


def apply_effect(region: np.ndarray, alpha: np.ndarray, small_hw: tuple[int, int], effect: int,
                 colour: np.ndarray) -> np.ndarray:  # fmt: skip
    """``region`` (uint8 RGB) with the effect blended in through ``alpha`` (its soft mask,
    (h, w) in [0, 1]): the blur area-averages the region down to ``small_hw``, smooths it and
    enlarges it again (bilinear); pixelate enlarges it by repeating samples; fill is ``colour``.
    Each axis is one matrix product (:func:`axis_operators`)."""
    h, w = region.shape[:2]
    x = region.astype(np.float32)
    if effect == 2:
        y = np.broadcast_to(np.asarray(colour, np.float32), x.shape) - x
    else:
        down_h, up_h = axis_operators(h, int(small_hw[0]), int(effect))
        down_w, up_w = axis_operators(w, int(small_hw[1]), int(effect))
        small = np.matmul(down_w, (down_h @ x.reshape(h, w * 3)).reshape(-1, w, 3))
        y = (up_h @ np.matmul(up_w, small).reshape(-1, w * 3)).reshape(h, w, 3)
        y -= x
    y *= alpha[..., None]
    y += x
    np.rint(y, out=y)
    np.clip(y, 0.0, 255.0, out=y)
    return y.astype(np.uint8)


def effect_reference(region: np.ndarray, alpha: np.ndarray, small_hw: tuple[int, int], effect: int,
                     colour: np.ndarray) -> np.ndarray:  # fmt: skip
    """:func:`apply_effect` computed step by step, as TensorFlow's image ops would (area
    resize, the Gaussian of :func:`gaussian`, bilinear or nearest resize): what the matrices
    of :func:`axis_operators` must reproduce (tests/test_effects.py)."""
    h, w = region.shape[:2]
    x = region.astype(np.float32)
    if effect == 2:
        y = np.broadcast_to(np.asarray(colour, np.float32), x.shape)
    else:
        sh, sw = int(small_hw[0]), int(small_hw[1])
        small = resample(region, area_taps(h, sh), area_taps(w, sw))
        if effect == 0:
            y = resample(gaussian(small), bilinear_taps(sh, h), bilinear_taps(sw, w))
        else:
            y = resample(small, nearest_taps(sh, h), nearest_taps(sw, w))
    out = x + (y - x) * alpha[..., None]
    return np.clip(np.round(out), 0.0, 255.0).astype(np.uint8)


def pasted_masks(shaped: list[tuple[Region, np.ndarray]]) -> list[np.ndarray]:
    """Each region's (square) mask pasted over it, as ``crop_and_resize`` of its
    :func:`~.masks.mask_crop` would (bilinear): the sampling matrices of all the regions'
    crops computed together, then two products a region."""
    out: list[np.ndarray] = [None] * len(shaped)  # type: ignore[list-item]
    by_size: dict[int, list[int]] = {}
    for k, (_, mask) in enumerate(shaped):
        by_size.setdefault(mask.shape[0], []).append(k)
    for size, members in by_size.items():
        rs = [shaped[k][0] for k in members]
        crops = mask_crops(rs, size)
        rows = crop_matrices(crops[:, 0], crops[:, 2], size, [r.y1 - r.y0 for r in rs])
        cols = crop_matrices(crops[:, 1], crops[:, 3], size, [r.x1 - r.x0 for r in rs])
        for k, rm, cm in zip(members, rows, cols):
            out[k] = (rm @ shaped[k][1]) @ cm.T
    return out


class Renderer:
    """Hide the boxes of a :class:`Detections` in a frame with one effect."""

    def __init__(self, effect: str = "blur", mask_scale: float = DEFAULT_MASK_SCALE, fill_color=(0, 0, 0),
                 cells: float | None = None) -> None:  # fmt: skip
        """``cells``: samples (blur) or blocks (pixelate) across a face; default BLUR_CELLS
        or PIXEL_CELLS (fewer is stronger)."""
        if effect not in _EFFECT_IDS:
            raise ValueError(f"unknown effect {effect!r} for Renderer; choose from {', '.join(_EFFECT_IDS)} "
                             "(splash: SplashRenderer)")
        if mask_scale <= 0:
            raise ValueError("mask_scale must be positive")
        self.effect = effect
        self.mask_scale = float(mask_scale)
        self.fill_color = np.asarray(fill_color, np.float32).reshape(3)
        self.cells = float(cells) if cells else default_cells(effect)

    def _small_size(self, region: Region) -> tuple[int, int]:
        factor = max(1.0, region.face_px / self.cells)
        if self.effect == "pixelate":  # a face of 8 px in 8 blocks would be left as it is
            factor = max(factor, MIN_PIXEL_BLOCK)
        h, w = region.y1 - region.y0, region.x1 - region.x0
        return max(1, math.ceil(h / factor)), max(1, math.ceil(w / factor))

    def __call__(self, frame: np.ndarray, detections: Detections) -> np.ndarray:
        """Return ``frame`` with every box hidden (the input array is not modified)."""
        if len(detections) == 0:
            return frame
        height, width = frame.shape[:2]
        out = np.array(frame, copy=True)
        shaped = shaped_regions(detections, height, width, self.mask_scale)
        effect = _EFFECT_IDS[self.effect]
        for (region, _), alpha in zip(shaped, pasted_masks(shaped)):
            view = out[region.y0 : region.y1, region.x0 : region.x1]
            view[...] = apply_effect(view, alpha, self._small_size(region), effect, self.fill_color)
        return out


# Pixelation's blocks are at least this many pixels wide: the strength (blocks across a face)
# is kept down to faces of 8 x 3 = 24 px; below, a face gets fewer, larger-than-its-pixels
# blocks (an 8 px face: under 3 blocks) instead of blocks of one pixel, which changed nothing.
MIN_PIXEL_BLOCK = 3.0


def default_cells(effect: str) -> float:
    """The strength of ``effect`` when ``--strength`` is not given (cells across a face)."""
    return BLUR_CELLS if effect == "blur" else PIXEL_CELLS


class ImageRenderer:
    """``--effect image``: an image (RGB, or RGBA blended by its alpha) stretched over the
    head box of each face, as grown by ``mask_scale`` (the box the other effects' ellipse is
    inscribed in); the part of the box outside the frame is cut off.

    An image with any transparency is laid over the faces already blurred (the blur effect's
    ellipse at the same ``mask_scale``): its alpha decides how much of the image shows, never
    whether the face does. An emoji's transparent corners still show the background around the
    head; a transparent or half-transparent image shows a blurred face, not the face."""

    effect = "image"

    def __init__(self, image: np.ndarray, mask_scale: float = DEFAULT_MASK_SCALE) -> None:
        self.image = np.asarray(image, np.float32)  # (h, w, 4): RGB and alpha in [0, 255]
        self.mask_scale = float(mask_scale)
        # an opaque image covers its whole box, the ellipse included: the blur would not show
        self.under = None if self.image[..., 3].min() >= 255 else Renderer("blur", mask_scale)

    def __call__(self, frame: np.ndarray, detections: Detections) -> np.ndarray:
        if len(detections) == 0:
            return frame
        out = np.array(frame, copy=True) if self.under is None else self.under(frame, detections)
        size = np.array(self.image.shape[:2] * 2, np.float64)
        for region, _ in shaped_regions(detections, *frame.shape[:2], self.mask_scale):
            # the region's part of the whole box, in crop_and_resize's coordinates of the image
            # (its outer half-pixels take the edge samples, as in pasted_alpha)
            crop = np.clip((np.asarray(region.crop) * size - 0.5) / np.maximum(size - 1, 1), 0, 1).astype(np.float32)
            hw = (region.y1 - region.y0, region.x1 - region.x0)
            pasted = crop_and_resize(self.image, crop, *hw)
            alpha = pasted[..., 3:] / 255.0
            view = out[region.y0 : region.y1, region.x0 : region.x1]
            view[:] = np.clip(np.rint(view + (pasted[..., :3] - view) * alpha), 0, 255).astype(np.uint8)
        return out


# Longest side the image is kept at: a head box is rarely over 1000 px even in 4K, and the
# image is resized for every face in every frame, so its cost must not follow the file's size.
IMAGE_MAX_SIDE = 1024


def load_image(path) -> np.ndarray:
    """The image of ``--effect image`` as 8-bit RGBA (an image without alpha is opaque), at most
    IMAGE_MAX_SIDE px on its longer side, read-only. Decoded in full here, so a damaged or
    oversized file is an :class:`~vidanon.errors.InputError` (one line) at the option check,
    not a failure in the middle of a run. Kept for the last two files read (checked, then used)."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise InputError(f"cannot read the image {path}: {exc.strerror or exc}") from None
    return _load_image(os.fspath(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=2)
def _load_image(path: str, mtime_ns: int, size: int) -> np.ndarray:
    import warnings

    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            # refused from Pillow's pixel limit, not only from twice it: no cover image needs it
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                scale = min(1.0, IMAGE_MAX_SIDE / max(w, h, 1))
                if scale < 1:  # a JPEG decodes at 1/2, 1/4 or 1/8 of its size, no smaller than this
                    im.draft(None, (max(1, int(w * scale)), max(1, int(h * scale))))
                im.load()  # every pixel now: verify() passes a truncated JPEG
                rgba = _rgba(ImageOps.exif_transpose(im))
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:  # fmt: skip
        raise InputError(f"cannot read the image {path}: {getattr(exc, 'strerror', None) or exc}") from None
    w, h = rgba.size
    scale = IMAGE_MAX_SIDE / max(w, h)
    if scale < 1:  # Pillow resizes RGBA premultiplied: transparent pixels' colours do not bleed
        rgba = rgba.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    out = np.asarray(rgba).copy()
    out.flags.writeable = False  # shared by the cache
    return out


def _rgba(im):
    """``im`` as 8-bit RGBA. 16- and 32-bit grey and float images are scaled to 8 bits first:
    Pillow's convert clips them (a 16-bit grey of 40000 would come out white)."""
    from PIL import Image

    if not (im.mode.startswith("I") or im.mode == "F"):
        return im.convert("RGBA")
    grey = np.asarray(im, np.float64)
    if im.mode == "F":  # float: 0-1, else taken as 0-255
        top = 1.0 if grey.max(initial=0.0) <= 1 else 255.0
    elif im.mode == "I" and grey.max(initial=0.0) > 65535:  # mode I holds 16-bit data (PGM) unless larger
        top = 2.0**31 - 1
    else:
        top = 65535.0
    return Image.fromarray(np.clip(np.rint(grey * (255.0 / top)), 0, 255).astype(np.uint8)).convert("RGBA")


def face_cover(image: np.ndarray) -> float:
    """The share of the image's central ellipse (half its width and height across, where the
    face lies once the image is stretched over a head box) that is opaque (alpha from 250)."""
    h, w = image.shape[:2]
    y, x = np.ogrid[:h, :w]
    inside = ((y + 0.5 - h / 2) / (h / 4)) ** 2 + ((x + 0.5 - w / 2) / (w / 4)) ** 2 <= 1
    return float((image[..., 3][inside] >= 250).mean()) if inside.any() else float(image[..., 3].min() >= 250)


def pasted_alpha(paste, shape: tuple[int, int], detections: Detections, mask_scale: float = 1.0) -> np.ndarray:
    """One soft alpha for the whole frame: every box's mask pasted into it, combined by
    their maximum (where two people's boxes overlap, neither box's edge shows)."""
    height, width = shape
    alpha = np.zeros((height, width), np.float32)
    if len(detections) == 0 or detections.masks is None:
        return alpha
    for region in regions(detections.boxes, height, width, mask_scale):
        mask = detections.masks[region.index]
        hw = np.array([region.y1 - region.y0, region.x1 - region.x0], np.int32)
        # Pixel centres in the mask's outer half-pixel lie just past its first or last
        # sample, where crop_and_resize would give 0 (a 1-pixel line left unmasked at the
        # frame's border): they take the edge sample's value.
        crop = np.clip(mask_crop(region, mask.shape[0]), 0.0, 1.0)
        part = paste(mask, crop, hw)
        view = alpha[region.y0 : region.y1, region.x0 : region.x1]
        np.maximum(view, part, out=view)
    return alpha


def overlap_groups(found: list[Region]) -> list[Region]:
    """Regions that overlap (directly or through others) joined into one region each: their
    bounding rectangle, the largest ``face_px``, the first member's ``index``."""
    groups = [[r] for r in found]
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                a, b = _bounds(groups[i]), _bounds(groups[j])
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    groups[i] += groups.pop(j)
                    merged = True
                    break
            if merged:
                break
    out = []
    for g in groups:
        y0, x0, y1, x1 = _bounds(g)
        out.append(Region(y0, x0, y1, x1, (0.0, 0.0, 1.0, 1.0), max(r.face_px for r in g), g[0].index))
    return out


def _bounds(group: list[Region]) -> tuple[int, int, int, int]:
    return (min(r.y0 for r in group), min(r.x0 for r in group), max(r.y1 for r in group), max(r.x1 for r in group))


class PeopleRenderer(Renderer):
    """Hide people through one frame-level alpha (:func:`pasted_alpha`).

    The alpha goes through :func:`smoothstep` from COVER_LOW to COVER_HIGH, so hair and
    arms the network is half sure of are hidden fully. Overlapping people are one region: the effect is computed once on it, at the strength
    of its largest person, and blended once through the combined alpha, so no box's
    patch or edge shows where people overlap.
    """

    def __init__(self, effect: str = "blur", fill_color=(0, 0, 0), cells: float | None = None) -> None:
        super().__init__(effect, 1.0, fill_color, cells)
        self._paste = paste_mask

    def __call__(self, frame: np.ndarray, detections: Detections) -> np.ndarray:
        if len(detections) == 0 or detections.masks is None:
            return super().__call__(frame, detections)
        height, width = frame.shape[:2]
        alpha = smoothstep(pasted_alpha(self._paste, (height, width), detections), COVER_LOW, COVER_HIGH)
        out = np.array(frame, copy=True)
        for group in overlap_groups(regions(detections.boxes, height, width, 1.0)):
            view = out[group.y0 : group.y1, group.x0 : group.x1]
            view[...] = apply_effect(view, alpha[group.y0 : group.y1, group.x0 : group.x1],
                                     self._small_size(group), _EFFECT_IDS[self.effect], self.fill_color)  # fmt: skip
        return out


def paste_mask(mask: np.ndarray, crop, hw) -> np.ndarray:
    """A box's soft ``mask`` over its region of ``hw`` pixels (``crop``: the region in
    ``crop_and_resize`` coordinates of the mask)."""
    return crop_and_resize(mask, crop, int(hw[0]), int(hw[1]))


def splash(frame: np.ndarray, alpha: np.ndarray, top: float = 255.0, dtype=np.uint8) -> np.ndarray:
    """``frame`` grey (BT.601 luma) except through ``alpha`` (samples from 0 to ``top``)."""
    x = frame.astype(np.float32)
    grey = (x * np.asarray(LUMA, np.float32)).sum(axis=-1, keepdims=True)
    out = grey + (x - grey) * alpha[..., None]
    return np.clip(np.round(out), 0.0, top).astype(dtype)


class DeepResult(np.ndarray):
    """An effect's 8-bit frame that also carries the same effect drawn on the input's 16-bit
    samples (``deep``), which the writer encodes whole: the splash turns the whole background
    grey, which drawn in 8 bits came out banded in a 10-bit video (found by a QA sweep)."""

    deep: np.ndarray | None = None

    def __array_finalize__(self, obj) -> None:
        self.deep = None


def smoothstep(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """0 up to ``low``, 1 from ``high``, a smooth cubic step between."""
    t = np.clip((x - low) / (high - low), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def splash_weight(alpha: np.ndarray) -> np.ndarray:
    """How much colour a pixel keeps for a person mask value ``alpha``: none up to
    SPLASH_LOW, all from SPLASH_HIGH, a smooth step between. The selfie network's output
    on background inside a person's box (a curtain, a shelf) is often 0.1-0.4: kept as
    it is, that background would come out in pale colour."""
    return smoothstep(alpha, SPLASH_LOW, SPLASH_HIGH)


class SplashRenderer:
    """The Mask R-CNN colour splash: colour inside the people's masks, grey elsewhere.

    The masks of all boxes are pasted into one soft alpha (their maximum); a frame with
    no person comes out entirely grey.
    """

    effect = "splash"

    def __init__(self, mask_scale: float = 1.0) -> None:
        self.mask_scale = float(mask_scale)
        self._paste, self._splash = paste_mask, splash

    def alpha(self, shape: tuple[int, int], detections: Detections) -> np.ndarray:
        """The frame's colour weight: the people's combined soft mask, through
        :func:`splash_weight` (background the network half-believes in stays grey)."""
        return splash_weight(pasted_alpha(self._paste, shape, detections, self.mask_scale))

    def __call__(self, frame: np.ndarray, detections: Detections) -> np.ndarray:
        alpha = self.alpha(frame.shape[:2], detections)
        deep = getattr(frame, "deep", None)  # a video of more than 8 bits (vidanon.media.reader.Frame)
        if deep is None:
            return self._splash(frame, alpha)
        drawn = self._splash(deep, alpha, 65535.0, np.uint16)  # drawn once, at 16 bits; the 8-bit frame from it
        out = ((drawn.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8).view(DeepResult)
        out.deep = drawn
        return out
