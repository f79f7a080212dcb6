"""Process-wide settings read from the environment: this process's share of the cores
(a worker of ``--jobs`` or a Ray task) and ``--debug``. Both the media and the detect
stages read them; neither imports the other for it."""

from __future__ import annotations

import os

THREADS_ENV = "VIDANON_THREADS"  # set in each worker of --jobs and each Ray task


DEBUG_ENV = "VIDANON_DEBUG"  # set by --debug: ffmpeg's messages are shown


def worker_threads() -> int | None:
    """The threads this process may use when it is one of several (its share of the
    cores, from ``VIDANON_THREADS``); None when it has the machine to itself."""
    value = os.environ.get(THREADS_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else None
