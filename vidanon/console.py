"""The command line's standard streams, in one place: closed ones reopened on the null
device before anything runs (:func:`standard_streams`), and its lines printed one line
each, whatever the names in them hold, and whatever the stream does (:func:`say`).

This module imports nothing heavy: the entry points call it first.
"""

from __future__ import annotations

import os
import re
import sys
import threading

# Held while file descriptor 2 points at the null device (vidanon.detect.tf_setup.quiet_native_stderr,
# in the network threads) and while a line is said: an error said meanwhile was lost (exit 70, nothing on stderr).
STDERR_SWAP = threading.RLock()

_STREAMS = ((0, "stdin", os.O_RDONLY, "r"), (1, "stdout", os.O_WRONLY, "w"), (2, "stderr", os.O_WRONLY, "w"))


def standard_streams() -> None:
    """Reopen a closed standard stream (``vidanon ... <&- >&- 2>&-``) on the null device.

    A closed descriptor 0, 1 or 2 would be taken by the next file or pipe opened, which then
    passes for the standard stream (ffmpeg's frames pipe written as "stdout"), and Python
    leaves ``sys.stdin``/``sys.stdout``/``sys.stderr`` None (a progress bar or a message
    then fails): both are given the null device. Idempotent."""
    for fd, _, flags, _ in _STREAMS:  # all three descriptors first: a file opened for one
        try:  # would otherwise take the next closed descriptor
            os.fstat(fd)
        except OSError:  # closed: the lowest free descriptor is this one
            null = os.open(os.devnull, flags)
            if null != fd:
                os.dup2(null, fd)  # inheritable, as a standard stream is
                os.close(null)
            else:
                os.set_inheritable(fd, True)
    for fd, name, _, mode in _STREAMS:  # then Python's streams, on those descriptors
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, mode, encoding="utf-8", closefd=False))


# Characters that would break a line or garble the terminal, as file names may hold them:
# C0 and C1 controls, Unicode's line and paragraph separators, and the bytes of a name that
# is not UTF-8 (which Python keeps as lone surrogates, and stdout cannot encode).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\udc80-\udcff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def count(n: int, noun: str) -> str:
    """``1 frame``, ``2 frames``: the summaries' counts."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def one_line(text: str) -> str:
    """``text`` with its control characters escaped as Python writes them (a newline as
    the two characters ``\\n``, a byte that is not UTF-8 as ``\\xff``): one line."""
    return _UNPRINTABLE.sub(_escape, text)


def _escape(found: re.Match) -> str:
    c = found.group()
    code = ord(c)
    if c in _NAMED:
        return _NAMED[c]
    if 0xDC80 <= code <= 0xDCFF:  # the byte itself
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def say(line: str, stream=None) -> None:
    """Print one line of the command line's (a summary, a warning, an error) on ``stream``
    (stdout by default), at once, as :func:`one_line` writes it. A stream that cannot take
    it (``| head`` gone, a full disk) does not change the run's outcome: the line is
    dropped, as Unix tools drop theirs, and the stream goes to the null device, so that
    nothing more fails on it (nor Python's flush at exit, with its "Exception ignored"
    message)."""
    stream = sys.stdout if stream is None else stream
    text = one_line(line)
    encoding = getattr(stream, "encoding", None) or "utf-8"
    text = text.encode(encoding, "backslashreplace").decode(encoding)  # a stream that is not UTF-8 (é as \xe9)
    try:
        with STDERR_SWAP:
            print(text, file=stream, flush=True)
    except (OSError, ValueError):
        _to_null(stream)


def _to_null(stream) -> None:
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)  # what is still buffered goes there at the next flush
    finally:
        os.close(null)
