"""Dark footage (a room at night, an underexposed phone clip): the face detector looks at a dark
frame as it is and brightened, their boxes joined.

The face network finds fewer faces in a dark picture: the sample photo's faces shrunk to 22 px
and made 4 stops darker score 0.15 at most, 0.72-0.77 in their own light. Brightened
(:func:`lifted`), they score as in their own light. But brightening pushes what is already
bright towards white: a face in a spotlight or under a street lamp in a dark frame, found as it
is, may be lost brightened; so the frame as it is is looked at too, and its clear boxes join
the brightened look's. (Its weak boxes too covered more heads on the labelled real clips made
dark, 1591 of 2444 against 1552, for 2.33 false regions a frame against 1.98, the marathon's
crowd most: not kept.) Measured (docs/accuracy-and-speed.md, "Dark footage"): the composited
clips 3 stops darker, 93.6% of face-frames hidden before, 98.5% now. The network runs twice on
a batch holding a dark frame, so dark footage takes about 1.75 times as long; the output's
frames and the person and plate detectors see the frames as they are.
"""

from __future__ import annotations

import functools

import numpy as np

from ..detections import Detections, nms
from .context import luma
from .view import ManyViews, as_batch

# A frame is dark when its LIFT_SHARE quantile of luma (about LIFT_SAMPLES pixels, every
# LIFT_STEP-th row and column at least) is under LIFT_BELOW; it is multiplied until that quantile
# is LIFT_TO, at most LIFT_MAX times, what would pass white rolled off from LIFT_KNEE of it. The
# quantile, not the brightest pixels: a lamp in a night street leaves the rest of the frame
# dark. Of the evaluation's 18 clips only the car park's dimmest frames are dark (73 of 377).
LIFT_SHARE = 0.9
LIFT_BELOW = 110.0
LIFT_TO = 140.0
LIFT_MAX = 4.0
LIFT_KNEE = 0.75
LIFT_STEP = 8
LIFT_SAMPLES = 1 << 15


def lifted(frames: np.ndarray) -> np.ndarray:
    """``(N, H, W, 3)`` 8-bit frames with each dark one brightened (:func:`lift_gain`); the
    batch itself where none is dark."""
    frames = as_batch(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        return frames
    gains = [lift_gain(frame) for frame in frames]
    if max(gains, default=1.0) <= 1.0:
        return frames
    out = np.empty_like(frames)
    for frame, gain, into in zip(frames, gains, out):
        if gain > 1.0:
            np.take(_lift_table(gain), frame, out=into)
        else:
            into[...] = frame
    return out


def lift_gain(frame: np.ndarray) -> float:
    """How many times a frame ``(H, W, 3)`` RGB is brightened for the detectors: 1.0 for one
    that is not dark, else LIFT_TO over its LIFT_SHARE quantile of luma, at most LIFT_MAX (in
    steps of 1/16: the tables are reused)."""
    step = max(LIFT_STEP, int((frame.shape[0] * frame.shape[1] / LIFT_SAMPLES) ** 0.5))
    sampled = luma(frame[::step, ::step])
    level = float(np.quantile(sampled, LIFT_SHARE)) if sampled.size else LIFT_BELOW
    if level >= LIFT_BELOW:
        return 1.0
    return min(LIFT_MAX, round(LIFT_TO / max(level, 1.0) * 16) / 16)


@functools.lru_cache(maxsize=64)
def _lift_table(gain: float) -> np.ndarray:
    """The 256-entry table of a brightening by ``gain``: linear up to LIFT_KNEE of white, then
    rolled off towards white (the same slope at the knee; what was brighter stays at least as
    bright as what was darker). Read-only: the tables are shared."""
    t = np.arange(256, dtype=np.float64) / 255.0 * gain
    k = LIFT_KNEE
    y = np.where(t <= k, t, k + (1 - k) * (1 - np.exp(-(t - k) / (1 - k))))
    table = np.round(255.0 * y).astype(np.uint8)
    table.setflags(write=False)
    return table


class DarkAndLifted(ManyViews):
    """A face detector that looks at a batch holding a dark frame twice, as it is and
    brightened (:func:`lifted`): every box of the brightened look, and the clear boxes (at the
    threshold) of the look as it is; the better of two on one face (non-maximum suppression).
    A batch with no dark frame is looked at once, as it is."""

    def views(self, frames: np.ndarray) -> list[np.ndarray]:
        lit = lifted(frames)
        return [frames] if lit is frames else [frames, lit]

    def merge(self, found: list[Detections], size: tuple[int, int]) -> Detections:
        if len(found) == 1:
            return found[0]
        plain, lit = found
        if len(plain) == len(lit) and (plain.boxes == lit.boxes).all() and (plain.scores == lit.scores).all():
            # a frame not dark in a batch holding one: not brightened, looked at twice alike; its boxes
            # as they are, in their order (merged, they came sorted: tracks numbered otherwise by batch)
            return plain
        both = Detections.merge([plain[np.flatnonzero(plain.scores >= self.inner.threshold)], lit])
        return both[nms(both.boxes, both.scores, self.inner.nms_iou)]
