"""A photo's metadata under the metadata policy (``--keep-metadata``, ``--strip-metadata``,
by default "private"): which EXIF tags, XMP, comments and PNG text chunks the output carries
(:func:`photo_metadata`), and the names of those left out for the summary."""

from __future__ import annotations

# EXIF's own names for device details that the video rule (is_identifying) does not know.
EXIF_DEVICE_TAGS = {"MakerNote", "LensMake", "LensModel", "LensSpecification", "HostComputer", "ImageUniqueID",
                    "XPComment"}  # fmt: skip


def is_exif_identifying(name: str) -> bool:
    """An EXIF tag (as Pillow names it) that says where or with which device a photo was
    taken: the video rule, and EXIF's own device names."""
    from .media.streams import is_identifying

    return is_identifying(name) or name in EXIF_DEVICE_TAGS


def photo_metadata(exif, extra: dict, policy: str) -> tuple[dict, list[str]]:
    """The keyword arguments of Pillow's save that carry the metadata kept under ``policy``
    ("private", "keep" or "strip"), and the names of the tags left out."""
    from PIL import ExifTags

    removed: list[str] = []
    kept_exif = exif
    if policy == "strip":
        removed += [ExifTags.TAGS.get(tag, str(tag)) for tag in exif]
        kept_exif = None
    elif policy == "private":
        for ifd in (exif, exif.get_ifd(ExifTags.IFD.Exif)):
            for tag in list(ifd):
                name = ExifTags.TAGS.get(tag, str(tag))
                if is_exif_identifying(name):
                    removed.append(name)
                    del ifd[tag]
    args: dict = {"exif": kept_exif.tobytes()} if kept_exif is not None and len(kept_exif) else {}
    if extra.get("icc_profile"):
        args["icc_profile"] = extra["icc_profile"]  # colours, not a tag: kept under every policy
    if extra.get("dpi"):
        args["dpi"] = extra["dpi"]
    for key in ("xmp", "comment"):
        if extra.get(key) and policy == "keep":
            args[key] = extra[key]
        elif extra.get(key):
            removed.append("XMP" if key == "xmp" else "comment")
    if extra.get("text"):
        from PIL.PngImagePlugin import PngInfo

        from .media.streams import split_metadata

        kept, gone = split_metadata(extra["text"], policy)
        removed += gone
        info = PngInfo()
        for key, value in kept.items():
            info.add_text(key, str(value))
        args["pnginfo"] = info
    return args, removed
