"""Side files: the tracks file (``--save-tracks``) and the review sheet (``--review``).

Checked before the run like the video output (:func:`check_side_file`: not the input, not
the output, not an existing file without ``--overwrite``, in a folder that exists and can
be written), and written through a hidden temporary file renamed over the target only when
complete (:func:`write_side_file`), so that a failure is one line and leaves nothing behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

from ..errors import OutputError
from .paths import AtomicOutput, check_file_target, check_name


def _same(a: Path, b: str | os.PathLike) -> bool:
    b = Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)  # a hard link, or another name of the same file
    except OSError:
        return False


def run_inputs(opts) -> list[tuple[str | os.PathLike | None, str]]:
    """The files a run (:class:`~vidanon.options.Options`) reads besides its video, as
    ``(path, name)`` pairs: no file it writes may replace them (with ``--overwrite``, the
    review sheet or a photo's output replaced the ``--image`` it was drawn with, and
    ``--save-tracks`` the ``--tracks`` file it replayed)."""
    tracks = opts.tracks if isinstance(opts.tracks, (str, os.PathLike)) else None  # (a clip's ClipTracks: no file)
    return [(opts.image, "image of the image effect"), (opts.plates_model, "plate model"),
            (tracks, "tracks file replayed")]  # fmt: skip


def check_not_an_input(target: Path, what: str, opts) -> None:
    """:class:`OutputError` (exit 3) if ``target``, the ``what`` a run writes, is one of its
    :func:`run_inputs`."""
    _replaces_none(Path(target), what, run_inputs(opts))


def _replaces_none(target: Path, what: str, others: Iterable[tuple[str | os.PathLike | None, str]]) -> None:
    """:class:`OutputError` if ``target`` is one of ``others`` (``(path, name)`` pairs)."""
    for other, name in others:
        if other is not None and _same(target, other):
            raise OutputError(f"the {what} {target} would replace the {name}; choose another name")


def check_side_file(path: str | os.PathLike, what: str, input_path: str | os.PathLike | None,
                    output: str | os.PathLike | None, overwrite: bool, others: Iterable[tuple[str | os.PathLike | None, str]] = ()) -> Path:  # fmt: skip
    """Where the side file ``what`` (e.g. "tracks file") goes, checked before any work:
    raises :class:`OutputError` (exit 3) if it would replace the input, the output or one of
    ``others`` (``(path, name)`` pairs), or an existing file without ``overwrite``, or if its
    folder is missing or cannot be written."""
    target = Path(path)
    check_name(target, OutputError, f"the {what}")
    if target.is_dir():
        raise OutputError(f"the {what} {target} is a folder; give a file name")
    check_file_target(target, what)
    _replaces_none(target, what, [(input_path, "input"), (output, "output"), *others])
    if os.path.lexists(target) and not overwrite:
        from ..options import ask

        raise OutputError(f"the {what} {target} already exists; pass {ask('overwrite', True)} to replace it")
    folder = target.parent
    if not folder.is_dir():
        missing = "is a file, not a folder" if folder.exists() else "does not exist"
        raise OutputError(f"cannot write the {what} {target}: the folder {folder} {missing}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write the {what} {target}: the folder {folder} is not writable")
    return target


def write_side_file(path: str | os.PathLike, what: str, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` a hidden file beside ``path``, then rename it over ``path``
    (:class:`~vidanon.media.paths.AtomicOutput`); any OSError is one :class:`OutputError`
    line, and the temporary file is removed."""
    target = Path(path)
    try:
        with AtomicOutput(target) as tmp:
            write(tmp)
    except OSError as exc:
        raise OutputError(f"cannot write the {what} {target}: {exc.strerror or exc}") from None
