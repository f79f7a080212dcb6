"""What of the input's video stream rides on its frames or its coded stream, not on its pixels,
and is lost when the frames are re-encoded: closed captions (CEA-608/708), HDR10+'s dynamic
metadata, a 360-degree projection or a stereo 3D layout. Each is found cheaply when the file is
probed (:func:`a53_captions`, the first frame's side data, the header's) and said in one line
(:func:`unkept_notes`) unless the writer keeps it."""

from __future__ import annotations

from pathlib import Path

# The start of an ATSC A/53 caption payload (CEA-608/708 in an H.264 or HEVC SEI, or in an
# MPEG-2 picture's user data): "GA94", then cc_data's type (3). It holds no two zero bytes in a
# row, so an H.264 or HEVC stream stores it as it is.
_A53 = b"GA94\x03"
_A53_CODECS = {"h264", "hevc", "mpeg2video"}
_SCAN = 8 << 20  # bytes read from the file's start: the first seconds of any video


def a53_captions(path: Path, codec: str | None, line: str) -> bool:
    """Whether the video stream carries closed captions: ffmpeg's header says so (", Closed
    Captions"), or the file's first megabytes hold a caption payload (broadcasters send one
    with every frame, empty or not)."""
    if "Closed Captions" in line:
        return True
    if codec not in _A53_CODECS:
        return False
    try:
        with open(path, "rb") as f:
            return _A53 in f.read(_SCAN)
    except OSError:
        return False


def keeps_projection(source, container: str) -> bool:
    """Whether the output keeps ``source``'s 360-degree projection: a plain equirectangular one
    (not turned, nor stereo: said instead, :func:`unkept_notes`) in MP4, MOV, Matroska or WebM."""
    return (source is not None and source.projection == "equirectangular" and not source.stereo
            and not source.rotation and container in ("mp4", "mov", "matroska", "webm"))  # fmt: skip


def projection_args(source, container: str) -> list[str]:
    """ffmpeg's output arguments for the projection kept: MP4's muxer writes its sv3d box only
    with ``-strict unofficial`` (the writer's, and the join of a segmented run's parts)."""
    return ["-strict", "unofficial"] if container == "mp4" and keeps_projection(source, container) else []


def unkept_notes(source, container: str) -> list[str]:
    """The one-line notes on what a ``container`` output does not keep of ``source`` (a VideoInfo)."""
    notes = []
    if source.captions:
        notes.append("the input's closed captions (CEA-608/708, carried inside its video stream) are not kept: "
                     "the output has no captions")  # fmt: skip
    if source.hdr10_plus:
        notes.append("the input's HDR10+ dynamic metadata is not kept: players show the output as plain HDR10")
    if source.projection and not keeps_projection(source, container):
        notes.append(f"the input's 360-degree projection ({source.projection}) is not kept: players will show the "
                     "output flat (.mp4, .mov, .mkv and .webm keep a plain equirectangular one)")  # fmt: skip
    if source.stereo:
        notes.append(f"the input's stereo 3D layout ({source.stereo}) is not kept: players will show both views "
                     "in one flat picture")  # fmt: skip
    return notes
