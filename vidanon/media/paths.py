"""Output paths: checked before any work is done, written through a temporary file beside
the target that replaces it only when complete."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import OutputError
from .plan import container_of


def temp_path_for(target: Path) -> Path:
    return target.with_name(f".{target.stem}.vidanon-{os.getpid()}.partial{target.suffix}")


def prepare_output(target: str | os.PathLike, input_path: Path, overwrite: bool, mkdir: bool = True) -> Path:
    """Check the output path before any work is done; create its folder if it is
    missing and ``mkdir`` (else that is an error)."""
    target = Path(target)
    container_of(target)
    if target.exists() and target.is_dir():
        raise OutputError(f"output {target} is a directory; give a file name such as {target / 'out.mp4'}")
    if target.resolve() == input_path.resolve() or (target.exists() and os.path.samefile(target, input_path)):
        raise OutputError("output and input are the same file; vidanon never overwrites its input")
    if target.exists() and not overwrite:
        raise OutputError(f"output {target} already exists; pass --overwrite to replace it")
    parent = target.parent
    if not parent.exists() and not mkdir:
        raise OutputError(f"the output folder {parent} does not exist; create it or pass --mkdir")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {parent}: {exc.strerror or exc}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to the output folder {parent} (check its permissions)")
    return target
