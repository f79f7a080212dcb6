"""People: SSDLite person boxes, per-person masks, the colour splash, --target people."""

import numpy as np
import pytest

from conftest import SAMPLE, count_frames, make_clip, read_frames
from vidanon.detections import PERSON, Detections


@pytest.fixture(scope="module")
def person_detector():
    from vidanon.detect import PersonDetector

    return PersonDetector(threshold=0.5)


@pytest.fixture(scope="module")
def segmenter():
    from vidanon.segment import PersonSegmenter

    return PersonSegmenter()


@pytest.fixture(scope="module")
def store_frames(shared):
    from vidanon.video import FrameReader, probe

    frames = []
    for i, frame in enumerate(FrameReader(probe(shared / "videos" / "store_aisle.mp4"))):
        if i in (10, 20, 30):
            frames.append(frame.copy())
        if i > 30:
            break
    return np.stack(frames)


def test_person_detector_finds_the_shoppers(person_detector, store_frames):
    dets = person_detector(store_frames[1])[0]
    confident = dets.scores >= 0.5
    assert confident.sum() >= 2  # the man in the hat and the woman in green
    assert set(dets.classes.tolist()) == {PERSON}
    boxes = dets.boxes[confident]
    heights = boxes[:, 2] - boxes[:, 0]
    assert (heights > 0.4).all()  # whole people, not fragments
    assert ((boxes >= 0) & (boxes <= 1)).all()


def test_batch_of_one_and_of_many_agree(person_detector, segmenter, store_frames):
    many = person_detector(store_frames)
    for i, frame in enumerate(store_frames):
        one = person_detector(frame)[0]
        np.testing.assert_allclose(one.boxes, many[i].boxes, atol=1e-4)
        np.testing.assert_allclose(one.scores, many[i].scores, atol=1e-4)
        a = segmenter(frame, one).masks
        b = segmenter(frame, many[i]).masks
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_masks_cover_the_person_and_stay_in_their_boxes(person_detector, segmenter, store_frames):
    from vidanon.effects import SplashRenderer

    frame = store_frames[1]
    dets = person_detector(frame)[0]
    dets = dets[np.flatnonzero(dets.scores >= 0.5)]
    masked = segmenter(frame, dets)
    assert masked.masks.shape == (len(dets), 64, 64)
    for mask in masked.masks:
        assert 0.15 < mask.mean() < 0.9  # a person's outline, neither empty nor the whole box
        assert mask[24:40, 24:40].mean() > 0.5  # the middle of a person box is person
    alpha = SplashRenderer().alpha(frame.shape[:2], masked)
    h, w = frame.shape[:2]
    inside = np.zeros((h, w), bool)
    for y0, x0, y1, x1 in masked.boxes:  # the grown boxes the masks belong to
        inside[max(0, int(y0 * h)) : int(np.ceil(y1 * h)), max(0, int(x0 * w)) : int(np.ceil(x1 * w))] = True
    assert alpha[~inside].max() == 0.0
    assert alpha[inside].max() > 0.9


def test_splash_renderer_is_grey_outside_and_coloured_inside(segmenter):
    from vidanon.effects import SplashRenderer

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    mask = np.zeros((1, 64, 64), np.float32)
    mask[0, 16:48, 16:48] = 1.0
    dets = Detections([[0.2, 0.2, 0.8, 0.6]], [0.9], [PERSON], masks=mask)
    renderer = SplashRenderer()
    out = renderer(frame, dets)
    alpha = renderer.alpha(frame.shape[:2], dets)
    outside = alpha == 0
    assert np.abs(out[outside].astype(int) - out[outside][:, :1].astype(int)).max() <= 1  # R = G = B
    full = alpha == 1
    assert full.sum() > 100 and np.array_equal(out[full], frame[full])
    empty = renderer(frame, Detections.empty())  # no person: all grey, no error
    assert np.abs(empty.astype(int) - empty[..., :1].astype(int)).max() <= 1


