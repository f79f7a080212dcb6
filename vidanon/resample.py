"""Image resampling in NumPy, computing what TensorFlow's image ops compute.

The CPU path runs without TensorFlow (see :mod:`vidanon.detect.lite`): the face detector's
input (``tf.image.resize(..., method="area")``), its second look's crops and the effects'
masks (``tf.image.crop_and_resize``), and the effects' up- and downscaling
(``tf.image.resize`` "area", "bilinear" and "nearest", TensorFlow 2's half-pixel centres)
are written here with the same sampling rules, as separable resampling: each output row
(then column) is a weighted sum of a few input rows (:func:`resample`), whose indices and
weights (*taps*) the functions below compute for one axis. Results agree with TensorFlow's
to float rounding (tests/test_resample.py).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

Taps = tuple[np.ndarray, np.ndarray]  # (out, K) input indices, (out, K) float32 weights


F32 = np.float32  # positions are computed in float32, in TensorFlow's order, so samples agree at their edges


# Strided passes (below) pay a planning step; under this many elements (a face's region in an
# effect, a second look's window) gathering is faster.
STRIDED_FROM = 65536


def _kept(taps_of):
    """Taps computed once per size pair (the effects ask for the same few sizes every frame),
    returned read-only."""

    @lru_cache(maxsize=512)
    def cached(n_in: int, n_out: int) -> Taps:
        taps = taps_of(n_in, n_out)
        for a in taps:
            a.flags.writeable = False
        return taps

    cached.__doc__ = taps_of.__doc__
    return cached


@_kept
def area_taps(n_in: int, n_out: int) -> Taps:
    """``resize_area``: each output sample averages the input samples its span covers,
    weighted by how much of each it covers."""
    scale = F32(n_in) / F32(n_out)
    lo = np.arange(n_out, dtype=F32) * scale
    hi = np.arange(1, n_out + 1, dtype=F32) * scale
    start = np.floor(lo).astype(np.int64)
    k = int((np.ceil(hi).astype(np.int64) - start).max())
    i = start[:, None] + np.arange(k)
    edge = i.astype(F32)
    w = np.clip(np.minimum(edge + 1, hi[:, None]) - np.maximum(edge, lo[:, None]), 0, None) / scale
    return np.minimum(i, n_in - 1), w.astype(F32)


@_kept
def bilinear_taps(n_in: int, n_out: int) -> Taps:
    """``resize_bilinear`` with half-pixel centres."""
    x = (np.arange(n_out, dtype=F32) + F32(0.5)) * (F32(n_in) / F32(n_out)) - F32(0.5)
    f = np.floor(x)
    lerp = x - f
    lower = np.maximum(f.astype(np.int64), 0)
    upper = np.minimum(np.ceil(x).astype(np.int64), n_in - 1)
    return np.stack([lower, upper], 1), np.stack([1 - lerp, lerp], 1).astype(F32)


@_kept
def nearest_taps(n_in: int, n_out: int) -> Taps:
    """``resize_nearest_neighbor`` with half-pixel centres."""
    x = (np.arange(n_out, dtype=F32) + F32(0.5)) * (F32(n_in) / F32(n_out))
    i = np.minimum(np.floor(x).astype(np.int64), n_in - 1)
    return i[:, None], np.ones((n_out, 1), F32)


def crop_taps(start: float, end: float, n_in: int, n_out: int) -> Taps:
    """``crop_and_resize`` (bilinear, extrapolation value 0) along one axis: ``start`` and
    ``end`` in its normalized coordinates (0 and 1 the centres of the first and last input
    samples); outputs outside the input get weight 0."""
    return _crops_taps([start], [end], n_in, [n_out])


def _crops_taps(starts, ends, n_in: int, n_outs) -> Taps:
    """:func:`crop_taps` of several crops of one axis (crop ``k`` from ``starts[k]`` to
    ``ends[k]`` onto ``n_outs[k]`` samples), their rows one after the other: each computed
    with the float32 operations of a crop alone."""
    n_outs = np.asarray(n_outs, np.int64)
    start, end, last = np.asarray(starts, F32), np.asarray(ends, F32), F32(n_in - 1)
    owner = np.repeat(np.arange(len(n_outs)), n_outs)
    first = np.concatenate([[0], np.cumsum(n_outs)[:-1]]).astype(np.int64)
    local = (np.arange(int(n_outs.sum())) - first[owner]).astype(F32)
    step = (end - start) * last / np.maximum(n_outs - 1, 1).astype(F32)
    x = np.where(n_outs[owner] > 1, (start * last)[owner] + local * step[owner], (F32(0.5) * (start + end) * last)[owner])
    inside = (x >= 0) & (x <= last)
    top = np.floor(x)
    lerp = np.where(inside, x - top, 0)
    top = np.where(inside, top, 0).astype(np.int64)
    bottom = np.where(inside, np.ceil(x), 0).astype(np.int64)
    w = np.stack([1 - lerp, lerp], 1) * inside[:, None]
    return np.stack([top, bottom], 1), w.astype(F32)


def _gathered(a: np.ndarray, taps: Taps, axis: int, out: np.ndarray | None = None) -> np.ndarray:
    """``a`` resampled along ``axis`` by gathering, for each tap, the input rows (or columns)
    it reads: the taps' terms added in order, as float32 (into ``out`` when given)."""
    idx, w = taps
    shape = (1,) * axis + (-1,) + (1,) * (a.ndim - 1 - axis)
    out = np.multiply(np.take(a, idx[:, 0], axis=axis), w[:, 0].reshape(shape), dtype=F32, out=out)
    if idx.shape[1] > 1:
        term = np.empty_like(out)
        for k in range(1, idx.shape[1]):
            np.multiply(np.take(a, idx[:, k], axis=axis), w[:, k].reshape(shape), out=term)
            out += term
    return out


