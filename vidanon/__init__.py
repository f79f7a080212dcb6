"""vidanon: hide every face in a video, and leave the rest of it untouched."""

__version__ = "0.1.0"

from .detections import Detections  # noqa: E402
from .errors import VidanonError  # noqa: E402


def anonymize(input, output, effect="blur", **kwargs):
    """Hide every face of ``input`` and write ``output``; see :func:`vidanon.pipeline.anonymize`."""
    from .pipeline import anonymize as _anonymize

    return _anonymize(input, output, effect=effect, **kwargs)


__all__ = ["anonymize", "Detections", "VidanonError", "__version__"]
