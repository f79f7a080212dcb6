"""Stage 1: detectors. Every one is a :class:`Detector`: a batch of frames in, one
:class:`~vidanon.detections.Detections` per frame out, boxes normalized.

* :mod:`.centerface`: faces (CenterFace, TensorFlow; on a CPU through TensorFlow Lite,
  :mod:`.lite`), with its scan plan (full and half-size passes, second looks); :mod:`.turns`
  runs it on the frames turned too (faces lying down, ``--turned-faces``);
* :mod:`.people`: people (SSDLite MobileNetV2, COCO's person class), tiled on wide frames
  and cut into a finer grid on large ones;
* :mod:`.plates`: licence plates (a YOLO-style ONNX model the user brings, onnxruntime);
* :mod:`.view`: what the detectors see of a decoded frame (square pixels, HDR at SDR
  brightness); :mod:`.tf_setup`: TensorFlow's logs, threads and devices; :mod:`.models`:
  the weights shipped in the package, with their licences and SHA-256 checks.

Which detector a run uses, at which scores, is said once per target in :mod:`vidanon.targets`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # this package is imported by the CLI before Ctrl-C can be handled: nothing heavy
    import numpy as np

    from ..detections import Detections


class Detector(Protocol):
    def __call__(self, frames: np.ndarray, first_index: int = 0) -> list[Detections]:
        """Detections for each frame of ``frames`` (B, H, W, 3) uint8 RGB; ``first_index`` is
        the number of the first frame in its video (the face detector's scan plan counts
        frames from the video's start; the others ignore it)."""


@functools.lru_cache(maxsize=4)
def cached_detector(kind: str, threshold: float, *args) -> Detector:
    """One detector per kind and setting and process: later videos skip the model's load
    and trace. ``args``: faces ``(low, detect_size, every, backend, model)``, people ``(low,)``, plates
    ``(model path,)``."""
    if kind == "faces":
        from .centerface import FaceDetector

        low, detect_size, every, backend, model = args
        return FaceDetector(threshold=threshold, low_threshold=low, detect_size=detect_size, every=every,
                            backend=backend, model=model)
    if kind == "people":
        from .people import PersonDetector

        return PersonDetector(threshold=threshold, low_threshold=args[0])
    from .plates import PlateDetector
    from .tf_setup import cpu_threads

    return PlateDetector(args[0], threshold=threshold, threads=cpu_threads())
