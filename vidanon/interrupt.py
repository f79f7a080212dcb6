"""Ctrl-C and SIGTERM: one line and the exit code 128 + signal, never a traceback.

The entry points (:mod:`vidanon.__main__`, the ``vidanon`` command, :func:`vidanon.cli.main`)
call :func:`install` first, before argparse and before any heavy import (numpy, TensorFlow),
so that even a Ctrl-C in the first second ends with one line. This module imports nothing
heavy. :class:`Outputs` tells the message what the run had written by then.
"""

from __future__ import annotations

import os
import signal
import threading


class Interrupted(BaseException):
    """Raised in the main thread by SIGINT / SIGTERM; the exit code is 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.exit_code = 128 + signum


_pending: list[int] = []  # signals received: one raised where Python swallows it is raised again


def _swallowing(filename: str) -> bool:
    """Whether an exception raised in code of ``filename`` would be printed ("Exception
    ignored in ...") and lost: the import machinery's callbacks, and weakref callbacks,
    which the garbage collector runs at any point of any thread's code."""
    return filename.startswith("<frozen importlib") or os.path.basename(filename) in ("_weakrefset.py", "weakref.py")


def _in_finalizer(frame) -> bool:
    """Whether ``frame`` runs inside an object's ``__del__`` (a progress bar's, a file's):
    an exception leaving a finalizer is printed ("Exception ignored in ...") and lost, and
    the garbage collector runs finalizers at any point of the code."""
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def _on_signal(signum, frame):
    _pending.append(signum)
    if frame is not None and (_swallowing(frame.f_code.co_filename) or _in_finalizer(frame)):
        return  # raise_pending() raises it at the next safe point
    raise Interrupted(signum)


def raise_pending() -> None:
    """Raise :class:`Interrupted` if a signal came whose exception Python would swallow
    (raised inside an import lock's or a weakref's callback, or an object's ``__del__``, it
    is printed as "Exception ignored" and lost; the handler then only records it): called at
    safe points, after the imports and between batches."""
    if _pending:
        raise Interrupted(_pending[-1])


def cause(exc: BaseException) -> Interrupted | None:
    """The :class:`Interrupted` behind ``exc``, if any: a C extension being imported when the
    signal came (numpy, TensorFlow) turns it into an ImportError whose cause it is, or, where
    the extension's own import code replaced it (numpy's C core: "PyCapsule_Import could not
    import module datetime"), into an error that no longer carries it; a signal received
    before the error is then its cause."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, Interrupted):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return Interrupted(_pending[-1]) if _pending else None


def install() -> None:
    """Turn SIGINT and SIGTERM into :class:`Interrupted` (in the main thread only: signal
    handlers can be set nowhere else)."""
    _pending.clear()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_signal)
        signal.signal(signal.SIGTERM, _on_signal)


def _stamp(path: str):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class Outputs:
    """The files a run may write, as they were when it started: :meth:`written` lists those
    that are new or were replaced since (every output is renamed into place when complete,
    so a file listed is whole)."""

    def __init__(self) -> None:
        self._before: dict[str, object] = {}

    def watch(self, *paths) -> None:
        for path in paths:
            if path is not None and str(path) not in self._before:
                self._before[str(path)] = _stamp(str(path))

    def written(self) -> list[str]:
        return [p for p, before in self._before.items() if _stamp(p) not in (None, before)]

    def describe(self) -> str:
        """``no output was written``, or which were and which were not."""
        written = self.written()
        if not written:
            return "no output was written"
        rest = [p for p in self._before if p not in written]
        text = f"written: {', '.join(written)}"
        if rest:
            text += f"; not written: {', '.join(rest) if len(rest) <= 3 else f'{len(rest)} others'}"
        return text
