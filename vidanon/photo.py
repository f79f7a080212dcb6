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

import errno
import functools
import io
import math
import os
import threading
import time
import warnings
from pathlib import Path

from .errors import EncodeError, InputError, OutputError

PHOTO_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".jfif": "JPEG", ".jpe": "JPEG", ".png": "PNG", ".webp": "WEBP"}
HEIF_FORMATS = {".heic": "HEIF", ".heif": "HEIF"}  # when pillow_heif can be imported
JPEG_QUALITY = 95
WEBP_QUALITY = 95
# Options that need a video (time, tracks); refused for a photo in one line.
VIDEO_ONLY = ("tracks", "save_tracks", "review", "keep", "start", "end", "max_face_size")


def _heif() -> bool:
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def photo_extensions() -> dict[str, str]:
    """The photo extensions vidanon reads and writes, with Pillow's format names."""
    return {**PHOTO_FORMATS, **(HEIF_FORMATS if _heif() else {})}


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
    image, exif, extra = read_photo(source)
    rgb, alpha = rgb_planes(image)
    stages = photo_stages(opts, rgb.shape[0], rgb.shape[1])
    dets = find(stages, detection_input(image, rgb))
    shown = stages.render.masks(rgb, dets)
    out = stages.render.draw(rgb, shown)
    claim = None if opts.overwrite else OutputClaim(target)  # of two runs writing it, the second is refused
    try:
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
    (an object found in two tiles kept once, as across passes: :func:`add_pass`)."""
    import numpy as np

    from .detect.tiles import to_frame

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


def add_pass(found, more):
    """``found`` with the boxes of another pass, ``more``: a box of ``more`` that overlaps one of
    ``found`` of its class by PASSES_IOU or more is the same object seen at another size (the
    better-scoring box kept); boxes of one pass never remove each other (two people side by
    side overlap as much, and each detector has its own suppression for them)."""
    import numpy as np

    from .detections import Detections, iou_matrix

    if not len(more) or not len(found):
        return Detections.merge([found, more])
    iou = iou_matrix(more.boxes, found.boxes) * (more.classes[:, None] == found.classes[None, :])
    best = iou.argmax(axis=1)
    same = iou[np.arange(len(more)), best] >= PASSES_IOU
    better = same & (more.scores > found.scores[best])  # the better of the two boxes stays
    keep_found = np.ones(len(found), bool)
    keep_found[best[better]] = False
    return Detections.merge([found[np.flatnonzero(keep_found)], more[np.flatnonzero(~same | better)]])


# The face network finds faces up to about 750-900 px high (a selfie's face: found at 750 px,
# missed at 1000). A video's frames get a pass at half their size in turn (the scan plan),
# a photo gets the copies it needs: halved until its longer side is at most SMALLEST_PASS,
# where a face filling the photo is small enough.
SMALLEST_PASS = 1024
PASSES_IOU = 0.3  # the same face found in two passes: one box kept, the best-scoring


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


def refuse_animated(im, path) -> int:
    """An animated WebP or PNG is an :class:`InputError` (its other pictures would be lost; the
    command line and :func:`vidanon.anonymize` read it as a video: :func:`is_still`).
    Returns the preview pictures of a camera's JPEG with previews (MPO, MPF), else 0."""
    frames = getattr(im, "n_frames", 1)
    previews = frames - 1 if im.format == "MPO" else 0
    if frames > 1 and not previews:
        raise InputError(f"{path} is an animated image ({frames} pictures), which is anonymized as a video: "
                         "name the output .gif, .mp4 or another video's name")  # fmt: skip
    return previews


