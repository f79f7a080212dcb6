"""vidanon: hide every face in a video, and leave the rest of it untouched."""

__version__ = "0.1.0"

from .detections import Detections  # noqa: E402
from .errors import VidanonError  # noqa: E402


def anonymize(input, output, effect="blur", **kwargs):
    """Hide every face of ``input`` and write ``output``; see :func:`vidanon.pipeline.anonymize`."""
    from .pipeline import anonymize as _anonymize

    return _anonymize(input, output, effect=effect, **kwargs)


def __getattr__(name: str):
    # the moviepy effect is imported on first use: `import vidanon` stays light
    if name in ("Anonymize", "anonymize_clip", "ClipTracks"):
        from . import clip

        return getattr(clip, name)
    if name == "OptionError":
        from .options import OptionError

        return OptionError
    raise AttributeError(f"module 'vidanon' has no attribute {name!r}")


__all__ = ["anonymize", "anonymize_clip", "Anonymize", "ClipTracks", "Detections", "OptionError", "VidanonError",
           "__version__"]
