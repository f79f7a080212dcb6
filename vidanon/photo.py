"""Photos: ``vidanon photo.jpg out.jpg``, and the photos of a folder in batch mode.

A photo goes through the video's stages with one frame and no tracker
(:func:`vidanon.pipeline.build_stages` with ``track=False``): the same detectors, masks
and effects. The face detector's full pass sees the photo as it sees a video frame
(under 960 px enlarged towards 960, at most 2x), on every photo.

A photo larger than 1024 px is also looked at on halved copies (:func:`smaller_copies`),
where faces too large for the network's full pass are found. A second pass on an enlarged
copy of small photos was measured and left out: on the
labelled group photos of ../shared/eval/stills (43 faces) the full pass covers every
face at their size and at half of it; a pass at 2x or 4x added boxes, covered no face
more, and at a third of their size made two masks worse (docs/photos.md).

The photo is turned upright first (its EXIF orientation applied) and written in the
format its extension names (JPEG at quality :data:`JPEG_QUALITY`, keeping the input's
chroma subsampling and progressive coding; PNG lossless, its alpha kept; WebP, lossless
when the input was; HEIC when ``pillow_heif`` is installed), through a temporary file renamed over the target when complete. Its
metadata follows the metadata policy (:func:`vidanon.photo_meta.photo_metadata`): by default the EXIF tags that
identify a place or a device (:func:`vidanon.media.streams.is_identifying`, and a few
names only EXIF uses) and the XMP packet are left out. The EXIF thumbnail, which shows
the faces, is never copied.
"""

from __future__ import annotations

import functools
import math
import os
import time
from pathlib import Path

from .errors import OutputError
from .photo_io import (
    HEIF_FORMATS,
    PHOTO_FORMATS,
    _heif,
    photo_extensions,
    read_photo,
    refuse_animated,
    rgb_planes,
    write_photo,
)

# Options that need a video (time, tracks); refused for a photo in one line.
VIDEO_ONLY = ("tracks", "save_tracks", "review", "keep", "start", "end", "max_face_size")


def is_photo(path) -> bool:
    """Whether ``path`` is named like a photo (HEIC only with pillow_heif)."""
    suffix = Path(str(path)).suffix.lower()
    return suffix in PHOTO_FORMATS or (suffix in HEIF_FORMATS and _heif())


def is_still(path) -> bool:
    """Whether the input ``path`` is anonymized as a photo: named like one and not an animated
    image (an animated WebP or PNG is read as a video, which ffmpeg decodes: its pictures at
    their times, written as a video or a GIF)."""
    return is_photo(path) and not is_animated(path)


