"""vidanon's command line with the face detector's costs timed, for finding where a run's
time goes on a new machine (a GPU especially): TensorFlow's import, the graph's build, each
call of the network on a batch (``_cells``) and each frame's second look, with the first call
apart (tracing, cuDNN's autotuning, warm-up). One summary line per function on stderr at the
end; the run itself is the command line's, with its summary line.

    python scripts/timeline.py in.mp4 out.mp4 -y
    TIMELINE=_build,_cells,second_looks,_context_looks,_crop_cells python scripts/timeline.py in.mp4 out.mp4 -y

A name with a colon is any module's function or method, ``module:Class.method``: the stages
that run in one thread each, for instance, ``vidanon.detect.centerface:FaceDetector.prepare``
(the reading thread's network input), ``vidanon.track.sort:SortTracker._step`` (tracking, a
frame a call), ``vidanon.render.compositor:Compositor.draw`` and
``vidanon.media.writer:VideoWriter.write`` (the writing thread).
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

START = time.perf_counter()
CALLS: dict[str, list[tuple[float, float]]] = defaultdict(list)  # name -> (started at, seconds)


def timed(name: str, fn):
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            CALLS[name].append((began - START, time.perf_counter() - began))

    return wrapper


def report() -> None:
    print(f"[timeline] {time.perf_counter() - START:.2f} s in all", file=sys.stderr)
    for name, calls in CALLS.items():
        first_at, first = calls[0]
        rest = [seconds for _, seconds in calls[1:]]
        mean = f", the others {sum(rest):.2f} s ({1000 * sum(rest) / len(rest):.1f} ms each)" if rest else ""
        print(f"[timeline] {name}: {len(calls)} calls; the first at {first_at:.2f} s took {first:.2f} s{mean}",
              file=sys.stderr)  # fmt: skip


def main() -> int:
    from vidanon.__main__ import BLAS_THREADS
    from vidanon.__main__ import main as vidanon_main

    for name, value in BLAS_THREADS.items():  # as the command line sets them, before NumPy loads
        os.environ.setdefault(name, value)
    from vidanon.detect import centerface, tf_setup

    tf_setup.import_tensorflow = timed("import tensorflow", tf_setup.import_tensorflow)
    for name in os.environ.get("TIMELINE", "_build,_cells,second_looks").split(","):
        owner, attr = centerface.FaceDetector, name
        if ":" in name:  # module:Class.method or module:function
            module, path = name.split(":")
            owner = importlib.import_module(module)
            *parents, attr = path.split(".")
            for parent in parents:
                owner = getattr(owner, parent)
        setattr(owner, attr, timed(name, getattr(owner, attr)))
    atexit.register(report)
    return vidanon_main()


if __name__ == "__main__":
    sys.exit(main())
