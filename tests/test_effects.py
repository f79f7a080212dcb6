import numpy as np
import pytest

from vidanon.detections import Detections, head_boxes, scale_boxes
from vidanon.render.effects import Renderer
from vidanon.render.masks import alpha_map, detection_regions, ellipse_template, regions


def test_template_is_soft_ellipse():
    m = ellipse_template(64, 0.2)
    assert m.shape == (64, 64)
    assert m[32, 32] == 1.0 and m[0, 0] == 0.0 and m[0, 63] == 0.0
    # feathered: values strictly between 0 and 1 exist near the border
    assert ((m > 0.05) & (m < 0.95)).sum() > 50
    assert np.allclose(m, m.T) and np.allclose(m, m[::-1])


def test_regions_are_clipped_and_scaled():
    boxes = scale_boxes(np.array([[0.4, 0.4, 0.6, 0.6]]), 2.0)
    np.testing.assert_allclose(boxes, [[0.3, 0.3, 0.7, 0.7]])
    (r,) = regions(np.array([[-0.1, 0.9, 0.2, 1.2]]), 100, 200, 1.0)
    assert (r.y0, r.x0, r.y1, r.x1) == (0, 180, 20, 200)
    assert regions(np.array([[0.5, 0.5, 0.5, 0.5]]), 100, 100, 1.3) == []


@pytest.mark.parametrize("effect", ["blur", "pixelate", "fill"])
def test_effect_hides_face_and_leaves_rest_bit_identical(effect, face_image, detector):
    det = detector(face_image[None])[0]
    det = det[np.flatnonzero(det.scores >= 0.4)]
    assert len(det) >= 2
    out = Renderer(effect, mask_scale=1.3)(face_image, det)
    assert out.shape == face_image.shape and out.dtype == np.uint8
    h, w = face_image.shape[:2]
    # pixels outside every grown box are untouched
    outside = np.ones((h, w), bool)
    for r in detection_regions(det, h, w, 1.3):
        outside[r.y0:r.y1, r.x0:r.x1] = False
    assert np.array_equal(out[outside], face_image[outside])
    # inside each face box (the inner half) the detail is gone: what is left of its fine
    # structure (the image minus its 3x3 mean) no longer follows the face's; blur and fill
    # also leave little of its gradient (pixelation adds its own, at the block edges)
    from scipy.ndimage import uniform_filter

    def fine(x):
        g = x.mean(axis=2)
        return (g - uniform_filter(g, 3)).ravel()

    for x0, y0, x1, y1 in det.pixel_boxes(h, w):
        cy, cx, hh, hw = (y0 + y1) / 2, (x0 + x1) / 2, (y1 - y0) / 4, (x1 - x0) / 4
        a = face_image[int(cy - hh):int(cy + hh), int(cx - hw):int(cx + hw)].astype(float)
        b = out[int(cy - hh):int(cy + hh), int(cx - hw):int(cx + hw)].astype(float)
        detail_before = np.abs(np.diff(a, axis=1)).mean()
        detail_after = np.abs(np.diff(b, axis=1)).mean()
        fa, fb = fine(a), fine(b)
        follows = float(fa @ fb / np.sqrt((fa @ fa) * (fb @ fb))) if fb.any() else 0.0
        assert follows < 0.3, (effect, follows)
        if effect != "pixelate":
            assert detail_after < 0.5 * detail_before, (effect, detail_before, detail_after)
        assert np.abs(a - b).mean() > 3


def test_blur_strength_follows_face_size():
    """A large face is blurred as strongly (relative to its size) as a small one."""
    rng = np.random.RandomState(1)
    frame = (rng.rand(400, 400, 3) * 255).astype(np.uint8)
    big = Detections([[0.1, 0.1, 0.9, 0.9]], [1.0], [0])
    out = Renderer("blur", mask_scale=1.0)(frame, big)
    centre = out[150:250, 150:250].astype(float)
    # noise of the original is gone: neighbouring pixels are nearly equal
    assert np.abs(np.diff(centre, axis=0)).mean() < 3