def _strided_plan(taps: Taps, n_in: int) -> tuple[int, int, list[tuple[int, int, int, int]]] | None:
    """The taps as strided slices, where the scale is a ratio of small numbers (P outputs for
    every Q inputs: 2x, 1.5x, 0.5x, ...): ``(P, Q, entries)``, an entry ``(r, k, start,
    count)`` saying that tap ``k`` of outputs ``r, r + P, ...`` (the first ``count`` of
    them; later ones weigh 0, past the input's end) reads inputs ``start, start + Q, ...``.
    None where the taps are not periodic."""
    from fractions import Fraction

    idx, w = taps
    ratio = Fraction(n_in, len(idx))
    p, q = ratio.denominator, ratio.numerator
    if p > 8:
        return None
    entries = []
    for r in range(min(p, len(idx))):
        for k in range(idx.shape[1]):
            got, used = idx[r::p, k], w[r::p, k] != 0
            want = idx[r, k] + q * np.arange(len(got))
            count = int(np.searchsorted(want, n_in))  # those inside the input
            if not np.array_equal(got[used], want[used]) or used[count:].any():
                return None
            entries.append((r, k, int(idx[r, k]), count))
    return p, q, entries


def _along(a: np.ndarray, taps: Taps, axis: int, out: np.ndarray | None = None) -> np.ndarray:
    """``a`` resampled along ``axis`` (0 or 1), as float32 (into ``out`` when given): by
    strided views where the taps are periodic (no gathered copies; along a row only when
    reducing), else by gathering rows or columns. Both add the same terms in the same order,
    so they give the same numbers."""
    plan = _strided_plan(taps, a.shape[axis]) if a.size >= STRIDED_FROM else None
    if plan is not None and axis == 1 and plan[0] > plan[1]:
        plan = None  # enlarging along a row: gathering whole columns is faster than strided pixels
    if plan is None:
        return _gathered(a, taps, axis, out)
    p, q, entries = plan
    idx, w = taps
    shape = list(a.shape)
    shape[axis] = len(idx)
    if out is None:
        out = np.zeros(shape, F32)
    else:
        out[...] = 0
    lead = (slice(None),) * axis
    wshape = (-1,) + (1,) * (a.ndim - 1 - axis)
    for r, k, start, count in entries:
        if count:
            dst = out[lead + (slice(r, r + p * (count - 1) + 1, p),)]
            src = a[lead + (slice(start, start + q * (count - 1) + 1, q),)]
            dst += np.multiply(src, w[r::p, k][:count].reshape(wshape), dtype=F32)
    return out


def resample(image: np.ndarray, rows: Taps, cols: Taps, out: np.ndarray | None = None) -> np.ndarray:
    """``image`` (H, W, ...) resampled to (len(rows), len(cols), ...), as float32 (into
    ``out`` when given): the rows first (TensorFlow's order), or the columns first when the
    image is enlarged, so that the slower pass runs on the smaller image (sums then differ
    from TensorFlow's by float rounding, under 1e-4 of a grey level)."""
    if len(rows[0]) > image.shape[0]:
        return _along(_along(image, cols, 1), rows, 0, out)
    return _along(_along(image, rows, 0), cols, 1, out)


def resize(image: np.ndarray, height: int, width: int, method: str = "area") -> np.ndarray:
    """``tf.image.resize(image, (height, width), method)`` for "area", "bilinear" and "nearest"."""
    taps = {"area": area_taps, "bilinear": bilinear_taps, "nearest": nearest_taps}[method]
    return resample(image, taps(image.shape[0], height), taps(image.shape[1], width))


