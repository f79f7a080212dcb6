#!/usr/bin/env python3
"""Build the person network that the face detector's context look runs without TensorFlow
(``vidanon/detect/models/ssdlite_person.tflite``).

The vendored SSDLite frozen graph (``ssdlite_person.pb``) is cut from its normalized input
(``Preprocessor/sub``, the image scaled to [-1, 1]) to what enters its box selection (the
decoded boxes and the person scores: ``Postprocessor/raw_box_locations``,
``Postprocessor/Slice``), and that part converted to TensorFlow Lite as it is: float32
weights, no quantization, so it computes what the graph computes (the graph's preprocessing
loop and its selection, which TensorFlow Lite cannot take, are done in numpy by
``vidanon/detect/people_lite.py``). The conversion is deterministic for a TensorFlow version
(the same bytes twice with TensorFlow 2.21); the shipped file was built with 2.21.0.

    python scripts/build_person_lite.py            # writes the model, prints its SHA-256
    python scripts/build_person_lite.py --check    # checks the shipped file against the graph

``--check`` runs the graph and the shipped file on a random input and on every 8th frame of
the sample clip, and fails where they differ by more than 1e-3; it also says whether this
TensorFlow builds the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidanon.detect.people import PERSON_INPUT, person_graph  # noqa: E402
from vidanon.detect.people_lite import FEED, FETCH, normalized, raw_outputs  # noqa: E402

OUT = ROOT / "vidanon" / "detect" / "models" / "ssdlite_person.tflite"


def graph_function():
    import tensorflow as tf

    return tf.function(person_graph(FEED, list(FETCH)), autograph=False,
                       input_signature=[tf.TensorSpec([1, PERSON_INPUT, PERSON_INPUT, 3], tf.float32)])  # fmt: skip


def convert(fn) -> bytes:
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn).convert()


def inputs() -> list[np.ndarray]:
    """A random input and the sample clip's frames, as the network takes them."""
    from vidanon.media.probe import probe
    from vidanon.media.reader import FrameReader
    from vidanon.resample import resize

    out = [np.random.default_rng(0).uniform(-1, 1, (1, PERSON_INPUT, PERSON_INPUT, 3)).astype(np.float32)]
    for k, frame in enumerate(FrameReader(probe(str(ROOT / "sample_videos" / "walking_to_camera.mp4")))):
        if k % 8 == 0:
            small = np.round(resize(np.asarray(frame), PERSON_INPUT, PERSON_INPUT, "area")).astype(np.uint8)
            out.append(normalized(small))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="check the shipped file instead of writing it")
    args = parser.parse_args()
    from vidanon.detect.tf_setup import configure_tensorflow

    configure_tensorflow()
    import tensorflow as tf

    fn = graph_function()
    blob = convert(fn)
    if not args.check:
        OUT.write_bytes(blob)
        print(f"wrote {OUT} ({len(blob)} bytes), SHA-256 {hashlib.sha256(blob).hexdigest()}")
        return 0
    from vidanon.detect.lite import LiteNet

    shipped = OUT.read_bytes()
    same = hashlib.sha256(shipped).digest() == hashlib.sha256(blob).digest()
    print(f"this TensorFlow ({tf.__version__}) builds {'the same bytes' if same else 'a different file'}")
    net = LiteNet(shipped)
    worst = 0.0
    for x in inputs():
        want = [t.numpy() for t in fn(tf.constant(x))]
        got = raw_outputs(net, x)
        worst = max(worst, *(float(np.abs(g - w).max()) for g, w in zip(got, want)))
    print(f"largest difference from the graph: {worst:.2e}")
    return 0 if worst <= 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
