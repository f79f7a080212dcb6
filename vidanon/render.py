"""Stage 3: a frame and the boxes to hide in it in, the anonymized frame out.

:class:`Render` joins the optional people segmenter (a soft mask per person box) and
one effect renderer (:mod:`vidanon.effects`); it is a pure function of the frame and its
:class:`~vidanon.detections.Detections`, so rendering frame ``t`` of a moviepy clip alone
gives the same pixels as rendering it in sequence.
"""

from __future__ import annotations

import numpy as np

from .detections import PLATE, Detections


class Render:
    def __init__(self, effect: str, mask_scale: float, people: bool, segmenter=None) -> None:
        from .effects import Renderer, SplashRenderer

        self.segmenter = segmenter if people else None
        if effect == "splash":
            self.renderer = SplashRenderer()
        else:  # people's masks follow their outline already: no extra margin
            self.renderer = Renderer(effect, 1.0 if people else mask_scale)
        self.always = effect == "splash"  # a frame without people is all grey

    def __call__(self, frame: np.ndarray, dets: Detections) -> np.ndarray:
        if self.segmenter is not None:
            dets = self._segment(frame, dets)
        if len(dets) or self.always:
            frame = self.renderer(frame, dets)
        return frame

    def _segment(self, frame: np.ndarray, dets: Detections) -> Detections:
        """People get their outline's mask; plates (``--target people,plates``) keep their box,
        with an empty mask that only keeps the masks aligned (the renderer masks plates with
        its rectangle)."""
        plates = dets.classes == PLATE
        if not plates.any():
            return self.segmenter(frame, dets)
        people = self.segmenter(frame, dets[np.flatnonzero(~plates)])
        rest = dets[np.flatnonzero(plates)]
        rest.masks = np.zeros((len(rest), *people.masks.shape[1:]), np.float32)
        return Detections.merge([people, rest])
