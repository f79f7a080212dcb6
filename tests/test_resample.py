"""vidanon.resample computes what TensorFlow's image ops compute (the CPU path's detector
input and second-look crops, and the effects, run without TensorFlow)."""

import numpy as np
import pytest

from vidanon import resample


@pytest.fixture(scope="module")
def tf():
    from vidanon.detect.tf_setup import import_tensorflow

    return import_tensorflow()


SIZES = [(270, 480), (360, 640), (17, 5), (1, 1)]


@pytest.mark.parametrize("method", ["area", "bilinear", "nearest"])
def test_resize_matches_tensorflow(tf, method):
    rng = np.random.default_rng(0)
    for h, w in SIZES:
        image = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
        for oh, ow in [(2 * h, 2 * w), (round(1.5 * h), round(1.5 * w)), (max(1, h // 2), max(1, w // 2)),
                       (7, 9), (1, 1), (max(1, round(0.37 * h)), max(1, round(0.61 * w)))]:  # fmt: skip
            want = tf.image.resize(image[None].astype(np.float32), (oh, ow), method=method)[0].numpy()
            got = resample.resize(image, oh, ow, method)
            assert got.shape == want.shape and got.dtype == np.float32
            np.testing.assert_allclose(got, want, atol=1e-3)


def test_crop_and_resize_matches_tensorflow(tf):
    """Crops inside, across and outside the image (outside: 0), of one pixel and of none."""
    rng = np.random.default_rng(1)
    for h, w in SIZES:
        image = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
        mask = rng.uniform(0, 1, (h, w)).astype(np.float32)
        for box in [(0, 0, 1, 1), (-0.2, 0.1, 0.7, 1.3), (0.3, 0.3, 0.31, 0.35), (0.5, 0.5, 0.5, 0.5), (1.2, 0, 1.5, 1)]:
            for oh, ow in [(160, 160), (1, 1), (33, 7)]:
                want = tf.image.crop_and_resize(image[None].astype(np.float32), [box], [0], (oh, ow))[0].numpy()
                np.testing.assert_allclose(resample.crop_and_resize(image, box, oh, ow), want, atol=1e-3)
                want = tf.image.crop_and_resize(mask[None, ..., None], [box], [0], (oh, ow))[0, ..., 0].numpy()
                np.testing.assert_allclose(resample.crop_and_resize(mask, box, oh, ow), want, atol=1e-5)


def test_strided_passes_compute_what_gathering_computes():
    """The passes by strided views (scales that are ratios of small numbers: the detector's
    1.5x, 2x, 0.5x, 1.25x) and the columns-first order for enlargements give what gathering
    every tap, rows first, gives (to float rounding), with the taps read past the input's
    end weighing nothing; other scales still gather."""
    from vidanon import resample as R

    def gathered(image, rows, cols):
        return R._gathered(R._gathered(image, rows, 0), cols, 1)

    rng = np.random.default_rng(5)
    for h, w, out_h, out_w in ((480, 640, 720, 960), (1080, 1920, 540, 960), (432, 768, 540, 960),
                               (270, 480, 540, 960), (101, 37, 33, 80), (7, 9, 160, 160)):  # fmt: skip
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for taps in (R.area_taps, R.bilinear_taps, R.nearest_taps):
            rows, cols = taps(h, out_h), taps(w, out_w)
            np.testing.assert_allclose(R.resample(image, rows, cols), gathered(image, rows, cols), atol=1e-4)
    assert R._strided_plan(R.area_taps(480, 720), 480) is not None
    assert R._strided_plan(R.area_taps(1080, 540), 1080)[:2] == (1, 2)
    assert R._strided_plan(R.area_taps(101, 33), 101) is None


def test_crops_read_only_their_window():
    """A second look's crop reads only the rows and columns its taps weigh (a small window of a
    large frame), and computes what cropping the whole frame computes, also partly or wholly
    outside the frame (extrapolated with zeros)."""
    from vidanon import resample as R

    image = np.random.default_rng(2).integers(0, 256, (540, 960, 3), dtype=np.uint8)
    for box in ((0.4, 0.3, 0.5, 0.36), (-0.1, -0.05, 0.1, 0.08), (0.9, 0.95, 1.2, 1.1), (1.2, 1.2, 1.4, 1.5)):
        y0, x0, y1, x1 = box
        rows, cols = R.crop_taps(y0, y1, 540, 160), R.crop_taps(x0, x1, 960, 160)
        whole = R._gathered(R._gathered(image, rows, 0), cols, 1)
        np.testing.assert_allclose(R.crop_and_resize(image, box, 160, 160), whole, atol=1e-4)
        (_, r0, r1), (_, c0, c1) = R._window(rows), R._window(cols)
        assert (r1 - r0) * (c1 - c0) <= 100 * 150


def test_crop_matrices_are_the_crop_taps_of_each_crop():
    """The effects' crops of many regions at once (one pass for a frame's boxes) give exactly
    each crop's own taps, as dense matrices: crops inside, partly outside and wholly outside the
    mask, onto 1 sample or many, the mask smaller or larger than the region."""
    from vidanon import resample as R

    rng = np.random.default_rng(3)
    for n_in in (1, 2, 64, 97):
        starts = rng.uniform(-0.3, 1.2, 12).astype(np.float32)
        ends = rng.uniform(-0.3, 1.3, 12).astype(np.float32)
        n_outs = rng.integers(1, 90, 12)
        n_outs[:2] = 1
        for k, m in enumerate(R.crop_matrices(starts, ends, n_in, n_outs)):
            want = R.matrix(R.crop_taps(float(starts[k]), float(ends[k]), n_in, int(n_outs[k])), n_in)
            assert m.dtype == np.float32 and np.array_equal(m, want)
    mask = rng.uniform(0, 1, (64, 64)).astype(np.float32)
    rows = R.matrix(R.crop_taps(0.1, 0.7, 64, 23), 64)
    cols = R.matrix(R.crop_taps(-0.2, 0.9, 64, 41), 64)
    np.testing.assert_allclose(rows @ mask @ cols.T, R.crop_and_resize(mask, (0.1, -0.2, 0.7, 0.9), 23, 41), atol=1e-6)


def test_many_crops_at_once_are_each_crop_alone():
    """A second look's crops of a frame cut together are, bit for bit, each box's own
    crop_and_resize stacked: boxes inside, across the frame's edges and wholly outside it,
    enlarged and reduced, on a large frame (read by windows) and a small one."""
    from vidanon import resample as R

    rng = np.random.default_rng(4)
    for h, w in ((540, 960), (40, 30)):
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        size = rng.uniform(0.01, 0.6, 40)
        cy, cx = rng.uniform(-0.2, 1.2, 40), rng.uniform(-0.2, 1.2, 40)
        boxes = np.stack([cy - size / 2, cx - size / 3, cy + size / 2, cx + size / 3], 1).astype(np.float32)
        for oh, ow in ((160, 160), (32, 64)):
            got = R.crops_and_resize(image, boxes, oh, ow)
            want = np.stack([R.crop_and_resize(image, b, oh, ow) for b in boxes])
            assert got.dtype == np.float32 and np.array_equal(got, want)
    assert R.crops_and_resize(image, np.zeros((0, 4)), 16, 16).shape == (0, 16, 16, 3)


def test_windows_resized_together_are_each_window_alone():
    """resize_windows gives, bit for bit, what resize gives each window alone: the person
    detector's windows of landscape and portrait frames (shared rows, and not), frames
    smaller than the output (enlarged: columns first), odd sizes, grey and colour."""
    from vidanon.detect.people import person_windows

    rng = np.random.default_rng(3)
    for h, w, c in [(1080, 1920, 3), (540, 960, 3), (1920, 1080, 3), (366, 960, 3), (240, 320, 3), (250, 700, 1),
                    (301, 1203, 3)]:  # fmt: skip
        image = rng.integers(0, 256, (h, w, c)).astype(np.uint8)[..., : c if c > 1 else None].squeeze()
        windows = person_windows(h, w) + [(0, 7, h, w - 11), (3, 0, h - 2, w // 2)]
        together = resample.resize_windows(image, windows, 300, 300)
        for (y0, x0, y1, x1), got in zip(windows, together, strict=True):
            want = resample.resize(image[y0:y1, x0:x1], 300, 300)
            assert got.shape == want.shape and got.dtype == want.dtype
            assert np.array_equal(got, want), (h, w, (y0, x0, y1, x1))
