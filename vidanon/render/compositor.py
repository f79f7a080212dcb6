"""Stage 3: a frame and the boxes to hide in it in, the anonymized frame out.

:class:`Compositor` joins the optional people segmenter (a soft mask per person box) and
one effect renderer (:mod:`vidanon.effects`); it is a pure function of the frame and its
:class:`~vidanon.detections.Detections`, so rendering frame ``t`` of a moviepy clip alone
gives the same pixels as rendering it in sequence.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..detections import PERSON, Detections


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
        self.mask_scale = mask_scale
        self._others_renderer = None

    def __call__(self, frame: np.ndarray, dets: Detections) -> np.ndarray:
        return self.draw(frame, self.masks(frame, dets))

    def shares(self, dets: Detections, height: int, width: int) -> np.ndarray:
        """The share of the frame each box's mask takes, drawn as :meth:`draw` draws it: people
        by their outline (the people renderer's scale), faces and plates among them at the
        user's mask scale (:meth:`_others`), and every box alike without people."""
        from .masks import mask_shares

        own = getattr(self.renderer, "mask_scale", 1.0)
        people = dets.classes == PERSON if self.segmenter is not None else np.zeros(len(dets), bool)
        out = np.zeros(len(dets))
        for which, scale in ((people, own), (~people, self.mask_scale if self.segmenter is not None else own)):
            index = np.flatnonzero(which)
            if len(index):
                out[index] = mask_shares(dets[index], height, width, scale)
        return out

    def masks(self, frame: np.ndarray, dets: Detections) -> Detections:
        """The boxes as they are drawn: with each person's soft mask when people are hidden
        (faces and plates among them keep their boxes)."""
        if self.segmenter is None:
            return dets
        others = dets.classes != PERSON
        if others.any():
            order = np.concatenate([np.flatnonzero(~others), np.flatnonzero(others)])
            people = self.segmenter(frame, dets[order[: int((~others).sum())]])
            rest = dets[np.flatnonzero(others)]
            size = people.masks.shape[1]
            merged = Detections.merge([people, replace(rest, masks=np.ones((len(rest), size, size), np.float32))])
            return merged[np.argsort(order)]  # in the order given: the review pairs them with their tracks
        return self.segmenter(frame, dets)

    def draw(self, frame: np.ndarray, dets: Detections) -> np.ndarray:
        """``frame`` with the boxes of :meth:`masks` hidden."""
        if self.segmenter is not None:
            others = dets.classes != PERSON
            if others.any():  # --target faces,people or people,plates: people by their outline, then the rest
                frame = self.draw(frame, dets[np.flatnonzero(~others)])
                return self._others(frame, replace(dets[np.flatnonzero(others)], masks=None))
        if len(dets) or self.always:
            frame = self.renderer(frame, dets)
        return frame

    def _others(self, frame: np.ndarray, boxes: Detections) -> np.ndarray:
        """Faces and plates among people: the face renderer's masks (a face's head ellipse, a
        plate's rectangle), with the same effect."""
        if self._others_renderer is None:
            from .effects import Renderer

            self._others_renderer = Renderer(self.effect, self.mask_scale, **self.style)
        return self._others_renderer(frame, boxes)
