"""A photo's metadata and colour as a QA sweep found them wrong (session 27): pictures inside
a kept XMP packet, an orientation only Pillow reads, a CMYK profile on RGB samples, the PNG
keywords naming the device or the person, the JPEG's IPTC, a gamma a JPEG cannot hold."""

import base64
import io
import struct

import pytest
from conftest import SAMPLE, read_frames
from PIL import Image, ImageCms, PngImagePlugin


def face_photo() -> Image.Image:
    return Image.fromarray(read_frames(SAMPLE)[20])  # a face the detector finds


def thumbnail_b64() -> str:
    buf = io.BytesIO()
    face_photo().resize((160, 90)).save(buf, "JPEG", quality=85)
    return base64.b64encode(buf.getvalue()).decode()


def xmp_with_pictures() -> str:
    thumb = thumbnail_b64()
    lines = "&#xA;".join(thumb[i:i + 76] for i in range(0, len(thumb), 76))  # as Adobe writes it
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
            'xmlns:xmpGImg="http://ns.adobe.com/xap/1.0/g/img/" xmlns:GImage="http://ns.google.com/photos/1.0/image/" '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/" GImage:Data="{thumb}" xmp:Rating="4">'
            '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">' + "a long caption " * 30 + '</rdf:li></rdf:Alt>'
            '</dc:description><xmp:Thumbnails><rdf:Alt><rdf:li rdf:parseType="Resource">'
            f'<xmpGImg:format>JPEG</xmpGImg:format><xmpGImg:image>{lines}</xmpGImg:image></rdf:li></rdf:Alt>'
            '</xmp:Thumbnails></rdf:Description></rdf:RDF></x:xmpmeta>')  # fmt: skip


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_a_kept_xmp_packet_loses_its_pictures_not_its_tags(tmp_path, run_inprocess, suffix):
    # --keep-metadata kept Adobe's XMP thumbnail (the photo with the faces, 256x192) and Google's
    # GImage:Data whole; the EXIF thumbnail was already never copied
    src = tmp_path / f"in{suffix}"
    if suffix == ".png":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp_with_pictures())
        face_photo().save(src, pnginfo=info)
    else:
        face_photo().save(src, quality=95, xmp=xmp_with_pictures().encode())
    out = tmp_path / f"out{suffix}"
    code, stdout, err = run_inprocess(src, out, "--keep-metadata")
    assert code == 0 and "XMP thumbnail" in stdout, (stdout, err)
    data = out.read_bytes()
    assert b"xmpGImg:image" not in data and b"GImage:Data" not in data and thumbnail_b64()[:64].encode() not in data
    assert b'xmp:Rating="4"' in data and data.count(b"a long caption") == 30  # the rest of the packet kept


def test_only_the_exif_orientation_turns_a_photo(tmp_path, run_inprocess):
    # a JPEG without EXIF whose XMP says tiff:Orientation 6 (which browsers ignore) came out turned
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')
    picture = face_photo()
    picture.save(tmp_path / "xmp.jpg", quality=95, xmp=xmp)
    exif = Image.Exif()
    exif[0x0112] = 6
    picture.save(tmp_path / "exif.jpg", quality=95, exif=exif.tobytes())
    for name, size in (("xmp", picture.size), ("exif", picture.size[::-1])):
        out = tmp_path / f"{name}_out.jpg"
        code, stdout, err = run_inprocess(tmp_path / f"{name}.jpg", out, "--keep-metadata")
        assert code == 0, err
        with Image.open(out) as im:
            assert im.size == size and im.getexif().get(0x0112, 1) == 1, name
            assert b'tiff:Orientation="6"' not in (im.info.get("xmp") or b"")  # written as shown: 1


def test_a_cmyk_profile_is_not_put_on_rgb_samples(tmp_path, run_inprocess):
    # a CMYK JPEG's profile was copied onto the RGB output (PNG forbids it, viewers misapply it)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    broken = bytearray(srgb)
    broken[16:20] = b"CMYK"  # a CMYK profile littlecms cannot use: the plain conversion, said
    face_photo().convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95, icc_profile=bytes(broken))
    for suffix in (".jpg", ".png"):
        out = tmp_path / f"out{suffix}"
        code, stdout, err = run_inprocess(tmp_path / "cmyk.jpg", out)
        assert code == 0 and "CMYK colour profile cannot be read" in err, err
        with Image.open(out) as im:
            assert im.mode == "RGB" and not im.info.get("icc_profile")


