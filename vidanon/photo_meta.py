"""A photo's metadata under the metadata policy (``--keep-metadata``, ``--strip-metadata``,
by default "private"): which EXIF tags, XMP, comments and PNG text chunks the output carries
(:func:`photo_metadata`), and the names of those left out for the summary."""

from __future__ import annotations

# EXIF's own names for device and owner details that the video rule (is_identifying) does not
# know: a photo's Artist (XPAuthor) is the person who took it, or whose camera did.
EXIF_DEVICE_TAGS = {"MakerNote", "LensMake", "LensModel", "LensSpecification", "HostComputer", "ImageUniqueID",
                    "ProcessingSoftware",
                    "XPComment", "Artist", "XPAuthor"}  # fmt: skip


# The PNG specification's keywords for the same: Source is "the device used to create the image",
# Author its creator (and, as in EXIF, Artist and Owner where programs write them).
PNG_DEVICE_KEYWORDS = {"source", "author", "artist", "owner"}


def is_exif_identifying(name: str) -> bool:
    """An EXIF tag (as Pillow names it) that says where or with which device a photo was
    taken: the video rule, and EXIF's own device names."""
    from .media.streams import is_identifying

    return is_identifying(name) or name in EXIF_DEVICE_TAGS


# Tags of IFD0 that point to other blocks (sub-IFDs, the thumbnail): never copied as they are.
POINTERS = {0x8769: "ExifOffset", 0x8825: "GPSInfo", 0xA005: "InteropOffset", 0x014A: "SubIFDs",
            0x0201: "JpegIFOffset", 0x0202: "JpegIFByteCount"}  # fmt: skip
# Tags of IFD0 that hold other formats whole, which can carry a picture of the photo as it was
# (Photoshop's resources a JPEG thumbnail, an XMP packet a base64 one) and more of the same
# (IPTC): never copied, under any policy (the photo's own XMP packet follows the policy).
EMBEDDED = {0x8649: "ImageResources", 0x02BC: "XMLPacket", 0x83BB: "IPTC"}


def exif_kept(exif, policy: str):
    """A new EXIF holding only the tags kept under ``policy`` (IFD0's, the Exif IFD's and the
    GPS IFD's; never IFD1, the thumbnail), or None; and the names of the tags left out.

    A new one, not ``exif`` with tags deleted: Pillow writes back every sub-IFD it has read
    (the GPS IFD once the orientation was applied), its pointer deleted or not."""
    from PIL import ExifTags, Image

    if policy == "strip":
        return None, [ExifTags.TAGS.get(tag, str(tag)) for tag in exif]
    removed: list[str] = []

    def kept(ifd: dict, names: dict) -> dict:
        out = {}
        for tag, value in ifd.items():
            name = names.get(tag, str(tag))
            if policy == "private" and is_exif_identifying(name):
                removed.append(name)
            elif tag == ExifTags.IFD.Interop:  # a block of its own (the interoperability index)
                if interop := {k: v for k, v in exif.get_ifd(tag).items() if not isinstance(v, dict)}:
                    out[tag] = interop
            elif not isinstance(value, dict):
                out[tag] = value
        return out

    removed += [EMBEDDED[tag] for tag in exif if tag in EMBEDDED]
    fresh = Image.Exif()
    fresh.update(kept({tag: value for tag, value in exif.items() if tag not in POINTERS and tag not in EMBEDDED},
                      ExifTags.TAGS))  # fmt: skip
    for pointer, names in ((ExifTags.IFD.Exif, ExifTags.TAGS), (ExifTags.IFD.GPSInfo, ExifTags.GPSTAGS)):
        if pointer not in exif:
            continue
        if policy == "private" and is_exif_identifying(POINTERS[pointer]):
            removed.append(POINTERS[pointer])  # the whole block (GPS)
            continue
        block = kept(exif.get_ifd(pointer), names)
        if block:
            fresh[pointer] = block
    return fresh, removed


