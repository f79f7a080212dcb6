"""vidanon: hide every face in a video, and leave the rest of it untouched.

The API (each option is described once, in :data:`vidanon.options.OPTIONS`):

* :func:`anonymize` ``(input, output, *, effect="blur", ...)``: a video file;
* :class:`Anonymize`: the moviepy 2 effect (``clip.with_effects([Anonymize()])``);
* :func:`anonymize_clip` ``(clip, *, ...)``: a moviepy clip with its faces hidden;
* :class:`ClipTracks`: the boxes hidden in every frame of a clip;
* :class:`Detections`: the boxes of one frame;
* :class:`OptionError` (a bad option, also a ValueError) and :class:`VidanonError`
  (every error meant for the user).

``Anonymize``, ``anonymize_clip`` and ``ClipTracks`` live in :mod:`vidanon.clip`, imported
on first use (it needs moviepy): ``import vidanon`` loads neither moviepy nor TensorFlow.
"""

__version__ = "0.1.0"

import inspect as _inspect  # noqa: E402
import os as _os  # noqa: E402

from . import options as _options  # noqa: E402
from .errors import VidanonError  # noqa: E402
from .options import OptionError  # noqa: E402

_LAZY = ("Anonymize", "anonymize_clip", "ClipTracks")  # in vidanon.clip (moviepy)
_FILE = tuple(o for o in _options.FILE_OPTIONS if o.public)


def anonymize(input, output, **options):
    """Hide every face of the video (or photo) ``input`` and write the result to ``output``.

    Returns a :class:`vidanon.pipeline.Summary`. Raises :class:`VidanonError` for anything
    wrong with the inputs (:class:`OptionError`, a ValueError too, for a bad option).

    Parameters
    ----------
    input, output : str or os.PathLike
        the video to anonymize (it is never modified), and where to write it (the
        extension picks the container); a photo (.jpg, .jpeg, .jfif, .jpe, .png, .webp) is written as a photo,
        as on the command line
    """
    from .photo import anonymize_photo, is_still
    from .pipeline import anonymize as run

    for name, value in (("input", input), ("output", output)):
        if not isinstance(value, (str, _os.PathLike)):
            raise TypeError(f"anonymize: {name} is a path (str or os.PathLike), not {type(value).__name__}")
    with _options.spoken(_options.PYTHON):
        _options.reject_unknown(options, _FILE)
        if hasattr(options.get("tracks"), "frames"):
            raise OptionError("tracks: a video file replays a tracks file (save_tracks=...); the ClipTracks "
                              "of a clip replay in vidanon.Anonymize")  # fmt: skip
        summary = (anonymize_photo if is_still(input) else run)(input, output, **options)
        style = _options.Options.from_kwargs(**options).style_warning()  # as the command line says it
        if style:
            summary.warnings.insert(0, style)
        return summary


anonymize.__doc__ = _options.with_options(anonymize.__doc__, _FILE)
anonymize.__signature__ = _options.signature(
    [_inspect.Parameter(name, _inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in ("input", "output")], _FILE
)


def __getattr__(name: str):
    # numpy and the moviepy effect are imported on first use: `import vidanon` stays light
    if name == "Detections":
        from .detections import Detections

        return Detections
    if name in _LAZY:
        from . import clip

        return getattr(clip, name)
    raise AttributeError(f"module 'vidanon' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


__all__ = ["anonymize", "anonymize_clip", "Anonymize", "ClipTracks", "Detections", "OptionError", "VidanonError",
           "__version__"]
