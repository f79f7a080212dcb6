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
