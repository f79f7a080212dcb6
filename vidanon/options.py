"""What a run is asked to do: the options shared by the command line and the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .errors import VidanonError
from .mask import DEFAULT_MASK_SCALE

TARGETS = ("faces", "people")


@dataclass
class Options:
    effect: str = "blur"
    threshold: float | None = None  # None: the detector's default
    mask_scale: float = DEFAULT_MASK_SCALE
    batch_size: int | None = None  # None: chosen from the frame size and the device
    detect_size: int | None = None  # None: DEFAULT_DETECT_SIZE; 0: native resolution
    crf: int = 18
    codec: str | None = None
    preset: str = "veryfast"
    audio: bool = True
    overwrite: bool = False
    track: bool = True
    save_tracks: str | None = None
    tracks: str | None = None
    progress: bool = True
    target: str = "faces"  # or "people" (implied by the splash effect)
    # A part of a longer job (see vidanon.batch): only frames [start, stop) are written
    # (stop None: to the end), with ``context`` frames on each side decoded and tracked
    # but not written, so that the tracker is warm at the part's first frame and its
    # look-ahead sees past the last one.
    frame_range: tuple[int, int | None] | None = None
    context: int = 30
    on_frames: Callable[[int], None] | None = None  # called with the number of frames just written

    @property
    def people(self) -> bool:
        return self.target == "people" or self.effect == "splash"

    def validate(self) -> None:
        from .effects import EFFECTS

        if self.effect not in EFFECTS:
            raise VidanonError(f"unknown effect {self.effect!r}; choose from {', '.join(EFFECTS)}")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise VidanonError(f"threshold {self.threshold} is out of range: use a value between 0 and 1")
        if not 0.5 <= self.mask_scale <= 5.0:
            raise VidanonError(f"mask scale {self.mask_scale} is out of range: use 0.5 to 5")
        if self.batch_size is not None and not 1 <= self.batch_size <= 256:
            raise VidanonError(f"batch size {self.batch_size} is out of range: use 1 to 256")
        if self.detect_size is not None and self.detect_size != 0 and not 64 <= self.detect_size <= 8192:
            raise VidanonError(f"detect size {self.detect_size} is out of range: use 64 to 8192, or 0 for native")
        if self.target not in TARGETS:
            raise VidanonError(f"unknown target {self.target!r}; choose from {', '.join(TARGETS)}")
        if not 0 <= self.crf <= 51:
            raise VidanonError(f"crf {self.crf} is out of range: use 0 (lossless) to 51")
        if self.frame_range is not None:
            start, stop = self.frame_range
            if start < 0 or (stop is not None and stop <= start):
                raise VidanonError(f"frame range {self.frame_range} is empty or negative")
            if self.tracks:
                raise VidanonError("a tracks file covers the whole video; it cannot be used for a part")
