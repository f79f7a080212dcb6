"""What besides the face network says that a head can be at a box: skin in its middle, or
a person around it. Used for the weak boxes too large for the second look (see
:meth:`vidanon.detect.centerface.FaceDetector.second_look`)."""

from __future__ import annotations

import numpy as np

# A pixel is skin-coloured when its chroma lies in the usual skin cluster of YCrCb (BT.601,
# full range), and not nearly black.
SKIN_CR = (133.0, 173.0)
SKIN_CB = (77.0, 127.0)
SKIN_MIN_LUMA = 40.0

MIDDLE = 0.2  # the box's middle: this share of its height and width cut from each side

# A head belongs to a person whose box, grown this much sideways and upwards (the detector's
# person box often stops at the hair), holds the head's centre.
PERSON_GROW_SIDES = 0.10
PERSON_GROW_UP = 0.15


LUMA = (0.299, 0.587, 0.114)  # BT.601


def luma(pixels: np.ndarray) -> np.ndarray:
    """Y (BT.601, full range) of RGB ``pixels`` (..., 3), as float32."""
    return pixels.astype(np.float32) @ np.array(LUMA, np.float32)


def luma_chroma(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, Cr and Cb (BT.601, full range) of RGB ``pixels`` (..., 3), as float32."""
    pixels = pixels.astype(np.float32)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b, 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b,
            128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b)  # fmt: skip


def skin_share(frame: np.ndarray, box: np.ndarray) -> float:
    """The share of skin-coloured pixels in the middle of ``box`` (normalized
    ``[ymin, xmin, ymax, xmax]``) of ``frame`` (H, W, 3) RGB; 0 for an empty middle."""
    height, width = frame.shape[:2]
    y0, x0, y1, x1 = (float(v) for v in box)
    dy, dx = (y1 - y0) * MIDDLE, (x1 - x0) * MIDDLE
    ya, yb = max(int((y0 + dy) * height), 0), min(int((y1 - dy) * height), height)
    xa, xb = max(int((x0 + dx) * width), 0), min(int((x1 - dx) * width), width)
    patch = frame[ya:yb, xa:xb]
    if not patch.size:
        return 0.0
    luma, cr, cb = luma_chroma(patch)
    skin = (cr >= SKIN_CR[0]) & (cr <= SKIN_CR[1]) & (cb >= SKIN_CB[0]) & (cb <= SKIN_CB[1]) & (luma > SKIN_MIN_LUMA)
    return float(skin.mean())


def on_person(box: np.ndarray, people: np.ndarray) -> bool:
    """Whether the centre of ``box`` lies in one of ``people`` (N x 4 person boxes, all
    normalized), each grown by PERSON_GROW_SIDES sideways and PERSON_GROW_UP upwards."""
    people = np.asarray(people, np.float64).reshape(-1, 4)
    if not len(people):
        return False
    h, w = people[:, 2] - people[:, 0], people[:, 3] - people[:, 1]
    cy, cx = (float(box[0]) + float(box[2])) / 2, (float(box[1]) + float(box[3])) / 2
    inside = ((people[:, 0] - PERSON_GROW_UP * h <= cy) & (cy <= people[:, 2])
              & (people[:, 1] - PERSON_GROW_SIDES * w <= cx) & (cx <= people[:, 3] + PERSON_GROW_SIDES * w))  # fmt: skip
    return bool(inside.any())