def test_no_detections_returns_same_frame(face_image):
    assert Renderer("blur")(face_image, Detections.empty()) is face_image


def test_unknown_effect_rejected():
    with pytest.raises(ValueError):
        Renderer("sparkle")


def test_face_mask_is_head_shaped():
    """A face box's mask covers the head: the hair above the box and the ears beside it,
    not the neck below the chin (the mask is not the box grown symmetrically)."""
    face = Detections([[0.4, 0.45, 0.6, 0.55]], [0.9], [0])  # 40 x 40 px in a 200 x 400 frame
    alpha = alpha_map(face, 200, 400, 1.45)
    top, bottom, left, right = 80, 120, 180, 220
    assert alpha[top - 14, 200] == 1.0  # hair, 0.35 box-heights above the box
    assert alpha[100, left - 6] == 1.0 and alpha[100, right + 5] == 1.0  # ears, 0.15 box-widths beside it
    assert alpha[bottom + 2, 200] == 1.0  # the chin
    assert alpha[bottom + 16, 200] == 0.0  # the neck, 0.4 box-heights below the chin
    assert alpha[top - 26, 200] == 0.0  # nothing above the hair
    # people keep their own masks, grown as they are
    person = Detections([[0.4, 0.45, 0.6, 0.55]], [0.9], [1], masks=np.ones((1, 8, 8), np.float32))
    (r,) = detection_regions(person, 200, 400, 1.0)
    assert np.abs(np.subtract((r.y0, r.x0, r.y1, r.x1), (80, 180, 120, 220))).max() <= 1
    np.testing.assert_allclose(head_boxes([[0.4, 0.45, 0.6, 0.55]]), [[0.34, 0.4375, 0.6, 0.5625]])


def test_head_of_labelled_faces_is_covered(shared, detector):
    """On labelled photos, the detected faces' masks cover the face label widened 1.3x
    and raised by half its height (hair, ears), the issue's measure of a whole head."""
    import imageio.v3 as iio

    from vidanon.detections import iou_matrix
    from vidanon.evaluation import load_stills

    covered = []
    for image in list(load_stills(shared / "stills" / "testing.xml"))[:12]:
        pixels = iio.imread(image.path)[..., :3]
        h, w = pixels.shape[:2]
        dets = detector(pixels[None])[0]
        dets = dets[np.flatnonzero(dets.scores >= 0.4)]
        alpha = alpha_map(dets, h, w, 1.45)
        labels = np.array([[y1 / h, x1 / w, y2 / h, x2 / w] for x1, y1, x2, y2 in image.boxes])
        if not len(dets) or not len(labels):
            continue
        found = iou_matrix(labels, dets.boxes).max(axis=1) >= 0.3
        for (x1, y1, x2, y2), ok in zip(image.boxes, found):
            if not ok:
                continue
            fw, fh = x2 - x1, y2 - y1
            ya, yb = int(max(0, y1 - 0.5 * fh)), int(min(h, y2))
            xa, xb = int(max(0, x1 - 0.15 * fw)), int(min(w, x2 + 0.15 * fw))
            covered.append(float((alpha[ya:yb, xa:xb] >= 0.5).mean()))
    assert len(covered) >= 8
    assert np.median(covered) >= 0.9 and min(covered) >= 0.6, covered


def test_alpha_map_follows_the_renderer_per_label():
    """A plate's mask is the feathered rectangle the renderer pastes (its corners hidden), a
    face's the head ellipse (its box's corners hidden only inside the ellipse)."""
    box = [[0.4, 0.4, 0.6, 0.6]]
    plate = alpha_map(Detections(box, [0.9], [2]), 100, 100, 1.45)
    face = alpha_map(Detections(box, [0.9], [0]), 100, 100, 1.45)
    assert plate[41, 41] == 1.0 and plate[59, 59] == 1.0 and plate[30, 50] == 0.0
    assert face[59, 41] < 1.0 and face[50, 50] == 1.0