def read_photo(path: Path):
    """``(image upright, its EXIF, other metadata)``: the EXIF orientation applied (and the
    tag reset), the photo decoded; an unreadable photo is an :class:`InputError`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    from .photo_meta import COLOUR_CHUNKS

    _heif()
    damaged = False
    try:
        im, cut = open_decoded(path)
        with im:
            previews = refuse_animated(im, path)
            try:
                upright = ImageOps.exif_transpose(im)
            except Exception:  # a damaged EXIF block (Pillow's parser fails in many ways): left out, as it is
                upright = im.copy()
                upright.info.pop("exif", None)
                damaged = True
            extra = {key: im.info[key] for key in ("icc_profile", "xmp", "comment", "dpi") if im.info.get(key)}
            extra.update({key: im.info[key] for key in COLOUR_CHUNKS if key in im.info})  # sRGB intent 0 too
            extra["text"] = dict(getattr(im, "text", None) or {})  # PNG text chunks
            extra["exif_chunk"] = bool(im.info.get("exif"))  # else a PNG's EXIF is its raw profile, if any
            extra["format"] = im.format
            extra["said"] = [cut] if cut else []
            # an MPO's previews show the faces: the primary picture is written alone, a JPEG
            extra["left_out"] = [f"preview picture{'s' if previews > 1 else ''}"] if previews else []
            if im.format == "WEBP":
                extra["lossless"] = webp_lossless(path)
            if im.format in ("JPEG", "MPO"):
                from PIL.JpegImagePlugin import get_sampling

                extra["subsampling"] = get_sampling(im)
                extra["progressive"] = bool(im.info.get("progressive") or im.info.get("progression"))
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"cannot read the photo {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        with warnings.catch_warnings(record=True) as said:  # "Corrupt EXIF data": read as no tag at all
            warnings.simplefilter("always")
            exif = Image.Exif() if damaged else upright.getexif()
            if not damaged and not len(exif) and im.info.get("exif"):  # parsed again, to hear Pillow's warning
                exif.load(im.info["exif"])
        damaged = damaged or any("Corrupt EXIF" in str(w.message) for w in said)
    except Exception:  # as above
        exif, damaged = Image.Exif(), True
    if damaged:
        extra["left_out"].append("EXIF (damaged)")
    if "transparency" in upright.info and upright.mode in ("P", "L", "RGB"):  # a palette's or a colour key's
        upright = upright.convert("LA" if upright.mode == "L" else "RGBA")  # kept as an alpha channel
    return upright, exif, extra


def open_decoded(path: Path):
    """``(the image of path, decoded; a warning or None)``: a file that ends early (a download
    cut short; a JPEG without its end marker, which viewers show whole) is decoded as far as
    it goes, as viewers show it, with a warning (the caller closes the image)."""
    from PIL import Image, ImageFile

    im = Image.open(path)
    try:
        im.load()
        return im, None
    except OSError as exc:
        im.close()
        if "truncated" not in str(exc):
            raise
        said = str(exc)
    with _TRUNCATED:  # Pillow's switch is the whole process's: turned on for one decode at a time
        before = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            im = Image.open(path)
            im.load()
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = before
    return im, (f"{path.name} ends early ({said}): its picture was anonymized as far as it decodes, as "
                "viewers show it (the rest as the decoder fills it)")


_TRUNCATED = threading.Lock()


def webp_lossless(path: Path) -> bool:
    """Whether the WebP file ``path`` is lossless: its picture a VP8L chunk (the file's first
    chunk, or after VP8X), not VP8 (lossy, its alpha in an ALPH chunk). Pillow does not say."""
    with open(path, "rb") as f:
        f.seek(12)  # RIFF, its size, WEBP
        while len(head := f.read(8)) == 8:
            if head[:4] in (b"VP8L", b"VP8 "):
                return head[:4] == b"VP8L"
            size = int.from_bytes(head[4:], "little")
            f.seek(size + (size & 1), 1)  # chunks are padded to an even size (VP8X, ICCP first)
    return False


def grey_8bit(image):
    """A 16-bit grey photo at 8 bits, as the stages see it (rounded as a 16-bit video frame is:
    :func:`vidanon.media.reader.to_8bit`)."""
    import numpy as np
    from PIL import Image

    from .media.reader import to_8bit

    return Image.fromarray(to_8bit(np.asarray(image, np.uint16)))


def rgb_planes(image):
    """The photo as 8-bit RGB for the stages, and its alpha (None if it has none)."""
    import numpy as np

    alpha = np.asarray(image.getchannel("A")) if "A" in image.getbands() else None
    if image.mode in ("I;16", "I;16B", "I", "F"):  # 16-bit grey: to 8 bits
        image = grey_8bit(image)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))), alpha


def _deep_grey(image, masked):
    """A 16-bit grey photo with the pixels the effect changed in ``masked`` (its 8-bit grey
    result) put back at 16 bits: every other pixel keeps its own 16-bit sample."""
    import numpy as np
    from PIL import Image

    from .media.writer import restore_deep

    deep = np.asarray(image, np.uint16)
    return Image.fromarray(restore_deep(np.asarray(masked), np.asarray(grey_8bit(image)), deep))  # uint16: I;16


def write_photo(tmp: Path, target: Path, rgb, alpha, image, exif, extra: dict, policy: str):
    """Write the anonymized ``rgb`` (and ``alpha``) to ``tmp`` in the format of ``target``'s
    extension; returns the metadata left out and the warnings (what the output cannot hold)."""
    import numpy as np
    from PIL import Image

    fmt = photo_extensions()[target.suffix.lower()]
    out = Image.fromarray(rgb)
    if image.mode in ("1", "L", "LA", "I;16", "I;16B", "I", "F"):  # grey stays grey (1-bit: 8-bit grey)
        out = out.convert("L")
    if image.mode in ("I;16", "I;16B") and fmt == "PNG":  # 16-bit grey stays 16-bit
        out = _deep_grey(image, out)
    warnings = []
    if alpha is not None and fmt != "JPEG":
        out.putalpha(Image.fromarray(np.asarray(alpha)))
    elif alpha is not None and (alpha < 255).any():  # shown over white, not the colours stored under it
        shown, weight = np.asarray(out, np.float32), np.asarray(alpha, np.float32) / 255
        weight = weight[..., None] if shown.ndim == 3 else weight
        out = Image.fromarray(np.rint(shown * weight + 255 * (1 - weight)).astype(np.uint8))
        warnings.append("the input has an alpha channel: the output has no alpha channel (a JPEG has none); "
                        "its transparent pixels are shown over white")  # fmt: skip
    from .photo_meta import photo_metadata

    args, removed = photo_metadata(exif, extra, policy)
    removed = extra.get("left_out", []) + removed
    if fmt != "PNG":
        args.pop("pnginfo", None)
    if fmt == "JPEG":
        sampling = extra.get("subsampling", -1)
        args.update(quality=JPEG_QUALITY, subsampling=sampling if sampling in (0, 1, 2) else 2, optimize=True,
                    progressive=bool(extra.get("progressive")))  # fmt: skip
    elif fmt == "WEBP" and extra.get("lossless"):  # lossless stays lossless, its transparent pixels' colours too
        args.update(lossless=True, exact=True)
    elif fmt in ("WEBP", "HEIF"):
        args.update(quality=WEBP_QUALITY)
    encoded = io.BytesIO()
    out.save(encoded, format=fmt, **args)
    try:  # written by Python, which checks every write: Pillow's JPEG encoder wrote to the file
        tmp.write_bytes(encoded.getbuffer())  # descriptor itself and lost a short write (a full disk)
    except OSError as exc:
        if exc.errno in (errno.EFBIG, errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):  # as a video's (exit 5)
            from .media.ffmpeg import failure_message

            cause = "File too large" if exc.errno == errno.EFBIG else "No space left"
            raise EncodeError(failure_message(str(target), cause, None, "writing", "")) from None
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    return removed, warnings
