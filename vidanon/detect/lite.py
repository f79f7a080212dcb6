"""The CPU path: a network converted once to TensorFlow Lite and cached on disk, with a
check that the cached model still answers as the graph does.

A start with the conversion cached needs no TensorFlow at all: the cache's name is keyed by
TensorFlow's version as its package metadata gives it, and the model runs through LiteRT's
interpreter (``ai-edge-litert``, the project's successor of ``tf.lite.Interpreter``, which
TensorFlow deprecates), loaded in a tenth of a second. TensorFlow is imported only to
convert the model (the first run, or a damaged cache)."""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .tf_setup import network_threads
from .tf_setup import quiet_native_stderr as _quiet_native_stderr

# An input of fewer pixels than this (the second look's 160x160 crops, the person network's
# 300x300 windows) runs on one thread, several such at once in the pipeline's decode threads:
# split among many threads, each of its layers is too little work for their hand-offs, while
# XNNPACK's waiting workers spin. On 2 cores every input already runs on one thread
# (network_threads); on an H200 machine's 16 cores, with 15 threads on each crop, the CPU
# path's crowds were no faster than on 2 cores (the marathon 5.9 frames/s against 6.5), with
# 9-10 cores busy (docs/gpu.md; this rule came after, not measured there yet).
SMALL_INPUT_PIXELS = 100_000


def threads_for(shape: tuple[int, ...]) -> int:
    """XNNPACK threads for an input of ``shape`` (batch, height, width, channels)."""
    return 1 if math.prod(shape[:-1]) < SMALL_INPUT_PIXELS else network_threads()


def lite_cache_path() -> Path | None:
    """Where the face detector's TensorFlow Lite conversion is kept: ``$VIDANON_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/vidanon``, else ``~/.cache/vidanon`` (``VIDANON_CACHE_DIR=""``:
    no cache)."""
    from .models import MODELS

    base = os.environ.get("VIDANON_CACHE_DIR")
    if base is None:
        base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vidanon")
    if not base:
        return None
    return Path(base) / f"centerface-{MODELS['centerface'].sha256[:16]}-tf{_tensorflow_version()}.tflite"


def _tensorflow_version() -> str:
    """TensorFlow's version from its package metadata (importing it takes seconds)."""
    from importlib.metadata import PackageNotFoundError, version

    for name in ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly"):
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    from .tf_setup import import_tensorflow

    return import_tensorflow().__version__


def _interpreter_class():
    """LiteRT's interpreter; TensorFlow's deprecated ``tf.lite.Interpreter`` where LiteRT is
    not installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from .tf_setup import import_tensorflow

        Interpreter = import_tensorflow().lite.Interpreter
    return Interpreter


def _read_cache(path: Path | None) -> bytes | None:
    try:
        return path.read_bytes() if path is not None and path.is_file() else None
    except OSError:
        return None


def _probe_path(path: Path | None) -> Path | None:
    """Beside the cached conversion: what the graph computes on the load check's probe."""
    return None if path is None else path.with_name(path.name + ".probe.npz")


def _read_probe(path: Path | None) -> list[np.ndarray] | None:
    if path is None:
        return None
    try:
        with np.load(_probe_path(path)) as saved:
            return [saved[f"out{i}"] for i in range(3)]
    except Exception:  # missing, cut off, not an npz: the graph is asked again
        return None


def _write_probe(path: Path | None, expected: list[np.ndarray]) -> None:
    import io

    if path is None:
        return
    buffer = io.BytesIO()
    np.savez(buffer, **{f"out{i}": e for i, e in enumerate(expected)})
    _write_cache(_probe_path(path), buffer.getvalue())


