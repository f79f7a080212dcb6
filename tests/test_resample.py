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
