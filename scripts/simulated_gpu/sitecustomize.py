"""A GPU, simulated: with this folder first on PYTHONPATH, every Python process (the test
suite's subprocesses too) takes vidanon's GPU code path (the detector's TensorFlow graph,
the GPU's defaults) on the CPU, unless CUDA_VISIBLE_DEVICES hides the GPU as on a real one.
It finds code and tests that assume a machine without a GPU; it measures no GPU speed.

    PYTHONPATH=scripts/simulated_gpu:. python -m pytest -q     # about 10 minutes on 2 cores
"""

import os

import vidanon.detect.tf_setup as _tf_setup

_configure = _tf_setup.configure_tensorflow


def _hidden() -> bool:
    return os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1")


def _simulated() -> str:
    device = _configure()
    return device if _hidden() else "GPU (simulated, on the CPU)"


_tf_setup.cpu_only = _hidden
_tf_setup.configure_tensorflow = _simulated
