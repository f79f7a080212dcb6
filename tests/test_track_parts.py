"""The tracker's parts computed as their references compute them: the Kalman filter against
filterpy, the appearance samples and comparisons of many faces against one face at a time,
the single-box helpers against the array ones."""

import numpy as np

from vidanon.track.kalman import box_to_z


def test_kalman_filter_computes_what_filterpy_computes():
    """The track's filter is filterpy's arithmetic without importing filterpy (which imports
    scipy.stats: 1.2 s of every start): the same states and covariances, bit for bit, over
    a track's predicts and updates."""
    import pytest

    filterpy = pytest.importorskip("filterpy.kalman")
    from vidanon.track.kalman import Track

    rng = np.random.default_rng(5)
    box = np.array([0.2, 0.3, 0.3, 0.36])
    ours = Track(1, box, 0)
    theirs = filterpy.KalmanFilter(dim_x=7, dim_z=4)
    for name in "xPQFHR":
        setattr(theirs, name, getattr(ours.kf, name).copy())
    for frame in range(1, 40):
        ours.predict()
        theirs.predict()
        if frame % 5:
            box = box + rng.normal(0, 0.004, 4)
            ours.update(box, frame)
            theirs.update(box_to_z(box))
        assert np.array_equal(ours.kf.x, theirs.x) and np.array_equal(ours.kf.P, theirs.P)


def test_tracks_stepped_together_compute_what_each_computes_alone():
    """A crowd's filters predict and update in one call (Track.predict_all, update_all): the
    same states, covariances and boxes, bit for bit, as one track at a time, over tracks of
    different ages, sizes and motions (a shrinking one whose area would go below zero too)."""
    from vidanon.track.kalman import Track

    rng = np.random.default_rng(7)

    def tracks():
        made = []
        for i in range(30):
            corner = rng.uniform(0, 0.8, 2)
            made.append(Track(i, np.concatenate([corner, corner + rng.uniform(0.005, 0.2, 2)]), 0))
        return made

    state = rng.bit_generator.state
    alone, together = tracks(), None
    rng.bit_generator.state = state
    together = tracks()
    for frame in range(1, 25):
        boxes_alone = np.array([t.predict() for t in alone])
        assert np.array_equal(Track.predict_all(together), boxes_alone)
        chosen = [i for i in range(30) if rng.random() < 0.7]
        boxes = [alone[i].last_box * rng.uniform(0.97, 1.02) if i % 7 else alone[i].last_box * 0.8 for i in chosen]
        for i, box in zip(chosen, boxes):
            alone[i].update(box, frame)
        Track.update_all([together[i] for i in chosen], boxes, frame)
        for a, b in zip(alone, together):
            assert np.array_equal(a.kf.x, b.kf.x) and np.array_equal(a.kf.P, b.kf.P)
            assert np.array_equal(a.box(), b.box()) and a.hits == b.hits and a.time_since_update == b.time_since_update
            assert a.detected.keys() == b.detected.keys() and np.array_equal(a.last_box, b.last_box)
            assert np.array_equal(a.early_box(-3), b.early_box(-3))


def test_appearance_samples_are_the_grey_mean_of_the_pixels():
    """A face's look is sampled as the mean of its pixels' channels, 2 x 2 samples a cell:
    the faster sum computes exactly what averaging the gathered pixels computes."""
    import numpy as np

    from vidanon.track.appearance import Appearance

    rng = np.random.default_rng(1)
    for shape in ((540, 960, 3), (100, 100, 4), (64, 80)):
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        corner = rng.uniform(0, 0.5, (40, 2))
        boxes = np.concatenate([corner, corner + rng.uniform(0.01, 0.4, (40, 2))], axis=1)
        steps = (np.arange(32) + 0.5) / 32
        h, w = shape[:2]
        ys = np.minimum(((boxes[:, :1] + steps * (boxes[:, 2:3] - boxes[:, :1])) * h).astype(np.intp), h - 1)
        xs = np.minimum(((boxes[:, 1:2] + steps * (boxes[:, 3:4] - boxes[:, 1:2])) * w).astype(np.intp), w - 1)
        pixels = image[ys[:, :, None], xs[:, None, :]].astype(np.float32)
        grey = pixels.mean(axis=3) if pixels.ndim == 4 else pixels
        expected = grey.reshape(40, 16, 2, 16, 2).mean(axis=(2, 4))
        assert np.array_equal(Appearance.sample(image, boxes), expected)