def _write_cache(path: Path | None, blob: bytes) -> None:
    """Keep ``blob`` at ``path`` (written aside, then renamed); a folder that cannot be
    written only costs the next run the conversion."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    except OSError:
        pass


def network_function(net):
    """The face network ``net`` as the function TensorFlow Lite's converter takes: one float
    frame of any size in, its heatmap, scales and offsets out (what :class:`LiteNet` reads)."""
    import tensorflow as tf

    return tf.function(lambda x: net(x)[:3], autograph=False,
                       input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])  # fmt: skip


@contextlib.contextmanager
def memory_said():
    """LiteRT's failure to get memory (a memory limit, a full machine) as a MemoryError: it
    raises a RuntimeError with no message (or one of a failed allocation), which came out as
    "internal error: RuntimeError: " (exit 70) instead of the out-of-memory message (exit 5)."""
    try:
        yield
    except RuntimeError as exc:
        said = str(exc).strip()
        if not said or re.search(r"failed to allocate|out of memory|bad_alloc", said, re.IGNORECASE):
            raise MemoryError(said or "the network could not get memory") from exc
        raise


class LiteNet:
    """The same network converted to TensorFlow Lite and run by its XNNPACK CPU kernels.

    On a CPU, TensorFlow's own kernels run this MobileNet-style network about half as
    fast as XNNPACK. The conversion from the graph (about 2.5 s) is done once and kept in
    the user's cache folder (:func:`lite_cache_path`), keyed by the model's SHA-256 and
    TensorFlow's version, with what the graph computes on a probe image; every load,
    converted or cached, is checked against that on the same probe, so both back-ends
    compute the same function (and a damaged cache file is converted again). Keeping the
    graph's answer saves tracing the whole graph at every start (0.7 s on 2 cores), and
    :meth:`cached` loads it without TensorFlow. One frame per ``invoke``; one interpreter
    per input shape.
    """

    def __init__(self, blob: bytes) -> None:
        self._blob = blob
        # Interpreters allocated for each input shape, free to run (a video with a full and a
        # half-size pass alternates between two shapes). The pipeline runs the passes in one
        # or two threads and the second looks in others, so an interpreter is taken for a call
        # and handed back after it (see _take).
        self._interpreters: dict[tuple[int, ...], list[tuple]] = {}
        self._lock = threading.Lock()
        self._handed_back = threading.Condition(self._lock)

    @classmethod
    def cached(cls) -> "LiteNet | None":
        """The cached conversion, checked against the graph's kept answer; None when there
        is none (or it is damaged, or disagrees). Imports no TensorFlow."""
        path = lite_cache_path()
        blob, expected = _read_cache(path), _read_probe(path)
        if blob is None or expected is None:
            return None
        net = cls(blob)
        return net if net._agrees(expected) else None

    @classmethod
    def convert(cls, net) -> "LiteNet":
        """Convert the TensorFlow graph ``net`` (and keep the conversion in the cache)."""
        import tensorflow as tf

        fn = network_function(net)
        expected = [t.numpy() for t in fn(tf.constant(cls._probe()))]
        lite = cls(cls._convert(fn))
        if not lite._agrees(expected):
            raise ModelError("the TensorFlow Lite face detector disagrees with the graph; use backend='tf'")
        path = lite_cache_path()
        _write_cache(path, lite._blob)
        _write_probe(path, expected)
        return lite

    @staticmethod
    def _probe() -> np.ndarray:
        return np.random.default_rng(0).uniform(0, 255, (1, 64, 96, 3)).astype(np.float32)

    @staticmethod
    def _convert(fn) -> bytes:
        import warnings

        import tensorflow as tf

        try:
            with _quiet_native_stderr(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn).convert()
        except Exception as exc:
            raise ModelError(f"cannot convert the face detector for the CPU: {exc}") from None

    def _agrees(self, expected: list[np.ndarray]) -> bool:
        """False when the model cannot be loaded or disagrees with ``expected``, the graph's
        outputs on the probe."""
        try:
            with _quiet_native_stderr():  # XNNPACK announces itself on the first run
                got = self.outputs(self._probe())
        except Exception:
            return False
        return len(got) == len(expected) and all(
            g.shape == e.shape and np.allclose(g, e, atol=1e-3, rtol=1e-3) for g, e in zip(got, expected))  # fmt: skip

    def _take(self, shape: tuple[int, ...]) -> tuple:
        """A free interpreter allocated for inputs of ``shape`` (made if none is free), so
        that none is re-allocated per frame; hand it back with :meth:`_give`. A large input
        (a frame's pass) has one interpreter, waited for while another thread runs it: each
        holds its arena (about 80 MB at 960x736), and the pipeline's two network threads
        (:func:`vidanon.runner.network_lanes`) then run different passes side by side
        instead of the same pass twice; small inputs (crops, windows) get one each. If making
        a large input's interpreter fails, the threads waiting for it are woken to make their
        own (or fail the same way): none waits forever for one that will never come."""
        large = math.prod(shape[:-1]) >= SMALL_INPUT_PIXELS
        with self._lock:
            while True:
                free = self._interpreters.get(shape)
                if free:
                    return free.pop()
                if free is None or not large:
                    break
                self._handed_back.wait()
            if free is None and len(self._interpreters) >= 4:  # another video's sizes: forget the oldest
                self._interpreters.pop(next(iter(self._interpreters)))
            self._interpreters.setdefault(shape, [])
        try:
            return self._new_interpreter(shape)
        except BaseException:
            if large:
                with self._lock:
                    if self._interpreters.get(shape) == []:  # the one interpreter of the shape: not coming
                        del self._interpreters[shape]
                    self._handed_back.notify_all()
            raise

    def _give(self, shape: tuple[int, ...], entry: tuple) -> None:
        with self._lock:
            free = self._interpreters.get(shape)
            if free is not None:
                free.append(entry)
                self._handed_back.notify_all()

    def _new_interpreter(self, shape: tuple[int, ...]) -> tuple:
        with _quiet_native_stderr():  # XNNPACK announces itself when it is applied
            it = _interpreter_class()(model_content=self._blob, num_threads=threads_for(shape))
            index = it.get_input_details()[0]["index"]
            it.resize_tensor_input(index, list(shape))
            with memory_said():
                it.allocate_tensors()
        # The converter names the outputs Identity, Identity_1, ... in the function's
        # order (heat, scale, offset); checked at load against the graph.
        outputs = sorted(it.get_output_details(), key=lambda d: (len(d["name"]), d["name"]))
        return it, index, [d["index"] for d in outputs]

    def outputs(self, x: np.ndarray) -> list[np.ndarray]:
        """The network's outputs (copies) for one input ``x`` of a shape it takes."""
        shape = tuple(x.shape)
        entry = self._take(shape)
        it, index, outputs = entry
        try:
            it.set_tensor(index, x)
            with memory_said():
                it.invoke()
            return [it.get_tensor(k) for k in outputs]  # copies
        finally:
            self._give(shape, entry)

    def cells(self, x: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
        """Above-``floor`` heatmap cells and their values for a batch ``x`` (N, H, W, 3) float32."""
        all_cells, all_values = [], []
        for i in range(len(x)):
            heat, a, b = (o[0] for o in self.outputs(np.ascontiguousarray(x[i : i + 1])))
            rows, cols = np.nonzero(heat[..., 0] > floor)
            all_cells.append(np.stack([np.full(len(rows), i), rows, cols], axis=1))
            all_values.append(np.concatenate([heat[rows, cols], a[rows, cols], b[rows, cols]], axis=1))
        return np.concatenate(all_cells).astype(np.int64), np.concatenate(all_values).astype(np.float32)
