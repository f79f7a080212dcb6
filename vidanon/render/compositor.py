"""Stage 3: a frame and the boxes to hide in it in, the anonymized frame out.

:class:`Compositor` joins the optional people segmenter (a soft mask per person box) and
one effect renderer (:mod:`vidanon.effects`); it is a pure function of the frame and its
:class:`~vidanon.detections.Detections`, so rendering frame ``t`` of a moviepy clip alone
gives the same pixels as rendering it in sequence.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..detections import PLATE, Detections


class Compositor:
    def __init__(self, effect: str, mask_scale: float, people: bool, segmenter=None, *, cells: float | None = None,
                 fill_color=(0, 0, 0), image: np.ndarray | None = None) -> None:  # fmt: skip
        """``cells``, ``fill_color``: the strength of blur and pixelate, the colour of fill;
        ``image``: the RGBA image of the image effect."""
        from .effects import ImageRenderer, PeopleRenderer, Renderer, SplashRenderer

        self.segmenter = segmenter if people else None
        self.style = {"fill_color": fill_color, "cells": cells}
        if effect == "splash":
            self.renderer = SplashRenderer()
        elif effect == "image":
            self.renderer = ImageRenderer(image, mask_scale)
        elif people:  # the masks follow each person's outline already: no extra margin
            self.renderer = PeopleRenderer(effect, **self.style)
        else:
            self.renderer = Renderer(effect, mask_scale, **self.style)
        self.always = effect == "splash"  # a frame without people is all grey
        self.effect = effect
        self._plate_renderer = None

    def __call__(self, frame: np.ndarray, dets: Detections) -> np.ndarray:
        return self.draw(frame, self.masks(frame, dets))

    def masks(self, frame: np.ndarray, dets: Detections) -> Detections:
        """The boxes as they are drawn: with each person's soft mask when people are hidden
        (plates among them keep their boxes)."""
        if self.segmenter is None:
            return dets
        plates = dets.classes == PLATE
        if plates.any():
            people = self.segmenter(frame, dets[np.flatnonzero(~plates)])
            rest = dets[np.flatnonzero(plates)]
            size = people.masks.shape[1]
            return Detections.merge([people, replace(rest, masks=np.ones((len(rest), size, size), np.float32))])
        return self.segmenter(frame, dets)

    def draw(self, frame: np.ndarray, dets: Detections) -> np.ndarray:
        """``frame`` with the boxes of :meth:`masks` hidden."""
        if self.segmenter is not None:
            plates = dets.classes == PLATE
            if plates.any():  # --target people,plates: people by their outline, then the plates
                frame = self.draw(frame, dets[np.flatnonzero(~plates)])
                return self._plates(frame, replace(dets[np.flatnonzero(plates)], masks=None))
        if len(dets) or self.always:
            frame = self.renderer(frame, dets)
        return frame

    def _plates(self, frame: np.ndarray, plates: Detections) -> np.ndarray:
        """Plates among people: the face renderer's rectangle masks, with the same effect."""
        if self._plate_renderer is None:
            from .effects import Renderer

            self._plate_renderer = Renderer(self.effect, **self.style)
        return self._plate_renderer(frame, plates)
