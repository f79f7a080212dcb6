"""A photo's file: read (:func:`read_photo`: decoded, turned upright by its EXIF orientation, its
metadata gathered) and written (:func:`write_photo`: in the format its extension names, its
metadata under the policy of :mod:`vidanon.photo_meta`). The stages between them are
:mod:`vidanon.photo`'s."""

from __future__ import annotations

import errno
import io
import threading
import warnings
from pathlib import Path

from .errors import EncodeError, InputError, OutputError

PHOTO_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".jfif": "JPEG", ".jpe": "JPEG", ".png": "PNG", ".webp": "WEBP"}
HEIF_FORMATS = {".heic": "HEIF", ".heif": "HEIF"}  # when pillow_heif can be imported
JPEG_QUALITY = 95
WEBP_QUALITY = 95

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


def photos_read(heic: bool = True) -> str:
    """The photos vidanon reads, in words (for the errors and warnings on other images);
    ``heic``: whether to say how HEIC photos are read where pillow-heif is missing."""
    if _heif():
        return "vidanon reads .jpg (.jpeg, .jfif, .jpe), .png, .webp and .heic (.heif) photos"
    needs = "; .heic with the pillow-heif package installed" if heic else ""
    return f"vidanon reads .jpg (.jpeg, .jfif, .jpe), .png and .webp photos{needs}"


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
    from PIL import Image, UnidentifiedImageError

    from .photo_meta import COLOUR_CHUNKS

    _heif()
    damaged = False
    try:
        im, cut = open_decoded(path)
        with im:
            previews = refuse_animated(im, path)
            try:
                upright = exif_upright(im)
            except Exception:  # a damaged EXIF block (Pillow's parser fails in many ways): left out, as it is
                upright = im.copy()
                upright.info.pop("exif", None)
                damaged = True
            extra = {key: im.info[key] for key in ("icc_profile", "xmp", "comment", "dpi", "photoshop")
                     if im.info.get(key)}  # fmt: skip
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
            exif.pop(ORIENTATION, None)  # written upright (or as shown: an orientation only Pillow reads)
        damaged = damaged or any("Corrupt EXIF" in str(w.message) for w in said)
    except Exception:  # as above
        exif, damaged = Image.Exif(), True
    if damaged:
        extra["left_out"].append("EXIF (damaged)")
    if upright.mode == "CMYK":
        upright = cmyk_as_rgb(upright, extra)
    if "transparency" in upright.info and upright.mode in ("P", "L", "RGB"):  # a palette's or a colour key's
        upright = upright.convert("LA" if upright.mode == "L" else "RGBA")  # kept as an alpha channel
    return upright, exif, extra


ORIENTATION = 0x0112
TURNS = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
         7: "TRANSVERSE", 8: "ROTATE_90"}  # fmt: skip


def exif_upright(im):
    """A copy of ``im`` turned as its EXIF orientation says (a JPEG's APP1, a PNG's eXIf, a
    WebP's EXIF chunk): as browsers and viewers show it. Not Pillow's ``exif_transpose``, which
    also takes XMP's ``tiff:Orientation`` and a PNG's raw EXIF text profile where the EXIF has
    none, which viewers do not: such a photo came out turned from how it is shown."""
    from PIL import Image

    raw = im.info.get("exif")
    exif = Image.Exif()
    if raw:
        exif.load(raw)
    turn = TURNS.get(exif.get(ORIENTATION, 1))
    return im.transpose(getattr(Image.Transpose, turn)) if turn else im.copy()


def cmyk_as_rgb(image, extra: dict):
    """A CMYK photo (a print shop's JPEG) as the RGB photo it is written as: through its ICC
    profile to sRGB, which the output then carries, where it has a profile littlecms can use;
    else Pillow's plain conversion, without the profile (a CMYK profile on RGB samples, which
    colour-managed viewers would apply wrongly; PNG does not allow it), with a warning."""
    from PIL import ImageCms

    profile = extra.pop("icc_profile", None)
    if profile:
        try:
            srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            rgb = ImageCms.profileToProfile(image, ImageCms.ImageCmsProfile(io.BytesIO(profile)), srgb,
                                            outputMode="RGB")  # fmt: skip
            extra["icc_profile"] = srgb.tobytes()
            return rgb
        except (ImageCms.PyCMSError, OSError, ValueError):
            extra["said"].append("the photo's CMYK colour profile cannot be read: its colours are converted to RGB "
                                 "without it, and the output carries no profile")  # fmt: skip
    return image.convert("RGB")


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


SRGB_GAMMA = 1 / 2.2  # a PNG's gAMA for an sRGB-like photo: what a JPEG or WebP is shown as anyway


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
        if abs(extra.get("gamma", SRGB_GAMMA) - SRGB_GAMMA) > 0.01 and not extra.get("icc_profile"):
            warnings.append(f"the input's gamma ({extra['gamma']:g}, a PNG gAMA chunk) cannot be written in a "
                            f"{fmt} file: its colours may be shown differently; name the output .png to keep it")
    if fmt == "JPEG":
        sampling = extra.get("subsampling", -1)
        args.update(quality=JPEG_QUALITY, subsampling=sampling if sampling in (0, 1, 2) else 2, optimize=True,
                    progressive=bool(extra.get("progressive")))  # fmt: skip
    elif fmt == "WEBP" and extra.get("lossless"):  # lossless stays lossless, its transparent pixels' colours too
        args.update(lossless=True, exact=True)
    elif fmt in ("WEBP", "HEIF"):
        args.update(quality=WEBP_QUALITY)
    iptc = args.pop("app13", None)
    encoded = io.BytesIO()
    out.save(encoded, format=fmt, **args)
    if iptc is not None:  # Pillow does not write it: put in the JPEG as Photoshop does, else named as left out
        from .photo_meta import with_iptc

        kept = with_iptc(encoded.getvalue(), iptc) if fmt == "JPEG" else None
        encoded = io.BytesIO(kept) if kept is not None else encoded
        removed += [] if kept is not None else ["IPTC"]
    try:  # written by Python, which checks every write: Pillow's JPEG encoder wrote to the file
        tmp.write_bytes(encoded.getbuffer())  # descriptor itself and lost a short write (a full disk)
    except OSError as exc:
        if exc.errno in (errno.EFBIG, errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):  # as a video's (exit 5)
            from .media.ffmpeg import failure_message

            cause = "File too large" if exc.errno == errno.EFBIG else "No space left"
            raise EncodeError(failure_message(str(target), cause, None, "writing", "")) from None
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    return removed, warnings
