"""What the detectors see of a decoded frame: square pixels, PQ HDR at SDR brightness; and
one field of an interlaced frame (:func:`one_field`, for :mod:`.fields`). Boxes are
normalized, so they fit the frames as stored too."""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from ..media.probe import VideoInfo

if TYPE_CHECKING:
    from ..detections import Detections


@functools.lru_cache(maxsize=1)
def _pq_to_sdr() -> np.ndarray:
    """A 256-entry table from PQ-coded (SMPTE 2084) 8-bit samples to SDR-looking ones:
    PQ to light (nits), 100 nits as reference white, extended Reinhard to 1000 nits,
    BT.709-like gamma 1/2.2. Per channel (the gamut stays BT.2020: the detector does not mind)."""
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    e = np.arange(256, dtype=np.float64) / 255.0
    p = e ** (1 / m2)
    nits = 10000.0 * (np.maximum(p - c1, 0.0) / (c2 - c3 * p)) ** (1 / m1)
    x = nits / 100.0
    white = 10.0
    y = np.clip(x * (1 + x / white**2) / (1 + x), 0.0, 1.0)
    return np.round(255.0 * y ** (1 / 2.2)).astype(np.uint8)


def detector_view(frames: np.ndarray, info: VideoInfo) -> np.ndarray:
    """What the detector should see of ``(N, H, W, 3)`` frames: square pixels (see
    :func:`square_pixels`) and, for PQ HDR video, SDR-looking brightness (the frames
    themselves, which the effects work on, keep their PQ coding). An interlaced frame's
    fields are made by the face detector's wrapper (:mod:`.fields`), which looks at them and at the frame: its
    lines are kept as they are."""
    frames = square_pixels(frames, info.sar, field_axis(info))
    if info.color_trc == "smpte2084":
        frames = _pq_to_sdr()[frames]
    return frames


def field_axis(info: VideoInfo) -> int | None:
    """The axis of an interlaced video's field lines in its upright frames (1, rows; 2,
    columns for a video turned upright from its side); None for a progressive video."""
    if info.field_order is None:
        return None
    return 2 if info.rotation in (90, 270) else 1


def one_field(frames: np.ndarray, axis: int = 1, field: int = 0) -> np.ndarray:
    """``(N, H, W, C)`` 8-bit interlaced frames as one field alone, at the frames' own size:
    the lines of ``field`` (0: those of the first line, 1: the others) as they are, each line
    of the other field the mean of the lines above and below it (the edge's line a copy of its
    one neighbour), along ``axis`` (1, rows; 2, columns, for a video turned upright from its side)."""
    frames = np.asarray(frames)
    lines = frames.shape[axis]
    if lines < 3:
        return frames
    if axis != 1:  # columns: on a transposed copy, its lines in rows (walking columns is slower)
        turned = one_field(np.ascontiguousarray(np.swapaxes(frames, 1, axis)), 1, field)
        return np.ascontiguousarray(turned.swapaxes(1, axis))
    out = frames.copy()
    first = 1 - field  # the first line to make
    if first == 0:
        out[:, 0] = frames[:, 1]
        first = 2
    _floor_mean(frames[:, first - 1 : lines - 2 : 2], frames[:, first + 1 : lines : 2], out=out[:, first : lines - 1 : 2])
    if (lines - 1) % 2 != field:  # the last line, of the other field, has no line below
        out[:, -1] = frames[:, -2]
    return out


def _floor_mean(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``(a + b) // 2`` of 8-bit arrays into ``out``, without widening them: ``(a & b) +
    ((a ^ b) >> 1)`` (a few ms a 1080p frame, where the same in 16 bits takes 80)."""
    half = np.bitwise_xor(a, b)
    half >>= 1
    np.bitwise_and(a, b, out=out)
    out += half
    return out


def square_pixels(frames: np.ndarray, sar: Fraction | None, fields: int | None = None) -> np.ndarray:
    """``(N, H, W, 3)`` frames resampled (nearest neighbour) so that their pixels are
    square, as they are displayed; boxes normalized to the frame are the same in both.
    Wide pixels give more columns, tall ones more rows; but the lines of an interlaced
    frame's fields (``fields``: 1, rows; 2, columns) are never resampled, the other axis is:
    DV's 4:3 frames (720x480, tall pixels) keep their 480 rows and get 655 columns."""
    if not sar or sar == 1:
        return frames
    n, h, w = frames.shape[:3]
    if (sar > 1 and fields != 2) or fields == 1:  # more columns (or fewer: tall pixels, rows kept)
        cols = np.minimum((np.arange(round(w * sar)) + 0.5) / float(sar), w - 1).astype(np.intp)
        return frames[:, :, cols]
    rows = np.minimum((np.arange(round(h / sar)) + 0.5) * float(sar), h - 1).astype(np.intp)
    return frames[:, rows]


def as_batch(frames) -> np.ndarray:
    """``frames`` as a batch ``(B, H, W, 3)``: one frame ``(H, W, 3)`` becomes a batch of one."""
    frames = np.asarray(frames)
    return frames[None] if frames.ndim == 3 else frames


class ManyViews:
    """A face detector (``inner``) run on several views of each batch (:meth:`views`: the
    frames turned, each field of them), the same network, scan plan and second looks on each,
    and one frame's boxes of all the views merged into one set (:meth:`merge`). It runs the
    network once a view, so it takes about as many times as long."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __getattr__(self, name):  # the scan plan, device, threshold, ... are the inner detector's
        if name == "inner":  # not set yet (a copy being made): no endless lookup
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __call__(self, frames: np.ndarray, first_index: int = 0) -> list[Detections]:
        return self.prepare(frames, first_index)()()

    def prepare(self, frames: np.ndarray, first_index: int = 0,
                starts: Sequence[bool] | None = None) -> Callable[[], Callable[[], list[Detections]]]:  # fmt: skip
        """The inner detector's three steps (:meth:`~.centerface.FaceDetector.prepare`), for
        each view of the frames."""
        frames = as_batch(frames)
        runs = [self.inner.prepare(view, first_index, starts) for view in self.views(frames)]
        return functools.partial(self._networks, runs, frames.shape[1:3])

    def _networks(self, runs, size: tuple[int, int]) -> Callable[[], list[Detections]]:
        return functools.partial(self._decode, [run() for run in runs], size)

    def _decode(self, finishes, size: tuple[int, int]) -> list[Detections]:
        per_view = [finish() for finish in finishes]
        return [self.merge(list(found), size) for found in zip(*per_view)]

    def views(self, frames: np.ndarray) -> list[np.ndarray]:
        """The views of a batch the inner detector looks at, the frames as they are first."""
        raise NotImplementedError

    def merge(self, found: list[Detections], size: tuple[int, int]) -> Detections:
        """One frame's detections from those of each view (in :meth:`views`' order) of a
        frame of ``size`` (height, width)."""
        raise NotImplementedError