def is_animated(path) -> bool:
    """Whether the image file ``path`` holds more than one picture to show in turn (not a
    camera's JPEG with previews, nor a HEIC of several pictures: a burst, a depth map); False
    for a file Pillow cannot open (the photo's reading says why). Asked several times a run:
    the file is opened once."""
    try:
        stat = os.stat(path)
    except OSError:  # missing: said when it is read
        return False
    return _animated(os.path.abspath(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _animated(path: str, mtime_ns: int, size: int) -> bool:
    from PIL import Image

    _heif()
    try:
        with Image.open(path) as im:
            return getattr(im, "n_frames", 1) > 1 and im.format not in ("MPO", "JPEG", "HEIF", "AVIF")
    except Exception:  # unreadable: said when it is read
        return False


def anonymize_photo(input: str | os.PathLike, output: str | os.PathLike, effect: str = "blur", **kwargs):
    """Hide the faces of the photo ``input`` and write it to ``output`` (a photo extension).

    Keyword arguments are those of :func:`vidanon.anonymize`; the options that need a
    video (:data:`VIDEO_ONLY`) are refused. Returns a :class:`vidanon.pipeline.Summary`
    with ``photo`` True."""
    from .media.paths import made_folders

    with made_folders():  # the folders --mkdir made go again where the run leaves them empty
        return _anonymize_photo(input, output, effect, **kwargs)


def _anonymize_photo(input, output, effect: str = "blur", **kwargs):
    from .media.paths import AtomicOutput, OutputClaim, clear_stale_temp_files, prepare_output
    from .media.probe import check_input
    from .media.sidefile import check_not_an_input
    from .options import OptionError, Options, ask
    from .pipeline import Summary
    from .targets import run_kinds

    opts = Options.from_kwargs(effect=effect, **kwargs)
    given = [name for name in VIDEO_ONLY if getattr(opts, name) not in (None, "", ())]
    if given:
        raise OptionError(f"{ask(given[0])} applies to videos; {Path(str(input)).name} is a photo")
    started = time.perf_counter()
    source = check_input(input)
    target = Path(output)
    if target.suffix.lower() not in photo_extensions():
        from PIL import Image, UnidentifiedImageError

        try:  # an animated image would be told to be named a photo, and as a photo to be made a video
            with Image.open(source) as im:
                refuse_animated(im, source)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
            pass  # said when it is read
        raise OutputError(f"output {target}: a photo is written as a photo; name it "
                          f"{', '.join(sorted(photo_extensions()))}")  # fmt: skip
    target = prepare_output(target, source, opts.overwrite, mkdir=opts.mkdir, container=False)
    check_not_an_input(target, "output", opts)
    claim = None if opts.overwrite else OutputClaim(target)  # taken first: of two runs writing it, the second
    try:  # is refused at once (it wrote the output while the first one was still reading a large photo)
        image, exif, extra = read_photo(source)
        rgb, alpha = rgb_planes(image)
        stages = photo_stages(opts, rgb.shape[0], rgb.shape[1])
        dets = find(stages, detection_input(image, rgb))
        shown = stages.render.masks(rgb, dets)
        out = stages.render.draw(rgb, shown)
        with AtomicOutput(target) as tmp:
            removed, warnings = write_photo(tmp, target, out, alpha, image, exif, extra, opts.metadata)
    except BaseException:
        if claim is not None:
            claim.release()
        raise
    warnings = [*extra["said"], *warnings]
    cleared = clear_stale_temp_files(target)  # a killed run's files, once this one is done
    if cleared:
        warnings = [*warnings, cleared]
    if opts.on_frames is not None:
        opts.on_frames(1)
    height, width = rgb.shape[:2]
    return Summary(
        input=str(source), output=str(target), frames=1, width=width, height=height, fps=0.0, faces=len(dets),
        frames_with_faces=int(len(dets) > 0), tracks=len(dets), seconds=time.perf_counter() - started,
        device=stages.device, target=run_kinds(opts.target, opts.effect),
        metadata_removed=removed, warnings=warnings, photo=True,
    )  # fmt: skip


def detection_input(image, rgb):
    """What the detector looks at: ``rgb``, or for a 1-bit photo (black and white dots: the
    network sees no face in them) its grey smoothed by :data:`BILEVEL_BLUR` px. The effect is
    drawn on the photo itself."""
    if image.mode != "1":
        return rgb
    import numpy as np
    from PIL import ImageFilter

    return np.ascontiguousarray(np.asarray(image.convert("L").filter(ImageFilter.GaussianBlur(BILEVEL_BLUR)).convert("RGB")))


# The 3 faces of a dithered 1000x750 still are found smoothed by 1 to 3 px (0.84-0.92), none unsmoothed.
BILEVEL_BLUR = 1.5


def photo_stages(opts, height: int, width: int):
    """The video's stages for a photo of ``height`` x ``width``: no tracker, the detector's
    full pass."""
    from dataclasses import replace

    from .pipeline import build_stages

    return build_stages(replace(opts, track=False, scan_every=1), height, width, frames=1, photo=True)


def find(stages, rgb):
    """The boxes to hide in the photo ``rgb``: the run's detectors on it and on the copies of
    :func:`smaller_copies` (boxes are normalized: they fit the photo as they are), then kept
    at the threshold (no tracker)."""
    from .detections import add_pass

    found = detect_pass(stages, rgb)
    for small in smaller_copies(rgb):
        found = add_pass(found, detect_pass(stages, small))
    return next(iter(stages.track.push([rgb], [found], [rgb])))[2]


# A pass over more pixels than TILE_ABOVE runs on overlapping tiles of at most TILE_SIDE:
# the networks' memory grows with their input (an 8000x6000 photo's full pass took 6.2 GB).
TILE_ABOVE = 4096 * 4096
TILE_SIDE = 4096
# Tiles overlap by this much: a face up to this size lies whole in one of them; a larger one
# is found whole in the photo's halved copy, where it is half as large.
TILE_OVERLAP = 512


def detect_pass(stages, rgb):
    """The detectors' boxes in ``rgb``, from the whole of it or, over TILE_ABOVE pixels, from
    its tiles (:func:`tile_windows`), each tile's boxes put back where it lies in ``rgb``
    (an object found in two tiles kept once, as across passes: :func:`vidanon.detections.add_pass`)."""
    import numpy as np

    from .detect.tiles import to_frame
    from .detections import add_pass

    height, width = rgb.shape[:2]
    if height * width <= TILE_ABOVE:
        return stages.detect([rgb])[0]
    found = None
    for window in tile_windows(height, width):
        y0, x0, y1, x1 = window
        part = stages.detect([np.ascontiguousarray(rgb[y0:y1, x0:x1])])[0]
        part.boxes = to_frame(part.boxes, window, height, width).astype(np.float32)
        found = part if found is None else add_pass(found, part)
    return found


def tile_windows(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """``(y0, x0, y1, x1)`` windows covering a picture of ``height`` x ``width``: along each
    side longer than TILE_SIDE, equal spans of at most TILE_SIDE overlapping by TILE_OVERLAP."""

    def spans(n: int) -> list[tuple[int, int]]:
        if n <= TILE_SIDE:
            return [(0, n)]
        count = math.ceil((n - TILE_OVERLAP) / (TILE_SIDE - TILE_OVERLAP))
        length = math.ceil((n - TILE_OVERLAP) / count) + TILE_OVERLAP
        starts = [min(k * (length - TILE_OVERLAP), n - length) for k in range(count)]
        return [(start, start + length) for start in starts]

    return [(y0, x0, y1, x1) for y0, y1 in spans(height) for x0, x1 in spans(width)]


# The face network finds faces up to about 750-900 px high (a selfie's face: found at 750 px,
# missed at 1000). A video's frames get a pass at half their size in turn (the scan plan),
# a photo gets the copies it needs: halved until its longer side is at most SMALLEST_PASS,
# where a face filling the photo is small enough.
SMALLEST_PASS = 1024


def smaller_copies(rgb):
    """``rgb`` at half its size, a quarter, ... down to :data:`SMALLEST_PASS` on its longer
    side or less (none for a photo already that small)."""
    import numpy as np
    from PIL import Image

    copies, image = [], Image.fromarray(rgb)
    size = max(rgb.shape[:2])
    while size > SMALLEST_PASS:
        size //= 2
        scale = size / max(rgb.shape[:2])
        small = image.resize((max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))), Image.BILINEAR,
                             reducing_gap=2.0)  # fmt: skip
        copies.append(np.ascontiguousarray(np.asarray(small)))
    return copies