def _noise_and_face(size=240):
    rng = np.random.RandomState(2)
    return (rng.rand(size, size, 3) * 255).astype(np.uint8), Detections([[0.3, 0.3, 0.7, 0.7]], [1.0], [0])


def test_strength_sets_the_cells_across_a_face():
    frame, face = _noise_and_face()
    centre = (slice(110, 130), slice(110, 130))

    def blocks(out):  # distinct colours in the inner part of the pixelated face
        return len(np.unique(out[centre].reshape(-1, 3), axis=0))

    default = Renderer("pixelate", mask_scale=1.0)(frame, face)
    coarse = Renderer("pixelate", mask_scale=1.0, cells=2)(frame, face)
    fine = Renderer("pixelate", mask_scale=1.0, cells=32)(frame, face)
    assert blocks(coarse) < blocks(default) < blocks(fine)


def test_pixelate_hides_a_face_of_a_few_pixels():
    """An 8 px face in 8 blocks was blocks of one pixel: the face as it was. Blocks are at
    least 3 px wide (an 8 px face: under 3 blocks across)."""
    from vidanon.detections import Detections

    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    h, w = frame.shape[:2]
    face = Detections(np.array([[60 / h, 80 / w, 68 / h, 87 / w]]), [0.9], [0])  # 8 x 7 px
    out = Renderer("pixelate")(frame, face)
    inner = (slice(61, 67), slice(81, 86))
    assert np.abs(out[inner].astype(int) - frame[inner]).mean() > 30  # noise averaged over blocks
    assert len(np.unique(out[inner].reshape(-1, 3), axis=0)) <= 9


def test_options_of_strength_fill_color_and_image(tmp_path):
    from PIL import Image

    from vidanon.options import PYTHON, OptionError, Options, spoken

    with spoken(PYTHON):
        _check_style_options(tmp_path, Image, OptionError, Options)


def _check_style_options(tmp_path, Image, OptionError, Options):
    assert Options.from_kwargs(effect="fill", fill_color="#FF8000").fill_color == (255, 128, 0)
    assert Options.from_kwargs(effect="fill", fill_color="white").fill_color == (255, 255, 255)
    assert Options.from_kwargs(effect="blur", strength=12).style_warning().startswith(
        "strength=12 is weaker than the default (6 cells")
    assert Options.from_kwargs(effect="pixelate", strength=4).style_warning() is None
    assert Options.from_kwargs(effect="splash").style_warning() == (
        "effect='splash' is a look, not anonymization: faces stay visible (people in colour, the rest grey)")
    assert Options.from_kwargs(mask_scale=1.0).style_warning().startswith("mask_scale=1 makes the masks smaller")
    Image.new("RGB", (4, 4)).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    assert Options.from_kwargs(effect="fill", fill_color="#FF8000FF").fill_color == (255, 128, 0)
    for kwargs, needle in (({"effect": "fill", "fill_color": "nocolour"}, "fill_color must be a colour"),
                           # #RRGGBBAA was drawn opaque without a word
                           ({"effect": "fill", "fill_color": "#FF000080"}, "fill_color='#FF000080' is transparent"),
                           ({"effect": "blur", "fill_color": "red"}, "fill_color applies to effect='fill'"),
                           ({"effect": "fill", "strength": 3}, "strength applies to effect='blur'"),
                           # the splash draws people's own outlines: mask_scale=3 was taken and changed nothing
                           ({"effect": "splash", "mask_scale": 3}, "mask_scale grows the masks of the faces"),
                           # the face detector's options too: splash looks for no face (taken, without a word)
                           ({"effect": "splash", "turned_faces": True}, "turned_faces=True sets the face detector"),
                           ({"effect": "splash", "detect_size": 128}, "detect_size=128 sets the face detector"),
                           ({"effect": "splash", "model": "float"}, "model='float' sets the face detector"),
                           ({"keep": "1", "track": False}, "keep leaves tracks unmasked; track=False makes none"),
                           ({"effect": "image"}, "needs image='PATH'"),
                           ({"effect": "image", "image": tmp_path / "bad.png"}, "cannot read the image"),
                           ({"effect": "image", "image": tmp_path / "ok.png", "target": "people"}, "covers heads")):
        with pytest.raises(OptionError, match=needle):
            Options.from_kwargs(**kwargs)