def _saturation(frames):
    f = np.asarray(frames).astype(int)
    return f.max(axis=-1) - f.min(axis=-1)


def test_splash_end_to_end_on_the_sample_clip(tmp_path):
    import json

    from vidanon.pipeline import anonymize

    out = tmp_path / "splash.mp4"
    tracks = tmp_path / "tracks.json"
    summary = anonymize(SAMPLE, out, effect="splash", progress=False, save_tracks=str(tracks))
    assert summary.frames == count_frames(SAMPLE) == count_frames(out)
    assert summary.target == "people" and summary.faces > 0
    frames = json.loads(tracks.read_text())["frames"]
    core_diff, grey_far = [], []
    for a, b, objects in zip(read_frames(SAMPLE), read_frames(out), frames):
        h, w = a.shape[:2]
        far = np.ones((h, w), bool)
        for o in objects:
            y0, x0, y1, x1 = o["box"]
            cy, cx, bh, bw = (y0 + y1) / 2 * h, (x0 + x1) / 2 * w, (y1 - y0) * h, (x1 - x0) * w
            # the torso keeps its colour: the output matches the input there
            core = (slice(int(cy - bh / 8), int(cy + bh / 8)), slice(int(cx - bw / 10), int(cx + bw / 10)))
            if a[core].size:
                core_diff.append(np.abs(a[core].astype(int) - b[core].astype(int)).mean())
            far[max(0, int(cy - bh * 0.7)) : int(cy + bh * 0.7), max(0, int(cx - bw * 0.7)) : int(cx + bw * 0.7)] = 0
        if far.any():
            grey_far.append(np.percentile(_saturation(b[far]), 99))
    assert core_diff and np.median(core_diff) < 6
    assert grey_far and max(grey_far) <= 12  # away from people: R = G = B up to the encoder


def test_splash_frame_without_people_is_all_grey(tmp_path):
    from vidanon.pipeline import anonymize

    src = make_clip(tmp_path / "bars.mp4", 96, 64, frames=5, audio=True)  # colourful test pattern
    out = tmp_path / "grey.mp4"
    anonymize(src, out, effect="splash", progress=False)
    res = np.stack(read_frames(out))
    assert len(res) == 5
    assert _saturation(res).max() <= 12  # chroma is gone (up to the encoder)
    assert _saturation(np.stack(read_frames(src))).max() > 100


def test_target_people_hides_whole_people(tmp_path):
    from vidanon.pipeline import anonymize

    out = tmp_path / "people.mp4"
    tracks = tmp_path / "people.json"
    anonymize(SAMPLE, out, target="people", progress=False, save_tracks=str(tracks))
    src, res = read_frames(SAMPLE), read_frames(out)
    import json

    frames = json.loads(tracks.read_text())["frames"]
    assert any(o["class"] == "person" for f in frames for o in f)
    # inside the middle of each person box the picture changed a lot, far outside it did not
    changed, kept = [], []
    for a, b, objects in zip(src, res, frames):
        h, w = a.shape[:2]
        diff = np.abs(a.astype(int) - b.astype(int)).mean(axis=-1)
        away = np.ones((h, w), bool)
        for o in objects:
            y0, x0, y1, x1 = o["box"]
            cy, cx = (y0 + y1) / 2 * h, (x0 + x1) / 2 * w
            bh, bw = (y1 - y0) * h, (x1 - x0) * w
            core = diff[int(cy - bh / 6) : int(cy + bh / 6), int(cx - bw / 8) : int(cx + bw / 8)]
            if core.size:
                changed.append(core.mean())
            away[max(0, int(cy - bh)) : int(cy + bh), max(0, int(cx - bw)) : int(cx + bw)] = False
        if away.any():
            kept.append(diff[away].mean())
    assert np.median(changed) > 8
    assert max(kept) < 3
