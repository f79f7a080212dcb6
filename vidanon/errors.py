"""User-facing errors.

Everything that can go wrong because of what the user gave us (a bad path, a
broken video, an option out of range, a damaged model file) is raised as a
:class:`VidanonError`. The CLI prints its message as one line and exits with
its ``exit_code``; anything else is a bug and is reported as such.
"""

from __future__ import annotations


class VidanonError(Exception):
    """An error with a message meant for the user (one line, says what to do)."""

    exit_code = 1


class OptionError(VidanonError, ValueError):
    """An option has a value it cannot take (out of range, wrong type, unknown name)."""

    exit_code = 2


class UnknownOptionError(OptionError, TypeError):
    """A keyword no option has (a misspelling): an :class:`OptionError` naming the options,
    and the ``TypeError`` Python raises for a keyword a function does not take."""


class InputError(VidanonError):
    """The input file is missing, unreadable or not a video."""

    exit_code = 2


class OutputError(VidanonError):
    """The output cannot be written where the user asked."""

    exit_code = 3


class ModelError(VidanonError):
    """A vendored model file is missing or damaged."""

    exit_code = 4


class EncodeError(VidanonError):
    """ffmpeg failed while decoding or encoding."""

    exit_code = 5


class ResourceError(VidanonError):
    """The machine ran out of memory (the host's or the GPU's) during the run."""

    exit_code = 5


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says memory ran out: Python's or NumPy's MemoryError, or TensorFlow's
    ResourceExhaustedError (host or GPU memory; recognised by name: TensorFlow is not imported)."""
    return isinstance(exc, MemoryError) or type(exc).__name__ == "ResourceExhaustedError"