def test_png_keywords_naming_the_device_or_the_person_are_removed(tmp_path, run_inprocess):
    info = PngImagePlugin.PngInfo()
    for key, value in (("Source", "Canon EOS 5D Mark IV"), ("Author", "Jane Roe"), ("Artist", "Jane Roe"),
                       ("Owner", "J. Roe"), ("Title", "Harbour")):  # fmt: skip
        info.add_text(key, value)
    face_photo().save(tmp_path / "in.png", pnginfo=info)
    code, stdout, err = run_inprocess(tmp_path / "in.png", tmp_path / "out.png")
    assert code == 0, err
    assert all(key in stdout for key in ("Source", "Author", "Artist", "Owner")), stdout
    with Image.open(tmp_path / "out.png") as im:
        assert im.text == {"Title": "Harbour"}
    code, stdout, err = run_inprocess(tmp_path / "in.png", tmp_path / "kept.png", "--keep-metadata")
    with Image.open(tmp_path / "kept.png") as im:
        assert im.text["Source"] == "Canon EOS 5D Mark IV" and im.text["Owner"] == "J. Roe"


def jpeg_with_app13(picture: Image.Image, resources: bytes) -> bytes:
    buf = io.BytesIO()
    picture.save(buf, "JPEG", quality=95)
    app13 = b"Photoshop 3.0\x00" + resources
    return buf.getvalue()[:2] + b"\xff\xed" + struct.pack(">H", len(app13) + 2) + app13 + buf.getvalue()[2:]


def resource(rid: int, data: bytes) -> bytes:
    return b"8BIM" + struct.pack(">HHI", rid, 0, len(data)) + data + b"\x00" * (len(data) % 2)


def test_a_jpegs_iptc_is_named_removed_and_kept_on_request(tmp_path, run_inprocess):
    # the IPTC record (APP13) was dropped without a word, also with --keep-metadata
    iptc = b"\x1c\x02\x5a" + struct.pack(">H", 6) + b"Zurich" + b"\x1c\x02\x50" + struct.pack(">H", 8) + b"John Doe"
    thumb = io.BytesIO()
    face_photo().resize((64, 36)).save(thumb, "JPEG")
    src = tmp_path / "in.jpg"
    src.write_bytes(jpeg_with_app13(face_photo(), resource(0x0404, iptc) + resource(0x040C, thumb.getvalue())))
    code, stdout, err = run_inprocess(src, tmp_path / "default.jpg")
    assert code == 0 and "IPTC" in stdout and "Photoshop resources" in stdout, (stdout, err)
    assert b"Zurich" not in (tmp_path / "default.jpg").read_bytes()
    code, stdout, err = run_inprocess(src, tmp_path / "kept.jpg", "--keep-metadata")
    assert code == 0 and "Photoshop resources" in stdout, (stdout, err)
    with Image.open(tmp_path / "kept.jpg") as im:
        assert im.info["photoshop"] == {0x0404: iptc}  # the thumbnail's resource never copied
        im.load()
    assert (tmp_path / "kept.jpg").read_bytes().count(b"\xff\xd8") == 1  # one picture: the photo


def test_a_gamma_a_jpeg_cannot_hold_is_said(tmp_path, run_inprocess):
    src = tmp_path / "g.png"
    face_photo().save(src)
    data = src.read_bytes()
    chunk = b"gAMA" + struct.pack(">I", 100000)  # gamma 1.0
    import zlib

    src.write_bytes(data[:33] + struct.pack(">I", 4) + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[33:])
    code, _, err = run_inprocess(src, tmp_path / "out.jpg")
    assert code == 0 and "gamma (1, a PNG gAMA chunk) cannot be written in a JPEG" in err, err
    code, _, err = run_inprocess(src, tmp_path / "out.png")
    assert code == 0 and "gamma" not in err


def test_a_photo_run_takes_its_output_name_first(tmp_path, monkeypatch):
    # the name was taken after the photo was read: a second run wrote it meanwhile, the first then failed
    from vidanon import photo, photo_io

    face_photo().save(tmp_path / "in.jpg")
    target = tmp_path / "out.jpg"
    seen = []

    def reading(path):
        seen.append(target.exists() and target.stat().st_size == 0)  # the placeholder is there already
        return read(path)

    read = photo_io.read_photo
    monkeypatch.setattr(photo, "read_photo", reading)
    photo.anonymize_photo(tmp_path / "in.jpg", target)
    assert seen == [True] and target.stat().st_size > 0
    monkeypatch.setattr(photo, "read_photo", lambda path: (_ for _ in ()).throw(OSError("unreadable")))
    with pytest.raises(OSError):
        photo.anonymize_photo(tmp_path / "in.jpg", tmp_path / "failed.jpg")
    assert not (tmp_path / "failed.jpg").exists()  # a failed run gives its name back