def resize_windows(image: np.ndarray, windows: list[tuple[int, int, int, int]], height: int, width: int
                   ) -> list[np.ndarray]:  # fmt: skip
    """:func:`resize` ("area") of each pixel window ``(y0, x0, y1, x1)`` of ``image`` to
    ``height`` x ``width``, the same numbers, faster where windows share their rows (the
    person detector's: the whole frame and squares across it, 45 ms a 1080p frame in three
    resizes, 14 ms so). Their row pass (the first, as :func:`resample` does when the rows
    are reduced) is made once for all of them; it is then laid column-major, so that each
    window's column pass runs along the first axis, where the strided sums are contiguous
    (along a row of pixels they were the slower two thirds of the time). Each output value
    is the same sum of the same terms in the same order."""
    out: list[np.ndarray | None] = [None] * len(windows)
    rows_of: dict[tuple[int, int], list[int]] = {}
    for k, (y0, _, y1, _) in enumerate(windows):
        rows_of.setdefault((y0, y1), []).append(k)
    for (y0, y1), members in rows_of.items():
        if height > y1 - y0:  # enlarged: resample passes the columns first
            for k in members:
                _, x0, _, x1 = windows[k]
                out[k] = resize(image[y0:y1, x0:x1], height, width)
            continue
        lo, hi = min(windows[k][1] for k in members), max(windows[k][3] for k in members)
        band = _along(image[y0:y1, lo:hi], area_taps(y1 - y0, height), 0)
        across = np.ascontiguousarray(np.swapaxes(band, 0, 1))
        for k in members:
            _, x0, _, x1 = windows[k]
            out[k] = np.swapaxes(_along(across[x0 - lo : x1 - lo], area_taps(x1 - x0, width), 0), 0, 1)
    return out  # type: ignore[return-value]


def crop_and_resize(image: np.ndarray, box, height: int, width: int) -> np.ndarray:
    """``tf.image.crop_and_resize(image[None], [box], [0], (height, width))[0]`` (bilinear,
    extrapolation value 0); ``box`` is (y0, x0, y1, x1) in normalized coordinates."""
    y0, x0, y1, x1 = (float(v) for v in box)
    return _crop(image, crop_taps(y0, y1, image.shape[0], height), crop_taps(x0, x1, image.shape[1], width))


def crops_and_resize(image: np.ndarray, boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """:func:`crop_and_resize` of each box of ``boxes`` (N x 4), stacked: (N, height, width,
    ...) float32, the same numbers. The taps of all the crops are computed together and each
    crop is written in place (a second look cuts dozens of crops a frame, each small: there
    the per-call work, and a stacked copy, cost as much as the resampling itself)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(boxes)
    out = np.empty((n, height, width, *image.shape[2:]), F32)
    if not n:
        return out
    all_rows = _crops_taps(boxes[:, 0], boxes[:, 2], image.shape[0], [height] * n)
    all_cols = _crops_taps(boxes[:, 1], boxes[:, 3], image.shape[1], [width] * n)
    for k in range(n):
        rows = tuple(a[k * height : (k + 1) * height] for a in all_rows)
        cols = tuple(a[k * width : (k + 1) * width] for a in all_cols)
        _crop(image, rows, cols, out[k])
    return out


def _crop(image: np.ndarray, rows: Taps, cols: Taps, out: np.ndarray | None = None) -> np.ndarray:
    """``image`` resampled by a crop's taps (see :func:`crop_taps`), into ``out`` when given;
    of a large image, only the part the taps read (a face's crop of a large frame)."""
    if image.size >= STRIDED_FROM:
        (rows, r0, r1), (cols, c0, c1) = (_window(t) for t in (rows, cols))
        image = image[r0:r1, c0:c1]
    return resample(image, rows, cols, out)


def _window(taps: Taps) -> tuple[Taps, int, int]:
    """The taps re-indexed to the span of input samples they weigh, and that span."""
    idx, w = taps
    used = idx[w != 0]
    lo, hi = (int(used.min()), int(used.max()) + 1) if len(used) else (0, 1)
    return (np.clip(idx - lo, 0, hi - lo - 1), w), lo, hi


# Dense matrices. The effects work on many small regions a frame (a face's, tens of pixels
# across): there one matrix product per axis costs less than the gathers above, whose
# per-call overhead dominates at that size. Sums then differ from the gathers' by float
# rounding only.


def matrix(taps: Taps, n_in: int) -> np.ndarray:
    """``taps`` as a dense (len(taps), ``n_in``) float32 matrix: ``matrix(taps, n) @ a``
    resamples the first axis of ``a`` as :func:`resample` does."""
    idx, w = taps
    m = np.zeros((len(idx), n_in), np.float64)
    np.add.at(m, (np.arange(len(idx))[:, None], idx), w)
    return m.astype(F32)


def crop_matrices(starts, ends, n_in: int, n_outs) -> list[np.ndarray]:
    """:func:`crop_taps` of many crops of one axis of length ``n_in`` (crop ``k`` from
    ``starts[k]`` to ``ends[k]`` onto ``n_outs[k]`` samples), as dense float32 matrices of
    (``n_outs[k]``, ``n_in``), all computed in one pass."""
    if not len(n_outs):
        return []
    (top, bottom), (w_top, w_bottom) = (a.T for a in _crops_taps(starts, ends, n_in, n_outs))
    rows = np.arange(len(top))
    m = np.zeros((len(top), n_in), F32)
    m[rows, top] = w_top
    m[rows, bottom] += w_bottom
    return np.split(m, np.cumsum(n_outs)[:-1])