def test_appearance_samples_a_grey_frame_as_the_colour_frame():
    """The tracker compares lost faces on the frame's grey levels, made once a frame: the
    samples must be the very numbers the colour frame gives (the decisions stay the same)."""
    from vidanon.track.appearance import Appearance

    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (270, 480, 3), dtype=np.uint8)
    boxes = np.array([[0.1, 0.1, 0.3, 0.2], [0.5, 0.6, 0.52, 0.61], [0.0, 0.0, 1.0, 1.0]])
    grey = Appearance.grey(image)
    assert grey.shape == (270, 480) and grey.dtype == np.float32
    np.testing.assert_array_equal(Appearance.sample(grey, boxes), Appearance.sample(image, boxes))
    face = Appearance.of(image, boxes[0])
    assert face.compare(grey, boxes[0])[:2] == face.compare(image, boxes[0])[:2]
    assert face.compare(grey, boxes[0])[1] > 0.999


def test_lost_faces_compared_together_as_each_alone():
    """The tracker compares all lost faces of a frame in one gather: each face's likeness,
    score and box are exactly those of comparing it alone, and match the correlation
    computed directly; a box with nothing inside the image gives -1 and no box."""
    from vidanon.track.appearance import Appearance

    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (270, 480, 3), dtype=np.uint8)
    image[100:140, 200:260] = 128  # a flat wall: its half-patches carry no pattern
    boxes = np.array([[0.1, 0.1, 0.25, 0.18], [0.6, 0.2, 0.7, 0.25], [0.6, 0.7, 0.7, 0.76], [0.3, 0.35, 0.5, 0.5]])
    looks = [Appearance.of(image, b) for b in boxes]
    assert all(look is not None for look in looks)
    around = boxes + np.array([0.01, -0.01, 0.01, -0.01])
    around = np.concatenate([around, [[1.2, 1.2, 1.4, 1.4]]])  # the last face has left the image
    looks.append(looks[0])
    grey = Appearance.grey(image)
    together = Appearance.compare_many(grey, looks, around)
    for k, (likeness, score, box) in enumerate(together):
        alone = Appearance.compare_many(grey, [looks[k]], around[k : k + 1])[0]
        assert (likeness, score) == alone[:2]
        assert (box is None and alone[2] is None) or np.array_equal(box, alone[2])
    assert together[-1] == (-1.0, -1.0, None)
    # the correlation itself, at the predicted size and place, for the first face
    patch = Appearance.sample(grey, around[:1])[0].ravel()
    patch = patch - patch.mean()
    direct = float(patch @ looks[0].vector / np.linalg.norm(patch))
    assert together[0][1] >= direct - 1e-6 and together[0][0] >= together[0][1] - 1e-6


def test_every_shifted_box_is_a_window_of_the_one_grid_sampled_around_the_face():
    """compare_many samples one grid around each lost face and takes the shifted boxes as
    its windows: each window is what sampling the shifted box itself gives, the shifts are
    whole cells of the grid, and the best one is found where the face moved to."""
    from vidanon.track.appearance import Appearance

    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, (300, 400), dtype=np.uint8).astype(np.float32)
    corner = rng.uniform(0.3, 0.6, (30, 2))
    around = np.concatenate([corner, corner + rng.uniform(0.02, 0.15, (30, 2))], axis=1)
    windows = Appearance._windows(image, around)
    dy, dx = Appearance._shift_grid()
    assert windows.shape == (30, 25, 16, 16) and set(dy) == set(Appearance.SHIFTS)
    assert Appearance.SHIFTS == tuple(k / Appearance.SIZE for k in Appearance.SHIFT_CELLS)
    mismatched = 0
    for k in range(30):
        bh, bw = around[k, 2] - around[k, 0], around[k, 3] - around[k, 1]
        shifted = around[k] + np.stack([dy * bh, dx * bw, dy * bh, dx * bw], axis=1)
        direct = Appearance.sample(image, shifted)
        assert np.array_equal(windows[k, 12], direct[12])  # no shift: the box's own samples, exactly
        mismatched += int((windows[k] != direct).any(axis=(1, 2)).sum())
    assert mismatched <= 2  # a sample exactly on a pixel edge may round the other way
    # a face moved by (+0.125, -0.3125) of its box is found there
    face = np.array([0.4, 0.4, 0.6, 0.55])
    look = Appearance.of(image, face)
    h, w = face[2] - face[0], face[3] - face[1]
    likeness, score, box = Appearance.compare_many(image, [look], (face - [0.125 * h, -0.3125 * w] * 2)[None])[0]
    assert score > 0.999 and likeness >= score and np.allclose(box, face)


