"""TensorFlow set-up, in one place: its logs, its thread pools, its devices, and
giving freed memory back to the system.

Everything here is idempotent and cheap after the first call. ``quiet_logs`` must run
before TensorFlow is imported to silence its C++ start-up lines; ``configure_tensorflow``
imports it, sizes its thread pools to this process's share of the cores (``--jobs``),
lets GPU memory grow on demand and names the device the work runs on.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings

from ..console import STDERR_SWAP
from ..env import DEBUG_ENV, worker_threads

# TensorFlow's INFO and WARNING lines (CUDA probing, CPU features) are hidden unless the
# environment asks for them; the command line hides its errors too (see quiet_logs).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# On a GPU, cuDNN's autotuning times every convolution algorithm on the first call of each
# input shape. The face network is small and far from keeping the GPU busy, and the search
# cost more than it saved: on an NVIDIA H200, 400 frames of 1080p took 34.4 s with it and
# 25.3 s without (docs/gpu.md). The environment can still turn it on.
os.environ.setdefault("TF_CUDNN_USE_AUTOTUNE", "0")

TRIM_EVERY = 64  # frames between two calls of malloc_trim

_configured = False


def quiet_logs(debug: bool = False) -> None:
    """The command line's logs: TensorFlow's C++ start-up logs (CUDA probing etc.) and
    libraries' Python warnings are not for users (vidanon reports its own); ``debug``
    leaves TensorFlow's level as the environment sets it and shows ffmpeg's messages."""
    if not debug:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        warnings.simplefilter("ignore")
    else:
        os.environ[DEBUG_ENV] = "1"


def cpu_threads() -> int:
    """CPU threads this process may use: its share under ``--jobs``, else every core."""
    return worker_threads() or os.cpu_count() or 1


def network_threads() -> int:
    """Threads for the face network on a CPU (LiteRT's XNNPACK kernels): this process's
    share of the cores less one. The network runs in a stage of its own while the tracker,
    the renderer and ffmpeg's decoder and encoder work on the other frames
    (:func:`vidanon.runner.run_stages`), and XNNPACK's workers spin while they wait for
    each other: with as many network threads as cores, each is preempted by that other work
    and the others spin meanwhile (on 2 cores, a 640x360 clip took 45% more CPU time with
    2 network threads than with 1, and longer). The int8 network's output does not depend
    on its thread count."""
    return max(1, cpu_threads() - 1)


def import_tensorflow():
    """``import tensorflow``, without the Keras it loads on the way: TensorFlow 2.16+ ends
    its import by importing ``keras.src.optimizers`` (so that Keras registers its optimizers
    for SavedModel loading), which takes about a quarter of the import (1.1 s of 4.8 s on a
    2-core CPU) and which vidanon never uses. Keras is made unimportable for the duration of
    that one import (TensorFlow passes over an ImportError there) and importable again
    after it, so a script of the user's can still use it; if Keras is already loaded,
    nothing changes."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    block = "keras" not in sys.modules
    if block:
        sys.modules["keras"] = None  # type: ignore[assignment]  # "import keras" raises ImportError
    try:
        import tensorflow as tf
    finally:
        if block and "keras" in sys.modules and sys.modules["keras"] is None:
            del sys.modules["keras"]
    return tf


def cpu_only() -> bool:
    """True when no GPU that TensorFlow could use is on this machine, found without importing
    TensorFlow (3.8 s on 2 cores): no NVIDIA (``/dev/nvidia*``), ROCm (``/dev/kfd``) or WSL
    (``/dev/dxg``) device, or ``CUDA_VISIBLE_DEVICES`` hiding them all; on macOS, no
    tensorflow-metal. Where one may be, TensorFlow is asked (:func:`configure_tensorflow`)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return True
    if sys.platform == "darwin":
        from importlib.metadata import PackageNotFoundError, version

        try:
            version("tensorflow-metal")
            return False
        except PackageNotFoundError:
            return True
    import glob

    return not (glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/kfd") or os.path.exists("/dev/dxg"))


def cpu_device() -> str:
    """The CPU, in the words of a run's summary line."""
    return f"CPU ({os.cpu_count()} cores)"


def compute_device() -> str:
    """The device the work runs on, in words: "CPU (N cores)" without importing TensorFlow
    where :func:`cpu_only` says so, else what :func:`configure_tensorflow` finds."""
    if cpu_only() and "tensorflow" not in sys.modules:
        return cpu_device()
    return configure_tensorflow()


def hide_gpu() -> None:
    """Keep TensorFlow off the GPU in this process (``--device cpu``): before its import, by
    the environment; after it, by its device list, which a GPU already in use cannot leave
    (:class:`vidanon.options.OptionError`)."""
    if "tensorflow" not in sys.modules:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        return
    tf = sys.modules["tensorflow"]
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        if tf.config.get_visible_devices("GPU"):
            from ..options import OptionError

            raise OptionError("--device cpu: TensorFlow already uses the GPU in this process") from None


def configure_tensorflow() -> str:
    """Import TensorFlow once, set its thread pools and GPU memory growth; return the
    device in words ("GPU (NVIDIA H100 ...)" or "CPU (N cores)")."""
    global _configured
    with quiet_native_stderr():  # a CUDA build on a machine without GPU logs its probing
        tf = import_tensorflow()

        gpus = tf.config.list_physical_devices("GPU")
    if not _configured:
        if worker_threads() is not None:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(cpu_threads())
                tf.config.threading.set_inter_op_parallelism_threads(min(2, cpu_threads()))
            except RuntimeError:  # TensorFlow already started in this process
                pass
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:  # already initialised
                pass
        # Full float32 on GPUs that would round convolution inputs to TF32 (10-bit mantissas,
        # Ampere and newer), which can move scores by more than the 1e-4 the graph and the
        # CPU's float network are held to (tests/test_graph.py); the network is not what
        # keeps a GPU run waiting (docs/gpu.md).
        tf.config.experimental.enable_tensor_float_32_execution(False)
        _configured = True
    if gpus:
        try:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        except Exception:  # pragma: no cover - depends on the driver
            name = "GPU"
        return f"GPU ({name})"
    return cpu_device()


@contextlib.contextmanager
def quiet_native_stderr():
    """Hide what C++ code prints on file descriptor 2 (TFLite's INFO lines), unless the
    user asked for TensorFlow's logs (TF_CPP_MIN_LOG_LEVEL below 2, as ``--debug`` sets)."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") < "2":
        yield
        return
    with _STDERR_SWAP:  # two threads swapping the descriptor at once would lose stderr for good
        yield from _stderr_to_devnull()


# Held while file descriptor 2 is swapped (interpreters are made in several threads; the
# command line's lines wait for it: vidanon.console.say).
_STDERR_SWAP = STDERR_SWAP


def _stderr_to_devnull():
    try:
        if sys.stderr is not None:  # None: descriptor 2 was closed when Python started
            sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:  # pragma: no cover - no file descriptors left
        yield
        return
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim``, or None elsewhere."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Give freed heap pages back to the system.

    Frames are allocated in the reader thread and freed in the writer thread, and the
    effects allocate frame-sized buffers in between; glibc keeps the freed pages of
    each thread's arena, so without this the resident memory of a long clip creeps up
    (splash at 1080p: 1.2 GB after 100 frames, several GB after 1500).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
