"""vidanon: hide every face in a video, and leave the rest of it untouched."""

__version__ = "0.1.0"

from .errors import VidanonError  # noqa: E402  (light: `python -m vidanon` handles Ctrl-C before numpy loads)


def anonymize(input, output, effect="blur", **kwargs):
    """Hide every face of ``input`` and write ``output``; see :func:`vidanon.pipeline.anonymize`."""
    from .pipeline import anonymize as _anonymize

    return _anonymize(input, output, effect=effect, **kwargs)


def __getattr__(name: str):
    # numpy and the moviepy effect are imported on first use: `import vidanon` stays light
    if name == "Detections":
        from .detections import Detections

        return Detections
    if name in ("Anonymize", "anonymize_clip", "ClipTracks"):
        from . import clip

        return getattr(clip, name)
    if name == "OptionError":
        from .options import OptionError

        return OptionError
    raise AttributeError(f"module 'vidanon' has no attribute {name!r}")


__all__ = ["anonymize", "anonymize_clip", "Anonymize", "ClipTracks", "Detections", "OptionError", "VidanonError",
           "__version__"]
