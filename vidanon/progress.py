"""What a run shows while it works: one line at the start, then a progress bar whose clock
starts with the frames. The command line shows them only where stderr is a terminal
(:func:`on_terminal`; in a file or a pipe a bar's carriage-return frames would fill a log
and share its lines with the messages; the warnings, errors and summary stay); the API
and the moviepy effect show the bar when asked (``progress=True``: a notebook's stream is
not a terminal).

Loading the libraries and the detector takes seconds (6-19 s on a laptop) before the
first frame, and the detector's first call warms it up: :func:`announce` prints one
line at once so that the terminal is not silent meanwhile, and :class:`FrameBar` starts
its clock (and so its estimate of the time left) at the first frame, not when it was
made. This module imports nothing heavy (tqdm only when a bar is made).
"""

from __future__ import annotations

import sys


def on_terminal(stream=None) -> bool:
    """Whether ``stream`` (stderr by default) is a terminal: the only place where the
    starting line and the progress bar are shown."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return isatty is not None and bool(isatty())
    except (OSError, ValueError):  # closed
        return False


def announce(line: str, stream=None) -> bool:
    """Print ``vidanon: line`` on stderr (or ``stream``) at once, if it is a terminal:
    scripts reading stderr get only warnings and errors. Returns whether it printed."""
    stream = sys.stderr if stream is None else stream
    if not on_terminal(stream):
        return False
    print(f"vidanon: {line}", file=stream, flush=True)
    return True


def _sized(stream) -> bool:
    """Whether the terminal of ``stream`` gives its size (rows and columns); True where it cannot
    be asked (not a terminal: nothing to change)."""
    import os

    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return True
    return size.columns > 0 and size.lines > 0


class FrameBar:
    """A tqdm bar of frames whose clock starts at the first :meth:`update`, so that the
    time spent before (loading models, the detector's warm-up) does not weigh on the
    rate and the estimate of the time left. Takes tqdm's arguments."""

    def __init__(self, **kwargs) -> None:
        from tqdm import tqdm

        if kwargs.get("dynamic_ncols") and not _sized(kwargs.get("file") or sys.stderr):
            # a terminal that gives no size (a `script` session, a container's): tqdm, asking it at
            # every refresh, drew no bar at all on 0 rows; a fixed size instead
            kwargs.update(dynamic_ncols=False, ncols=80, nrows=24)
        self.bar = tqdm(**kwargs)
        self._flowing = False

    def update(self, n: int = 1) -> None:
        if not self._flowing:
            self._flowing = True
            self.bar.reset(total=self.bar.total)  # the clock starts now
        self.bar.update(n)

    def clear(self) -> None:
        self.bar.clear()

    def refresh(self) -> None:
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