def photo_metadata(exif, extra: dict, policy: str) -> tuple[dict, list[str]]:
    """The keyword arguments of Pillow's save that carry the metadata kept under ``policy``
    ("private", "keep" or "strip"), and the names of the tags left out."""
    kept_exif, removed = exif_kept(exif, policy)
    args: dict = {}
    if kept_exif is not None and len(kept_exif):
        try:
            args["exif"] = kept_exif.tobytes()
        except Exception:  # a damaged tag (a value of the wrong type): the EXIF is left out, not the photo
            removed.append("EXIF (damaged)")
    if extra.get("icc_profile"):
        args["icc_profile"] = extra["icc_profile"]  # colours, not a tag: kept under every policy
    if extra.get("dpi"):
        args["dpi"] = extra["dpi"]
    for key in ("xmp", "comment"):
        if key == "xmp" and XMP_CHUNK in extra.get("text", {}):
            continue  # a PNG's: its text chunk, below
        if extra.get(key) and policy == "keep" and key == "xmp":
            args[key], pictures = xmp_kept(extra[key])
            removed += pictures
        elif extra.get(key) and policy == "keep":
            args[key] = extra[key]
        elif extra.get(key):
            removed.append("XMP" if key == "xmp" else "comment")
    if extra.get("photoshop"):  # a JPEG's APP13 (Photoshop's resources): its IPTC, under the policy
        resources = extra["photoshop"]
        if resources.get(IPTC_RESOURCE) and policy == "keep":
            args["app13"] = resources[IPTC_RESOURCE]
        elif resources.get(IPTC_RESOURCE):
            removed.append("IPTC")
        if set(resources) - {IPTC_RESOURCE}:  # its other resources can hold a thumbnail: never copied
            removed.append("Photoshop resources")
    colour = colour_chunks(extra)
    if extra.get("text") or colour:
        from PIL.PngImagePlugin import PngInfo

        kept, gone = png_text_kept(extra.get("text", {}), policy, exif_from_text=not extra.get("exif_chunk"))
        removed += gone
        info = PngInfo()
        for cid, data in colour:
            info.add(cid, data)  # written before the picture, as PNG wants
        for key, value in kept.items():
            if key == XMP_CHUNK:
                info.add_itxt(key, str(value))  # as the XMP specification writes it
            else:
                info.add_text(key, str(value))
        args["pnginfo"] = info
    return args, list(dict.fromkeys(removed))


# A PNG's colour chunks as Pillow reads them (im.info): how its samples are to be shown,
# colour, not tags, kept under every policy as the ICC profile is. Pillow does not write them.
COLOUR_CHUNKS = {"gamma": b"gAMA", "chromaticity": b"cHRM", "srgb": b"sRGB"}


def colour_chunks(extra: dict) -> list[tuple[bytes, bytes]]:
    """The PNG chunks (gAMA, cHRM, sRGB) holding the colour values of ``extra``: gamma and the
    chromaticities are stored as integers times 100000, the sRGB rendering intent as a byte."""
    import struct

    chunks = []
    for key, cid in COLOUR_CHUNKS.items():
        value = extra.get(key)
        if value is None:
            continue
        if key == "srgb":
            chunks.append((cid, bytes([int(value)])))
        else:
            values = value if isinstance(value, (tuple, list)) else (value,)
            chunks.append((cid, struct.pack(f">{len(values)}I", *(round(v * 100000) for v in values))))
    return chunks


# An XMP packet's pictures: Adobe's thumbnails (xmp:Thumbnails, each an xmpGImg:image) and any
# other element or attribute holding a long base64 text (Google's GImage:Data, the photo before its
# portrait blur; GDepth:Data): a picture of the photo as it was, the faces in it. Base64 may be
# broken into lines, or written with character references (&#xA;); a run of 64 characters with
# no space tells it from words.
_BASE64 = r"(?:[A-Za-z0-9+/=\s]|&#x?[0-9A-Fa-f]+;){200,}"
XMP_PICTURES = (r"<([\w.-]+):Thumbnails\b.*?</\1:Thumbnails>",
                rf"<([\w.-]+:[\w.-]+)\b[^>]*>\s*{_BASE64}\s*</\1>",
                rf"\s[\w.-]+:[\w.-]+=[\"']{_BASE64}[\"']")  # fmt: skip


def xmp_kept(packet):
    """The XMP ``packet`` as ``--keep-metadata`` writes it: upright (:func:`xmp_upright`), its
    pictures (:data:`XMP_PICTURES`) left out; and ``["XMP thumbnail"]`` where it held one."""
    import re

    text = isinstance(packet, str)
    found = []

    def cut(match):
        picture = match.group(0).startswith("<") and ":Thumbnails" in match.group(0)[:80]
        if picture or re.search(r"[A-Za-z0-9+/]{64}", match.group(0)):
            found.append(True)
            return ""
        return match.group(0)

    packet = packet if text else packet.decode("utf-8", "surrogateescape")
    for pattern in XMP_PICTURES:
        packet = re.sub(pattern, cut, packet, flags=re.DOTALL)
    packet = packet if text else packet.encode("utf-8", "surrogateescape")
    return xmp_upright(packet), ["XMP thumbnail"] if found else []