def test_fill_color_and_image_effect():
    from vidanon.render.compositor import Compositor
    from vidanon.render.masks import alpha_map

    frame, face = _noise_and_face()
    red = Compositor("fill", 1.0, False, fill_color=(255, 0, 0))(frame, face)
    assert (red[120, 120] == (255, 0, 0)).all()
    # an image: green, its left half transparent, stretched over the head box
    image = np.zeros((10, 20, 4), np.uint8)
    image[..., 1] = 255
    image[:, 10:, 3] = 255
    out = Compositor("image", 1.0, False, image=image)(frame, face)
    (r,) = detection_regions(face, 240, 240, 1.0)
    left, right = (slice(r.y0 + 2, r.y1 - 2), slice(r.x0 + 2, (r.x0 + r.x1) // 2 - 8)), \
        (slice(r.y0 + 2, r.y1 - 2), slice((r.x0 + r.x1) // 2 + 8, r.x1 - 2))  # an image pixel is 6 px
    assert (out[right] == (0, 255, 0)).all()  # opaque half: the image
    # transparent half: the face blurred (as --effect blur), not the frame
    assert np.array_equal(out[left], Renderer("blur", mask_scale=1.0)(frame, face)[left])
    assert not np.array_equal(out[left], frame[left])
    outside = alpha_map(face, 240, 240, 1.0) == 0
    outside[r.y0:r.y1, r.x0:r.x1] = False
    assert np.array_equal(out[outside], frame[outside])


def test_image_effect_never_shows_the_face():
    """A transparent or half-transparent image lies over the blurred face; an emoji (an opaque
    disc, transparent corners) shows itself over the face and the frame in its corners."""
    from vidanon.render.compositor import Compositor

    frame, face = _noise_and_face()
    blurred = Renderer("blur", mask_scale=1.0)(frame, face)
    (r,) = detection_regions(face, 240, 240, 1.0)
    centre = (slice(110, 130), slice(110, 130))
    image = np.zeros((64, 64, 4), np.uint8)
    image[..., 0] = 200
    for a in (0, 128):
        image[..., 3] = a
        out = Compositor("image", 1.0, False, image=image)(frame, face).astype(float)
        want = blurred[centre] + (np.array([200, 0, 0]) - blurred[centre]) * a / 255
        assert np.abs(out[centre] - want).max() <= 1
    y, x = np.mgrid[:64, :64] + 0.5
    image[..., 3] = np.where((y - 32) ** 2 + (x - 32) ** 2 <= 30**2, 255, 0)
    out = Compositor("image", 1.0, False, image=image)(frame, face)
    assert (out[centre] == (200, 0, 0)).all()
    corner = (slice(r.y0, r.y0 + 4), slice(r.x0, r.x0 + 4))
    assert np.array_equal(out[corner], frame[corner])


def test_image_files_are_read_in_full_and_once_small(tmp_path):
    """--image: a damaged file or a decompression bomb is an OptionError at the check; a 16-bit
    grey is scaled to 8 bits, not clipped to white; a large image is reduced once at load."""
    import struct
    import zlib

    from PIL import Image

    from vidanon.options import OptionError, Options
    from vidanon.render.effects import load_image

    Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(tmp_path / "grey16.png")
    grey = load_image(tmp_path / "grey16.png")
    assert grey.dtype == np.uint8 and (grey[..., :3] == 156).all() and (grey[..., 3] == 255).all()
    Image.new("RGBA", (3000, 1000), (10, 20, 30, 255)).save(tmp_path / "wide.png")
    wide = load_image(tmp_path / "wide.png")
    assert wide.shape == (341, 1024, 4) and (wide == (10, 20, 30, 255)).all()  # at most 1024 px
    Image.new("RGBA", (16, 16), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    from vidanon.render.effects import face_cover  # the share of the middle that hides the face

    assert face_cover(wide) == 1.0 and face_cover(load_image(tmp_path / "clear.png")) == 0.0
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(tmp_path / "full.jpg", quality=90)
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "full.jpg").read_bytes()[:3000])
    png = bytearray((tmp_path / "clear.png").read_bytes())  # its header made to claim 100000 x 100000
    png[16:24] = struct.pack(">II", 100000, 100000)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    (tmp_path / "bomb.png").write_bytes(bytes(png))
    for name, needle in (("cut.jpg", "truncated"), ("bomb.png", "exceeds limit")):
        with pytest.raises(OptionError, match=f"cannot read the image .*{name}: .*{needle}"):
            Options.from_kwargs(effect="image", image=tmp_path / name)


def test_effects_as_matrix_products_equal_the_step_by_step_effects():
    """Blur, pixelate and fill computed as one matrix product per axis give the pixels of the
    step-by-step resizes (area down, Gaussian, bilinear or nearest up) to one grey level, in
    all but a few pixels of a thousand (float rounding at a half), for regions from 1 pixel to
    large ones, reduced a little or a lot."""
    from vidanon.render.effects import apply_effect, effect_reference

    rng = np.random.default_rng(4)
    differing = total = 0
    for h, w, sh, sw in ((1, 1, 1, 1), (3, 7, 3, 2), (17, 13, 6, 5), (40, 31, 7, 6), (64, 64, 64, 64),
                         (230, 180, 6, 5), (95, 120, 11, 14)):  # fmt: skip
        region = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        alpha = rng.uniform(0, 1, (h, w)).astype(np.float32)
        alpha[: h // 3] = 0.0  # outside the ellipse: untouched
        for effect in (0, 1, 2):
            got = apply_effect(region, alpha, (sh, sw), effect, np.array([10, 200, 30], np.float32))
            want = effect_reference(region, alpha, (sh, sw), effect, np.array([10, 200, 30], np.float32))
            diff = np.abs(got.astype(int) - want)
            assert diff.max() <= 1
            assert np.array_equal(got[: h // 3], region[: h // 3])
            differing, total = differing + int((diff > 0).sum()), total + diff.size
    assert differing <= total / 1000


def test_pasted_masks_are_the_crops_of_each_mask():
    """The renderer's masks, pasted for all of a frame's boxes together, are what
    crop_and_resize pastes for each box alone (faces' ellipses and plates' rectangles)."""
    from vidanon.detections import PLATE
    from vidanon.render.effects import pasted_masks
    from vidanon.render.masks import mask_crop, shaped_regions
    from vidanon.resample import crop_and_resize

    boxes = np.array([[0.1, 0.1, 0.3, 0.2], [0.5, 0.6, 0.52, 0.61], [-0.05, 0.9, 0.2, 1.1], [0.4, 0.2, 0.45, 0.3]])
    dets = Detections(boxes, np.full(4, 0.9, np.float32), np.array([0, 0, 0, PLATE]))
    shaped = shaped_regions(dets, 360, 640, 1.45)
    assert len(shaped) == 4
    for (region, mask), got in zip(shaped, pasted_masks(shaped)):
        want = crop_and_resize(mask, mask_crop(region, mask.shape[0]), region.y1 - region.y0, region.x1 - region.x0)
        np.testing.assert_allclose(got, want, atol=1e-5)
