"""The command line's standard streams, in one place: closed ones reopened on the null
device before anything runs (:func:`standard_streams`).

This module imports nothing heavy: the entry points call it first.
"""

from __future__ import annotations

import os
import sys

_STREAMS = ((0, "stdin", os.O_RDONLY, "r"), (1, "stdout", os.O_WRONLY, "w"), (2, "stderr", os.O_WRONLY, "w"))


def standard_streams() -> None:
    """Reopen a closed standard stream (``vidanon ... <&- >&- 2>&-``) on the null device.

    A closed descriptor 0, 1 or 2 would be taken by the next file or pipe opened, which then
    passes for the standard stream (ffmpeg's frames pipe written as "stdout"), and Python
    leaves ``sys.stdin``/``sys.stdout``/``sys.stderr`` None (a progress bar or a message
    then fails): both are given the null device. Idempotent."""
    for fd, name, flags, mode in _STREAMS:
        try:
            os.fstat(fd)
        except OSError:  # closed: the lowest free descriptor is this one
            null = os.open(os.devnull, flags)
            if null != fd:
                os.dup2(null, fd)  # inheritable, as a standard stream is
                os.close(null)
            else:
                os.set_inheritable(fd, True)
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, mode, encoding="utf-8"))