def xmp_upright(packet):
    """The XMP ``packet`` (bytes or text) with its orientation (tiff:Orientation) 1: the photo is
    written upright, and a reader honouring the XMP would turn it again."""
    import re

    for pattern, upright in ((r'(tiff:Orientation=["\'])[0-9]', r"\g<1>1"),
                             (r"(<tiff:Orientation>)\s*[0-9]\s*(</tiff:Orientation>)", r"\g<1>1\g<2>")):  # fmt: skip
        if isinstance(packet, bytes):
            packet = re.sub(pattern.encode(), upright.encode(), packet)
        else:
            packet = re.sub(pattern, upright, packet)
    return packet


def raw_profile_data(value: str) -> bytes:
    """The data of ImageMagick's raw profile text ("\\nKIND\\n  LENGTH\\nHEX...")."""
    try:
        return bytes.fromhex("".join(str(value).split("\n")[3:]))
    except ValueError:
        return b""


# PNG text chunks that carry a block of metadata under another name: Adobe's XMP (an iTXt
# chunk) and ImageMagick's raw profiles (hex): EXIF (read by Pillow as the photo's EXIF when the
# PNG has no eXIf chunk), XMP, IPTC, Photoshop resources (8BIM, which can hold a thumbnail),
# APP1 and others.
XMP_CHUNK = "XML:com.adobe.xmp"
RAW_PROFILE = "raw profile type "
RAW_NAMES = {"xmp": "XMP", "iptc": "IPTC", "8bim": "Photoshop resources", "exif": "raw EXIF profile"}


def png_text_kept(text: dict, policy: str, exif_from_text: bool) -> tuple[dict, list[str]]:
    """The PNG text chunks kept under ``policy`` and the names of those left out. XMP and IPTC
    are kept only under "keep"; a raw EXIF profile is never copied as text (its thumbnail shows
    the faces): when it is the photo's EXIF (``exif_from_text``), its tags are written, under
    the policy, as the output's eXIf chunk; the other raw profiles are never copied. The
    plain text chunks follow the video rule (:func:`vidanon.media.streams.split_metadata`)."""
    from .media.streams import split_metadata

    plain, kept, removed = {}, {}, []
    for key, value in text.items():
        raw = key.lower().startswith(RAW_PROFILE)
        kind = "xmp" if key == XMP_CHUNK else key[len(RAW_PROFILE):].strip().lower() if raw else None
        if kind is None and policy == "private" and key.strip().lower() in PNG_DEVICE_KEYWORDS:
            removed.append(key)
        elif kind is None:
            plain[key] = value
        elif kind == "xmp" and policy == "keep":  # a raw profile's as Adobe's chunk: one XMP, upright
            packet = value if key == XMP_CHUNK else raw_profile_data(value).decode("utf-8", "replace")
            if key == XMP_CHUNK or XMP_CHUNK not in kept:
                kept[XMP_CHUNK], pictures = xmp_kept(packet)
                removed += pictures
        elif kind == "iptc" and policy == "keep":
            kept[key] = value
        elif not (kind == "exif" and exif_from_text):  # the photo's EXIF goes through exif_kept
            removed.append(RAW_NAMES.get(kind, key))
    plain, gone = split_metadata(plain, policy)
    return {**plain, **kept}, removed + gone


IPTC_RESOURCE = 0x0404  # Photoshop's resource holding the IPTC record (city, by-line, keywords)


def with_iptc(jpeg: bytes, iptc: bytes) -> bytes | None:
    """The JPEG file ``jpeg`` with an APP13 segment holding ``iptc`` as Photoshop's resource
    (after its APP segments, where Photoshop writes it); None where it does not fit a segment."""
    import struct

    block = b"8BIM" + struct.pack(">HHI", IPTC_RESOURCE, 0, len(iptc)) + iptc + b"\0" * (len(iptc) % 2)
    payload = b"Photoshop 3.0\0" + block
    if len(payload) > 65533:
        return None
    at = 2  # after SOI, past the APPn segments (JFIF, EXIF, XMP, ICC)
    while jpeg[at:at + 1] == b"\xff" and 0xE0 <= jpeg[at + 1] <= 0xEF:
        at += 2 + struct.unpack(">H", jpeg[at + 2:at + 4])[0]
    return jpeg[:at] + b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload + jpeg[at:]