def test_single_box_helpers_compute_what_the_array_ones_compute():
    """The tracker's one-box helpers (Python floats, no array per step) give the numbers of
    scale_boxes and of the element-wise union, to the bit; a track's box is computed once per
    filter state, read-only, and follows the filter after predict and update."""
    from vidanon.detections import scale_box, scale_boxes, union_box
    from vidanon.track.kalman import Track, z_to_box

    rng = np.random.default_rng(7)
    for _ in range(200):
        box = np.sort(rng.uniform(-0.2, 1.2, 4).reshape(2, 2), axis=0).T.ravel()[[0, 2, 1, 3]]
        other = rng.uniform(0, 1, 4).astype(np.float32)
        factor, dy, dx = rng.uniform(0.5, 2), rng.uniform(0, 0.05), rng.uniform(0, 0.05)
        assert np.array_equal(scale_box(box, factor, dy, dx), scale_boxes(box, factor, dy, dx)[0])
        want = np.concatenate([np.minimum(box[:2], other[:2]), np.maximum(box[2:], other[2:])]).astype(np.float64)
        assert np.array_equal(union_box(box, other), want)
    track = Track(1, np.array([0.1, 0.2, 0.3, 0.35]), 0)
    first = track.box()
    assert first is track.box() and not first.flags.writeable
    track.predict()
    track.update(np.array([0.12, 0.22, 0.33, 0.37]), 1)
    assert np.array_equal(track.box(), z_to_box(track.kf.x[:4, 0])) and not np.array_equal(track.box(), first)


def test_looks_of_many_faces_are_each_face_alone():
    """The lost faces' looks, sampled together for the faces last seen in one frame, are those
    of each face sampled alone (flat patches and boxes outside the image: no look)."""
    from vidanon.track.appearance import Appearance
    from vidanon.track.kalman import Track

    rng = np.random.default_rng(8)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    image[:40, :40] = 90  # flat
    boxes = np.array([[0.1, 0.1, 0.3, 0.3], [0.0, 0.0, 0.3, 0.2], [0.5, 0.6, 0.8, 0.9], [-0.1, 0.2, 0.2, 0.4]])
    together = Appearance.of_many(image, boxes)
    alone = [Appearance.of(image, b) for b in boxes]
    assert [a is None for a in together] == [a is None for a in alone] == [False, True, False, True]
    for a, b in zip(together, alone):
        if a is not None:
            assert np.array_equal(a.vector, b.vector)
    tracks = [Track(k, b, 0) for k, b in enumerate(boxes)]
    for track, box in zip(tracks, boxes):
        track.remember_look(image, box)
    Track.recall_looks(tracks)
    assert all(t._look is None for t in tracks)
    assert [t.appearance is None for t in tracks] == [False, True, False, True]


def test_shot_cuts_count_8_bit_frames_as_the_histogram_does():
    """The cut test counts 8-bit frames' colours with bincount: the very histograms (and
    verdicts) np.histogram gives on the same values held in 16 bits."""
    from vidanon.track.shots import ShotCuts

    rng = np.random.default_rng(3)
    fast, reference = ShotCuts(), ShotCuts()
    for i in range(6):
        frame = rng.integers(0, 256 if i % 2 else 120, (270, 480, 3), dtype=np.uint8)
        assert fast(frame) == reference(frame.astype(np.uint16))
        assert fast._previous[1].tolist() == reference._previous[1].tolist()
        assert np.array_equal(fast._previous[0], reference._previous[0])
