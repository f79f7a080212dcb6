"""Stage 3: a frame and the boxes to hide in it in, the anonymized frame out.

:class:`Render` joins the optional people segmenter (a soft mask per person box) and
one effect renderer (:mod:`vidanon.effects`); it is a pure function of the frame and its
:class:`~vidanon.detections.Detections`, so rendering frame ``t`` of a moviepy clip alone
gives the same pixels as rendering it in sequence.
"""

from __future__ import annotations

import numpy as np

from .detections import Detections


class Render:
    def __init__(self, effect: str, mask_scale: float, people: bool, segmenter=None) -> None:
        from .effects import PeopleRenderer, Renderer, SplashRenderer

        self.segmenter = segmenter if people else None
        if effect == "splash":
            self.renderer = SplashRenderer()
        elif people:  # the masks follow each person's outline already: no extra margin
            self.renderer = PeopleRenderer(effect)
        else:
            self.renderer = Renderer(effect, mask_scale)
        self.always = effect == "splash"  # a frame without people is all grey

    def __call__(self, frame: np.ndarray, dets: Detections) -> np.ndarray:
        return self.draw(frame, self.masks(frame, dets))

    def masks(self, frame: np.ndarray, dets: Detections) -> Detections:
        """The boxes as they are drawn: with each person's soft mask when people are hidden."""
        return self.segmenter(frame, dets) if self.segmenter is not None else dets

    def draw(self, frame: np.ndarray, dets: Detections) -> np.ndarray:
        """``frame`` with the boxes of :meth:`masks` hidden."""
        if len(dets) or self.always:
            frame = self.renderer(frame, dets)
        return frame
