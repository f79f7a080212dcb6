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
    SHIFTS = (-0.3, -0.15, 0.0, 0.15, 0.3)  # searched around the prediction, in box sizes
    SCALES = (0.9, 1.0, 1.1)
    # compare_many turns the whole frame grey before sampling it when it samples at least a
    # box per PIXELS_A_BOX of its pixels (a crowd's lost faces); else it samples the colour
    # frame and turns the samples grey, the same numbers (on 2 cores: 3.9 ms for a 1080p
    # frame's grey, 9.5 us more a box sampled in colour).
    PIXELS_A_BOX = 5000

    # What is left of a face partly hidden (a post, another head, the frame's edge) is one
    # of its halves: top, bottom, left, right, on the SIZE x SIZE grid.
    HALVES = ((slice(0, SIZE // 2), slice(None)), (slice(SIZE // 2, None), slice(None)),
              (slice(None), slice(0, SIZE // 2)), (slice(None), slice(SIZE // 2, None)))  # fmt: skip

    def __init__(self, grey: np.ndarray) -> None:
        """``grey``: the face's SIZE x SIZE grid (see :meth:`of`)."""
        self.vector = self._normalized(grey.ravel())
        # the halves that have a pattern of their own (a plain cheek or forehead tells nothing)
        self.halves = [(part, self._normalized(grey[part].ravel())) for part in self.HALVES
                       if grey[part].std() >= self.MIN_STD]  # fmt: skip

    @staticmethod
    def _normalized(v: np.ndarray) -> np.ndarray:
        v = v - v.mean()
        return v / max(float(np.linalg.norm(v)), 1e-6)

    @staticmethod
    def sample(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """The grey levels of each box (N x 4, inside the image) on the grid, 2 x 2 samples a
        cell: an N x SIZE x SIZE array, gathered in one indexing operation."""
        h, w = image.shape[:2]
        n = 2 * Appearance.SIZE
        steps = (np.arange(n) + 0.5) / n
        ys = np.minimum(((boxes[:, :1] + steps * (boxes[:, 2:3] - boxes[:, :1])) * h).astype(np.intp), h - 1)
        xs = np.minimum(((boxes[:, 1:2] + steps * (boxes[:, 3:4] - boxes[:, 1:2])) * w).astype(np.intp), w - 1)
        if image.flags.c_contiguous:  # one flat index: faster than two or three
            flat = image.reshape(h * w, *image.shape[2:])
            patches = flat[ys[:, :, None] * w + xs[:, None, :]]
        else:
            patches = image[ys[:, :, None], xs[:, None, :]]
        grey = Appearance.grey(patches) if patches.ndim == 4 else patches.astype(np.float32)
        # each cell's mean of its 2 x 2 samples, added in the order .mean(axis=(2, 4)) adds
        # them (the same numbers, several times faster than the two-axis reduction)
        cells = grey.reshape(len(boxes), Appearance.SIZE, 2, Appearance.SIZE, 2)
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
    def compare_many(cls, image: np.ndarray, looks: list[Appearance], around: np.ndarray) -> list[Comparison]:
        """Each face ``looks[k]`` against the image (colour or grey) near ``around[k]``, every
        box sampled in one gather (a crowd compares a hundred lost faces a frame):

        * ``likeness``: the best correlation, over the shifts at the predicted size, of the
          whole face or of one of its halves (a face half behind a post or another head still
          shows one): how much the face may still be there (see :data:`vidanon.track.sort.GONE`);
        * ``score`` and ``box``: the best whole-face correlation and its box, over the shifts
          at the predicted size, then the other sizes at the best shift (see MATCH).

        -1 (and None) when nothing there can be compared (outside the image, flat patches).
        Each face's correlations are computed on its own rows, as when compared alone."""
        around = np.asarray(around, np.float64).reshape(-1, 4)
        shifted = cls._shifted(around)
        inside = cls._inside(shifted.reshape(-1, 4)).reshape(shifted.shape[:2])
        counts = inside.sum(axis=1)
        ends = np.cumsum(counts)
        boxes = shifted[inside]
        out: list[Comparison] = [(-1.0, -1.0, None)] * len(looks)
        if not len(boxes):
            return out
        if image.ndim == 3 and len(boxes) * cls.PIXELS_A_BOX >= image.shape[0] * image.shape[1]:
            image = cls.grey(image)  # once for many boxes; for a few, their samples turned grey
        grey = cls.sample(image, boxes)
        whole = cls._centred(grey.reshape(len(boxes), -1))
        halves = [cls._centred(grey[(slice(None), *part)].reshape(len(boxes), -1)) for part in cls.HALVES]
        at = []  # the faces with boxes inside the image
        for k, look in enumerate(looks):
            if not counts[k]:
                continue
            rows = slice(ends[k] - counts[k], ends[k])
            scores = cls._correlate(whole, rows, look.vector)
            likeness = float(scores.max())
            for part, ref in look.halves:
                likeness = max(likeness, float(cls._correlate(halves[cls.HALVES.index(part)], rows, ref).max()))
            best = int(np.argmax(scores))
            out[k] = (likeness, float(scores[best]), boxes[rows][best])
            at.append(k)
        # the other sizes at each face's best shift
        scales = np.array([s for s in cls.SCALES if s != 1.0])
        sized = []
        for k in at:
            box = out[k][2]
            bh, bw = around[k, 2] - around[k, 0], around[k, 3] - around[k, 1]
            y, x = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            s = np.stack([y - bh * scales / 2, x - bw * scales / 2, y + bh * scales / 2, x + bw * scales / 2], axis=1)
            sized.append(s[cls._inside(s)])
        counts = np.array([len(s) for s in sized], np.intp)
        if not counts.sum():
            return out
        ends = np.cumsum(counts)
        flat = np.concatenate(sized)
        other_grey = cls._centred(cls.sample(image, flat).reshape(len(flat), -1))
        for j, k in enumerate(at):
            if not counts[j]:
                continue
            rows = slice(ends[j] - counts[j], ends[j])
            other = cls._correlate(other_grey, rows, looks[k].vector)
            likeness, score, box = out[k]
            if other.max() > score:
                out[k] = (likeness, float(other.max()), flat[rows][int(np.argmax(other))])
        return out

    @classmethod
    def _centred(cls, grey: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows of grey levels made zero-mean, their norms, and which are flat (standard
        deviation under MIN_STD: no appearance)."""
        grey = grey - grey.mean(axis=1, keepdims=True)
        norm = np.linalg.norm(grey, axis=1)
        return grey, norm, norm < cls.MIN_STD * np.sqrt(grey.shape[1])

    @staticmethod
    def _correlate(centred: tuple[np.ndarray, np.ndarray, np.ndarray], rows: slice, ref: np.ndarray) -> np.ndarray:
        """Normalized cross-correlation of the ``rows`` of centred grey levels with the unit
        vector ``ref``; -1 for a flat row."""
        grey, norm, flat = centred
        return np.where(flat[rows], -1.0, grey[rows] @ ref / np.maximum(norm[rows], 1e-6))

    @classmethod
    def _shifted(cls, around: np.ndarray) -> np.ndarray:
        """The boxes searched around each box of ``around`` (N, 4): (N, shifts, 4)."""
        cy, cx = (around[:, 0:1] + around[:, 2:3]) / 2, (around[:, 1:2] + around[:, 3:4]) / 2
        bh, bw = around[:, 2:3] - around[:, 0:1], around[:, 3:4] - around[:, 1:2]
        dy, dx = (g.ravel() for g in np.meshgrid(cls.SHIFTS, cls.SHIFTS, indexing="ij"))
        y, x = cy + dy * bh, cx + dx * bw
        return np.stack([y - bh / 2, x - bw / 2, y + bh / 2, x + bw / 2], axis=2)
