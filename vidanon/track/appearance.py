"""A lost face's look: whether the image still shows it where the track says it is, and
where it went (following a face the detector no longer scores)."""

from __future__ import annotations

import numpy as np

# (likeness, score, box) of a face compared with the image (see Appearance.compare_many)
Comparison = tuple[float, float, "np.ndarray | None"]


class Appearance:
    """A face's look, for finding it again where the detector misses it: the grey levels
    of its box sampled on a ``SIZE`` x ``SIZE`` grid, normalized (zero mean, unit norm), so
    that the match is their normalized cross-correlation (1: the same picture, whatever
    the brightness and contrast). A flat patch (standard deviation under ``MIN_STD`` grey
    levels) is no appearance at all: it would match any plain surface."""

    SIZE = 16
    MIN_STD = 8.0
    MATCH = 0.8  # correlation for "still the same face": background and other faces stay far below
    # The places searched around the prediction, each way: whole cells of the face's grid,
    # so that every shifted box is a window of one grid sampled around the box
    # (compare_many): 0, 2 and 5 cells, 0, 0.125 and 0.3125 of the box.
    SHIFT_CELLS = (-5, -2, 0, 2, 5)
    SHIFTS = tuple(np.array(SHIFT_CELLS) / SIZE)  # in box sizes
    SCALES = (0.9, 1.0, 1.1)
    # compare_many turns the whole frame grey before sampling it when it takes at least a
    # sample per PIXELS_A_SAMPLE of its pixels (a crowd's lost faces); else it samples the
    # colour frame and turns the samples grey, the same numbers (on 2 cores: 3.9 ms for a
    # 1080p frame's grey, 9.5 us more for 1,024 samples in colour).
    PIXELS_A_SAMPLE = 5

    # What is left of a face partly hidden (a post, another head, the frame's edge) is one
    # of its halves: top, bottom, left, right, on the SIZE x SIZE grid.
    HALVES = ((slice(0, SIZE // 2), slice(None)), (slice(SIZE // 2, None), slice(None)),
              (slice(None), slice(0, SIZE // 2)), (slice(None), slice(SIZE // 2, None)))  # fmt: skip

    def __init__(self, grey: np.ndarray) -> None:
        """``grey``: the face's SIZE x SIZE grid (see :meth:`of`)."""
        self.vector = self._normalized(grey.ravel())
        # the halves that have a pattern of their own (a plain cheek or forehead tells nothing),
        # by their index in HALVES
        self.halves = [(i, self._normalized(grey[part].ravel())) for i, part in enumerate(self.HALVES)
                       if grey[part].std() >= self.MIN_STD]  # fmt: skip

    @staticmethod
    def _normalized(v: np.ndarray) -> np.ndarray:
        v = v - v.mean()
        return v / max(float(np.linalg.norm(v)), 1e-6)

    @staticmethod
    def sample(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """The grey levels of each box (N x 4, inside the image) on the grid, 2 x 2 samples a
        cell: an N x SIZE x SIZE array, gathered in one indexing operation."""
        n = 2 * Appearance.SIZE
        return Appearance._cells(image, boxes, (np.arange(n) + 0.5) / n)

    @staticmethod
    def _cells(image: np.ndarray, boxes: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """The grey levels of each box (N x 4) at ``steps`` (2M, in box sizes from its top and
        left; beyond the image, its edge's), each cell the mean of its 2 x 2 samples:
        (N, M, M), gathered in one indexing operation."""
        h, w = image.shape[:2]
        ys = np.clip(((boxes[:, :1] + steps * (boxes[:, 2:3] - boxes[:, :1])) * h).astype(np.intp), 0, h - 1)
        xs = np.clip(((boxes[:, 1:2] + steps * (boxes[:, 3:4] - boxes[:, 1:2])) * w).astype(np.intp), 0, w - 1)
        if image.flags.c_contiguous:  # one flat index: faster than two or three
            flat = image.reshape(h * w, *image.shape[2:])
            patches = flat[ys[:, :, None] * w + xs[:, None, :]]
        else:
            patches = image[ys[:, :, None], xs[:, None, :]]
        grey = Appearance.grey(patches) if patches.ndim == 4 else patches.astype(np.float32)
        # each cell's mean of its 2 x 2 samples, added in the order .mean(axis=(2, 4)) adds
        # them (the same numbers, several times faster than the two-axis reduction)
        m = len(steps) // 2
        cells = grey.reshape(len(boxes), m, 2, m, 2)
        total = cells[:, :, 0, :, 0] + cells[:, :, 0, :, 1]
        total += cells[:, :, 1, :, 0] + cells[:, :, 1, :, 1]
        return total / np.float32(4)

    @staticmethod
    def grey(image: np.ndarray) -> np.ndarray:
        """The image's grey levels: the channels' mean, added in turn (what .mean(axis=-1)
        adds, faster). :meth:`sample` takes it of the pixels it gathers, so sampling the
        grey frame instead of the colour one gives the same numbers, three times fewer
        samples gathered (a frame compared with many faces)."""
        if image.ndim == 2:
            return image
        grey = image[..., 0].astype(np.float32)
        for c in range(1, image.shape[-1]):
            grey += image[..., c]
        grey /= np.float32(image.shape[-1])
        return grey

    @staticmethod
    def _inside(boxes: np.ndarray) -> np.ndarray:
        return (boxes[:, 0] >= 0) & (boxes[:, 1] >= 0) & (boxes[:, 2] <= 1) & (boxes[:, 3] <= 1) & (
            boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])  # fmt: skip

    @classmethod
    def of(cls, image: np.ndarray, box: np.ndarray) -> Appearance | None:
        return cls.of_many(image, box)[0]

    @classmethod
    def of_many(cls, image: np.ndarray, boxes: np.ndarray) -> list[Appearance | None]:
        """:meth:`of` each box (N x 4) of one image, sampled in one gather (a crowd loses
        dozens of faces a frame, most last seen in the same frame)."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        out: list[Appearance | None] = [None] * len(boxes)
        inside = np.flatnonzero(cls._inside(boxes))
        if len(inside):
            for k, grey in zip(inside, cls.sample(image, boxes[inside])):
                if grey.std() >= cls.MIN_STD:
                    out[k] = cls(grey)
        return out

    def compare(self, image: np.ndarray, around: np.ndarray) -> tuple[float, float, np.ndarray | None]:
        """The face against the image near ``around`` (see :meth:`compare_many`)."""
        return self.compare_many(image, [self], np.asarray(around, np.float64).reshape(1, 4))[0]

    @classmethod
    def compare_many(cls, image: np.ndarray, looks: list[Appearance], around: np.ndarray,
                     halves: bool = True) -> list[Comparison]:  # fmt: skip
        """Each face ``looks[k]`` against the image (colour or grey) near ``around[k]``:

        * ``likeness``: the best correlation, over the shifts at the predicted size, of the
          whole face or of one of its halves (a face half behind a post or another head still
          shows one): how much the face may still be there (see :data:`vidanon.track.sort.GONE`);
        * ``score`` and ``box``: the best whole-face correlation and its box, over the shifts
          at the predicted size, then the other sizes at the best shift (see MATCH).

        -1 (and None) when nothing there can be compared (outside the image, flat patches).
        The shifts are whole cells of the sampling grid, so every shifted box of a face is a
        window of one grid sampled around it (:meth:`_windows`): a crowd's hundred lost faces
        a frame are 2,704 samples each instead of 25 boxes of 1,024. Each face's numbers are
        those of comparing it alone. ``halves=False``: the likeness of the whole face only
        (for ``score`` and ``box`` alone: a single face compared in two thirds of the time)."""
        around = np.asarray(around, np.float64).reshape(-1, 4)
        out: list[Comparison] = [(-1.0, -1.0, None)] * len(looks)
        shifted = cls._shifted(around)
        valid = cls._inside(shifted.reshape(-1, 4)).reshape(shifted.shape[:2])  # (N, shifts)
        at = np.flatnonzero(valid.any(axis=1))
        if not len(at):
            return out
        if image.ndim == 3 and len(at) * cls._grid_side() ** 2 * cls.PIXELS_A_SAMPLE >= image.shape[0] * image.shape[1]:
            image = cls.grey(image)  # once for many faces; for a few, their samples turned grey
        windows = cls._windows(image, around[at])  # (n, shifts, SIZE, SIZE)
        n, shifts = windows.shape[:2]
        vectors = np.stack([looks[k].vector for k in at])
        whole = cls._correlations(windows.reshape(n, shifts, -1), vectors)
        whole = np.where(valid[at], whole, -np.inf)
        likeness = whole.max(axis=1)
        by_part: list[list] = [[] for _ in cls.HALVES]  # the halves each face has a pattern in
        for j, k in enumerate(at) if halves else ():
            for i, ref in looks[k].halves:
                by_part[i].append((j, ref))
        for part, having in zip(cls.HALVES, by_part):
            if having:
                rows = [j for j, _ in having]
                halves = windows[rows][(slice(None), slice(None), *part)].reshape(len(rows), shifts, -1)
                halves = cls._correlations(halves, np.stack([ref for _, ref in having]))
                likeness[rows] = np.maximum(likeness[rows], np.where(valid[at[rows]], halves, -np.inf).max(axis=1))
        best = np.argmax(whole, axis=1)
        boxes = shifted[at, best]
        score = whole[np.arange(n), best]
        # the other sizes at each face's best shift
        scales = np.array([s for s in cls.SCALES if s != 1.0])
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        sides = around[at, 2:] - around[at, :2]  # (n, 2): the boxes' heights and widths
        half = sides[:, None, :] * scales[None, :, None] / 2  # (n, sizes, 2)
        sized = np.concatenate([centres[:, None] - half, centres[:, None] + half], axis=2)  # (n, sizes, 4)
        inside = cls._inside(sized.reshape(-1, 4)).reshape(n, len(scales))
        if inside.any():
            grey = cls.sample(image, sized[inside]).reshape(int(inside.sum()), -1)
            other = np.full(inside.shape, -np.inf)
            owners = np.nonzero(inside)[0]
            other[inside] = cls._correlations(grey[:, None], vectors[owners])[:, 0]
            better = other.max(axis=1) > score
            pick = np.argmax(other, axis=1)
            score = np.where(better, other.max(axis=1), score)
            boxes = np.where(better[:, None], sized[np.arange(n), pick], boxes)
        for j, k in enumerate(at):
            out[k] = (float(likeness[j]), float(score[j]), boxes[j])
        return out

    @classmethod
    def _shift_grid(cls) -> tuple[np.ndarray, np.ndarray]:
        """The shifts (dy, dx), in box sizes, in the order of :meth:`_windows`' windows."""
        dy, dx = np.meshgrid(cls.SHIFTS, cls.SHIFTS, indexing="ij")
        return dy.ravel(), dx.ravel()

    @classmethod
    def _shifted(cls, around: np.ndarray) -> np.ndarray:
        """The boxes searched around each box of ``around`` (N, 4): (N, shifts, 4)."""
        dy, dx = cls._shift_grid()
        bh, bw = around[:, 2:3] - around[:, 0:1], around[:, 3:4] - around[:, 1:2]
        return around[:, None, :] + np.stack([dy * bh, dx * bw, dy * bh, dx * bw], axis=2)

    @classmethod
    def _windows(cls, image: np.ndarray, around: np.ndarray) -> np.ndarray:
        """The grey levels of every shifted box of each box of ``around`` (N, 4) on the grid,
        as :meth:`sample` gives them for the box itself: one grid sampled around each box,
        SIZE cells and the largest shift each way a side, 2 x 2 samples a cell, and its
        windows of SIZE cells at the shifts: (N, shifts, SIZE, SIZE), in :meth:`_shift_grid`'s
        order. Samples beyond the image are its edge's (only the windows of boxes outside
        read them)."""
        n = 2 * cls.SIZE
        reach = (cls._grid_side() - n) // 2  # samples beyond the box on each side
        cells = cls._cells(image, around, (np.arange(-reach, n + reach) + 0.5) / n)
        grid = np.lib.stride_tricks.sliding_window_view(cells, (cls.SIZE, cls.SIZE), axis=(1, 2))
        at = np.array(cls.SHIFT_CELLS) + max(cls.SHIFT_CELLS)
        return grid[:, at[:, None], at[None, :]].reshape(len(around), -1, cls.SIZE, cls.SIZE)

    @classmethod
    def _grid_side(cls) -> int:
        """Samples a side of the grid :meth:`_windows` samples around a box (52)."""
        return 2 * (cls.SIZE + 2 * max(cls.SHIFT_CELLS))

    @staticmethod
    def _correlations(rows: np.ndarray, refs: np.ndarray) -> np.ndarray:
        """Normalized cross-correlation of each face's rows of grey levels (N, K, D) with its
        unit vector (N, D): (N, K), -1 for a flat row (standard deviation under MIN_STD:
        no appearance)."""
        centred = rows - rows.mean(axis=2, keepdims=True)
        norm = np.linalg.norm(centred, axis=2)
        dots = np.einsum("nkd,nd->nk", centred, refs)
        return np.where(norm < Appearance.MIN_STD * np.sqrt(rows.shape[2]), -1.0, dots / np.maximum(norm, 1e-6))
