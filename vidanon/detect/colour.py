"""Whether a video shows colour. The face network finds fewer faces in a grey picture (an
infrared camera at night, a black-and-white film): on the composited clips of the evaluation
made grey 89.6% of face-frames are hidden against 98.65% in colour, and ``--threshold 0.3``
hides 91.5% of them (docs/precision.md, round seventeen). A run on such a video says so."""

from __future__ import annotations

import numpy as np

from .context import luma_chroma

# A frame is colourless when under GREY_SHARE of its pixels (every GREY_STEP-th row and
# column) lie more than GREY_SPREAD levels of Cr or Cb from the frame's median chroma (a
# tinted monochrome picture is colourless too). No frame of the evaluation's 18 colour clips
# is, but 2 of a grey car park's 377; a clip made grey is in every frame.
GREY_SPREAD = 2.0
GREY_SHARE = 0.01
GREY_STEP = 4
DARK = 16.0  # a frame darker than this on average (a fade's black) tells nothing either way

GREY_WARNING = ("the video shows no colour: the face network finds fewer faces in grey (89.6% of the test faces "
                "hidden, 98.7% in colour)")
GREY_HINT = "; --threshold 0.3 hides more (91.5%), with a few more false masks"
SPLASH_GREY = "the video shows no colour: the splash (people in colour, the rest grey) changes nothing visible"


def colourless(frame: np.ndarray) -> bool:
    """Whether ``frame`` (H, W, 3) RGB shows (almost) no colour, by GREY_SPREAD and GREY_SHARE."""
    return _grey(luma_chroma(frame[::GREY_STEP, ::GREY_STEP])[1:])


def _grey(chroma) -> bool:
    cr, cb = chroma
    away = (np.abs(cr - np.median(cr)) > GREY_SPREAD) | (np.abs(cb - np.median(cb)) > GREY_SPREAD)
    return float(away.mean()) < GREY_SHARE


class ColourWatch:
    """Looks at the first frame of each batch the detectors get, until one shows colour;
    :meth:`warnings` says the video is grey when every such frame light enough to tell was
    colourless (one at least)."""

    def __init__(self, hint: bool, said: str = GREY_WARNING) -> None:
        self.hint = hint  # whether to point at --threshold 0.3 (not when the run's threshold is that low)
        self.said = said  # the warning (the splash's: it changes nothing in a grey video)
        self.grey = self.colour = 0

    def __call__(self, frames) -> None:
        frame = np.asarray(frames[0])
        if self.colour or frame.ndim != 3 or frame.shape[2] < 3:
            return
        luma, *chroma = luma_chroma(frame[::GREY_STEP, ::GREY_STEP])
        if float(luma.mean()) >= DARK:
            if _grey(chroma):
                self.grey += 1
            else:
                self.colour += 1

    def warnings(self) -> list[str]:
        return [self.said + (GREY_HINT if self.hint else "")] if self.grey and not self.colour else []
