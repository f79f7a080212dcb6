"""People: SSDLite person boxes, per-person masks, the colour splash, --target people."""

import numpy as np
import pytest
from conftest import SAMPLE, count_frames, make_clip, read_frames

from vidanon.detections import PERSON, Detections


@pytest.fixture(scope="module")
def person_detector():
    from vidanon.detect.people import PersonDetector

    return PersonDetector(threshold=0.5)


@pytest.fixture(scope="module")
def segmenter():
    from vidanon.render.segment import PersonSegmenter

    return PersonSegmenter()


@pytest.fixture(scope="module")
def store_frames(shared):
    from vidanon.media.probe import probe
    from vidanon.media.reader import FrameReader

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
    from vidanon.render.effects import SplashRenderer

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
    from vidanon.render.effects import SplashRenderer

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


# --- clean people masks: one outline per person, no seams, edges, hair, splash on people only ---


def _clip_frame(shared, name: str, index: int) -> np.ndarray:
    from vidanon.media.probe import probe
    from vidanon.media.reader import FrameReader

    for i, frame in enumerate(FrameReader(probe(shared / "videos" / name))):
        if i == index:
            return frame.copy()
    raise AssertionError(f"{name} has no frame {index}")


def test_overlapping_people_leave_no_seam():
    """Two overlapping boxes over one textured area: one effect, one blend, no step where
    one box ends inside the other (per-box patches left a jump there)."""
    from vidanon.render.effects import PeopleRenderer

    rng = np.random.default_rng(1)
    h, w = 120, 200
    ramp = np.linspace(0, 255, w)[None, :, None] * np.ones((h, 1, 3))
    frame = np.clip(ramp + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)
    boxes = [[0.05, 0.1, 0.95, 0.6], [0.05, 0.4, 0.95, 0.9]]  # box 0 ends at x = 120, inside box 1
    dets = Detections(boxes, [0.9, 0.9], [PERSON, PERSON], masks=np.ones((2, 64, 64), np.float32))
    out = PeopleRenderer("blur")(frame, dets).astype(float)
    rows = slice(20, 100)
    step = np.abs(np.diff(out[rows], axis=1)).mean(axis=(0, 2))  # mean jump between neighbouring columns
    inner = np.r_[step[25:75], step[85:115], step[125:175]]  # away from both boxes' edges
    for edge in (80, 120):  # box 1 starts at x = 80, box 0 ends at x = 120
        assert step[edge - 2 : edge + 2].max() < 3 * np.median(inner) + 1.0


def test_mask_fades_where_its_box_ends_inside_the_frame():
    from vidanon.render.effects import SplashRenderer, pasted_alpha
    from vidanon.render.segment import fade_edges

    boxes = np.array([[0.2, 0.1, 0.8, 0.5], [0.2, 0.6, 1.0, 1.0]])  # the second touches the bottom right corner
    masks = fade_edges(np.ones((2, 64, 64), np.float32), boxes)
    dets = Detections(boxes, [0.9, 0.9], [PERSON, PERSON], masks=masks)
    alpha = pasted_alpha(SplashRenderer()._paste, (100, 200), dets)
    assert np.abs(np.diff(alpha, axis=0)).max() < 0.3 and np.abs(np.diff(alpha, axis=1)).max() < 0.3
    assert alpha[50, 60] == 1.0 and alpha[99, 199] > 0.9 and alpha[99, 150] > 0.9  # frame borders stay covered
    assert alpha[20:80, 20].max() < 0.2 and alpha[20, 30:90].max() < 0.2  # inner edges fade


def test_splash_keeps_background_inside_a_person_box_grey():
    """The selfie network gives background inside a box 0.1-0.4: it must stay grey."""
    from vidanon.render.effects import SplashRenderer

    rng = np.random.default_rng(2)
    frame = rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)
    mask = np.full((1, 64, 64), 0.35, np.float32)  # a curtain the network half believes in
    mask[0, 8:56, 20:44] = 0.97  # the person
    dets = Detections([[0.0, 0.0, 1.0, 1.0]], [0.9], [PERSON], masks=mask)
    out = SplashRenderer()(frame, dets).astype(int)
    background = np.ones((100, 100), bool)
    background[10:90, 28:72] = False
    assert np.abs(out[background] - out[background][:, :1]).max() <= 1  # R = G = B
    person = (slice(16, 84), slice(34, 66))
    assert np.abs(out[person] - frame[person]).max() <= 1  # full colour


def test_a_person_at_the_right_edge_of_a_wide_frame_is_found(shared, person_detector):
    """A man cut out of one clip, pasted 40% out of the right edge of wide frames: the 300x300
    squash alone scores him 0.0-0.45 here; the square tiles find him."""
    from PIL import Image

    man = _clip_frame(shared, "head_pose_two_people.mp4", 10)[:, int(0.48 * 480) : int(0.96 * 480)]
    room = _clip_frame(shared, "parking_no_people.mp4", 0)
    for width, height, scale in ((960, 432, 0.6), (768, 432, 1.0)):
        frame = np.array(Image.fromarray(room).resize((width, height)))
        person = np.array(Image.fromarray(man).resize((int(man.shape[1] * scale * height / 270), int(height * scale))))
        ph, pw = person.shape[:2]
        x0 = width - int(pw * 0.6)
        frame[height - ph :, x0:] = person[:, : width - x0]
        dets = person_detector(frame)[0]
        right = dets.scores[dets.boxes[:, 3] > 0.9]
        assert right.size and right.max() >= 0.6, (width, height, dets.boxes, dets.scores)


def test_small_people_in_a_large_frame_are_found(person_detector):
    """The sample clip's two walkers shrunk to 320x180 (about 110 px high) inside a 960x540
    frame: its 540 px squares reduced to 300 px showed them at 60 px, and nobody was found;
    the fine tiles show them at their own size."""
    from PIL import Image

    walkers = np.asarray(Image.fromarray(np.asarray(read_frames(SAMPLE)[28])).resize((320, 180), Image.BILINEAR))
    for x0, y0 in ((320, 200), (600, 340)):
        frame = np.full((540, 960, 3), 110, np.uint8)
        frame[y0 : y0 + 180, x0 : x0 + 320] = walkers
        dets = person_detector(frame)[0]
        px = dets.boxes[dets.scores >= 0.5] * [540, 960, 540, 960]
        cy, cx = (px[:, 0] + px[:, 2]) / 2, (px[:, 1] + px[:, 3]) / 2
        inside = (cx > x0) & (cx < x0 + 320) & (cy > y0) & (cy < y0 + 180)
        assert inside.sum() >= 2 and inside.sum() == len(px), (x0, y0, px, dets.scores)


def test_everyone_in_the_classroom_and_both_heads_are_found(shared, person_detector):
    """Seated students far back and a woman at the left edge: the whole-frame pass alone
    found 2 of the 4 students (one at 0.35) and missed the woman."""
    classroom = person_detector(_clip_frame(shared, "classroom.mp4", 30))[0]
    assert (classroom.scores >= 0.5).sum() >= 3  # the whole-frame pass: 1 at 0.5 (and one at 0.35)
    heads = person_detector(_clip_frame(shared, "head_pose_two_people.mp4", 40))[0]
    left = heads.boxes[heads.scores >= 0.5]
    assert (left[:, 1] < 0.1).any() and (left[:, 3] > 0.9).any()  # the woman at the left, the man at the right


def test_a_crop_that_cuts_the_person_is_grown(shared, person_detector, segmenter):
    """Given a person's box without its top 30% (head and shoulders cut off, as a box that
    lags a raised arm or a tall hair-do), the segmenter grows the crop upward until the mask
    no longer touches its top edge, so the head is inside the outline."""
    from vidanon.render.segment import crop_boxes

    frame = _clip_frame(shared, "walking_to_camera.mp4", 20)
    dets = person_detector(frame)[0]
    best = dets[int(np.argmax(dets.scores))]
    y0, x0, y1, x1 = best.boxes[0]
    half = Detections([[y0 + 0.3 * (y1 - y0), x0, y1, x1]], [0.9], [PERSON])
    out = segmenter(frame, half)
    assert out.boxes[0, 0] < crop_boxes(half.boxes)[0, 0] - 0.05  # grown upward
    assert out.masks[0, 0, :].max() < 0.5  # the mask ends inside the crop: the head is in
    h = frame.shape[0]
    head_row = int((y0 + 0.1 * (y1 - y0)) * h)  # a tenth down the full box: the head
    alpha = _alpha(frame, out)
    assert alpha[head_row].max() > 0.9


def _alpha(frame, dets):
    from vidanon.render.effects import SplashRenderer, pasted_alpha

    return pasted_alpha(SplashRenderer()._paste, frame.shape[:2], dets)


def test_person_lost_by_the_segmenter_stays_hidden():
    """A mask that covers almost nothing of a person's box (the segmenter failed on it: the
    sample clip's walking man, frames 6-7) is replaced by the box's soft ellipse; a normal
    mask is kept as it is."""
    from vidanon.render.segment import COVER_HIGH, MIN_COVER, fill_failed

    good = np.zeros((64, 64), np.float32)
    good[10:60, 20:44] = 0.9
    lost = np.zeros((64, 64), np.float32)
    lost[30:34, 30:34] = 0.8
    out = fill_failed(np.stack([good, lost]))
    np.testing.assert_array_equal(out[0], good)
    assert (out[1] > COVER_HIGH).mean() > 3 * MIN_COVER and out[1][32, 32] == 1.0 and out[1][0, 0] == 0.0


def test_a_mask_gone_to_a_neighbour_leaves_no_detected_person_visible():
    """A small detected person whose crop's mask went to the people beside him (hikers_trail
    frame 88: a far hiker's face visible under his own box) is also hidden by his box's
    ellipse; a mask on the box's person is kept as it is, and so is one of a box that is
    not this frame's detection (a loose back-filled box beside a person)."""
    from vidanon.render.segment import COVER_HIGH, fill_missed

    crops = np.array([[0.0, 0.0, 1.0, 1.0]] * 3)
    boxes = np.array([[0.1, 0.35, 0.9, 0.65]] * 3)  # the person: the crop's middle
    neighbours = np.zeros((64, 64), np.float32)
    neighbours[5:60, 0:18] = neighbours[5:60, 46:64] = 0.9  # the people left and right of him
    own = np.zeros((64, 64), np.float32)
    own[6:58, 24:40] = 0.9
    out = fill_missed(np.stack([neighbours, own, neighbours]), crops, boxes, np.array([True, True, False]))
    assert (out[0][20:40, 28:36] > COVER_HIGH).all() and out[0][2, 32] == 0.0  # his middle hidden, not above him
    np.testing.assert_array_equal(out[0][:, :18], neighbours[:, :18])
    np.testing.assert_array_equal(out[1], own)
    np.testing.assert_array_equal(out[2], neighbours)


def test_person_tiles_cover_the_frame_with_overlapping_squares():
    from vidanon.detect.people import person_windows

    assert person_windows(480, 600) == [(0, 0, 480, 600)]  # near square: the whole frame only
    wide = person_windows(1080, 1920)
    assert wide[0] == (0, 0, 1080, 1920) and wide[1:] == [(0, 0, 1080, 1080), (0, 840, 1080, 1920)]
    scope = person_windows(800, 1880)[1:]  # 2.35:1: three squares, from edge to edge, overlapping
    assert [w[1] for w in scope] == [0, 540, 1080] and scope[-1][3] == 1880
    tall = person_windows(1920, 1080)[1:]  # portrait: the squares run down the frame
    assert tall == [(0, 0, 1080, 1080), (840, 0, 1920, 1080)]
    pano = person_windows(960, 7680)[1:]  # 8:1: eight squares, no overlap
    assert len(pano) == 8 and all(y1 - y0 == x1 - x0 == 960 for y0, x0, y1, x1 in pano)
    for h, w in ((2, 4000), (4000, 16), (100, 1250)):  # a strip: 8 longer tiles, from edge to edge
        strip = person_windows(h, w)[1:]
        along = [(x0, x1) for _, x0, _, x1 in strip] if w > h else [(y0, y1) for y0, _, y1, _ in strip]
        assert len(strip) == 8 and along[0][0] == 0 and along[-1][1] == max(h, w)
        assert all(b[0] < a[1] for a, b in zip(along, along[1:]))  # each overlaps the next


def test_fine_tiles_cover_large_frames_overlapping_and_bounded():
    from vidanon.detect.people import FINE_OVERLAP, FINE_SIDE, MAX_FINE_TILES, MAX_TILES, fine_windows, person_windows

    assert fine_windows(270, 480) == [] and fine_windows(340, 340) == []  # squares the network sees near 1:1
    for h, w in ((540, 960), (366, 960), (480, 640), (1080, 1920), (1920, 1080), (2160, 3840), (4320, 7680)):
        tiles = fine_windows(h, w)
        side = tiles[0][2] - tiles[0][0]
        assert 1 < len(tiles) <= MAX_FINE_TILES and side >= FINE_SIDE
        assert all(y1 - y0 == x1 - x0 == side and 0 <= y0 and 0 <= x0 and y1 <= h and x1 <= w
                   for y0, x0, y1, x1 in tiles)  # fmt: skip
        covered = np.zeros((h, w), bool)
        for y0, x0, y1, x1 in tiles:
            covered[y0:y1, x0:x1] = True
        assert covered.all(), (h, w)
        for axis in (0, 1):  # neighbours overlap by at least FINE_OVERLAP of a side
            starts = sorted({t[axis] for t in tiles})
            assert all(b - a <= side * (1 - FINE_OVERLAP) + 1 for a, b in zip(starts, starts[1:])), (h, w, starts)
    marathon = fine_windows(540, 960)  # the 960x540 frame: three rows of four 300 px squares
    assert len(marathon) == 12 and marathon[0] == (0, 0, 300, 300) and marathon[-1] == (240, 660, 540, 960)
    assert fine_windows(1080, 1920)[0][2] < 540  # 1080p: finer than the 1080 px squares, past 300 px (the cap)
    # huge, thin and odd frames: a bounded number of windows (a 4000x2 strip once made 2,001)
    for h, w in ((2, 4000), (4000, 2), (400, 100000), (16384, 16384), (1, 1), (353, 30000), (8192, 300)):
        assert len(fine_windows(h, w)) <= MAX_FINE_TILES and len(person_windows(h, w)) <= 1 + MAX_TILES
    assert fine_windows(2, 4000) == fine_windows(400, 100000) == []  # strips: the squares only


def test_fine_tiles_are_looked_at_where_the_squares_saw_a_small_person():
    from vidanon.detect.people import fine_windows, focused

    h, w = 540, 960
    tiles = fine_windows(h, w)  # rows at y = 0, 120, 240; columns at x = 0, 220, 440, 660
    norm = np.array([h, w, h, w], float)
    assert focused(tiles, np.zeros((0, 4)), h, w) == []
    runner = np.array([[400, 900, 500, 940]]) / norm  # 100 px high, centre (450, 920): the bottom right tile
    assert focused(tiles, runner, h, w) == [11]
    walker = np.array([[100, 435, 220, 485]]) / norm  # centre (160, 460): rows 0 and 1, columns 1 and 2
    assert focused(tiles, walker, h, w) == [1, 2, 5, 6]
    tall = np.array([[0, 400, 540, 600]]) / norm  # taller than a tile: the squares see it whole
    assert focused(tiles, tall, h, w) == []


def test_person_tile_boxes_are_merged_once_and_cut_parts_dropped():
    """One person in the overlap of a 16:9 frame's two square tiles is seen by the whole
    frame and by both tiles, once cut by the first tile's inner edge: one box comes out, the
    whole person's. A person cut only by the frame's own edge is kept."""
    from vidanon.detect.people import merge_windows, person_windows

    h, w = 1080, 1920
    windows = person_windows(h, w)  # whole, left square [0, 1080), right square [840, 1920)

    def in_window(box_px, window):
        y0, x0, y1, x1 = window
        b = np.array(box_px, float)
        return [(b[0] - y0) / (y1 - y0), (b[1] - x0) / (x1 - x0), (b[2] - y0) / (y1 - y0), (b[3] - x0) / (x1 - x0)]

    person = [300, 950, 900, 1250]  # straddles x = 1080, the left tile's right (inner) edge
    cut_by_left = [300, 950, 900, 1080]  # what the left tile sees of it: cut at its edge
    at_frame_edge = [200, 1700, 800, 1920]  # half out of the frame on the right
    parts = [
        (np.array([in_window(person, windows[0]), in_window(at_frame_edge, windows[0])]), np.array([0.7, 0.6])),
        (np.array([in_window(cut_by_left, windows[1])]), np.array([0.9])),
        (np.array([in_window(person, windows[2]), in_window(at_frame_edge, windows[2])]), np.array([0.8, 0.9])),
    ]
    boxes, scores = merge_windows(parts, windows, h, w)
    px = boxes * [h, w, h, w]
    assert len(px) == 2, px  # each person once
    assert np.allclose(sorted(px.tolist(), key=lambda b: b[1]), [person, at_frame_edge], atol=1e-3)
    assert sorted(scores.tolist()) == [0.8, 0.9]  # the best view of each; the cut part's 0.9 dropped


def test_the_masks_of_people_and_faces_keep_the_boxes_order():
    """With people, faces (and plates) are drawn among them; the boxes come back from the
    compositor's masks in the order given, so the review pairs each mask with its own track
    (a person's lost mask was given a face's full cover, its 'thin mask' flag lost)."""
    from dataclasses import replace

    from vidanon.detections import FACE, PERSON, Detections
    from vidanon.render.compositor import Compositor

    def lost(frame, dets):  # a segmenter that finds nobody
        return replace(dets, masks=np.zeros((len(dets), 64, 64), np.float32))

    face = Detections(np.array([[0.1, 0.1, 0.3, 0.3]]), [0.9], [FACE], track_ids=[5])
    person = Detections(np.array([[0.2, 0.5, 0.9, 0.8]]), [0.9], [PERSON], track_ids=[1000007])
    shown = Compositor("blur", 1.45, True, lost).masks(np.zeros((90, 160, 3), np.uint8), Detections.merge([face, person]))
    assert list(shown.track_ids) == [5, 1000007]
    assert shown.masks[0].min() == 1.0 and shown.masks[1].max() == 0.0


def test_max_face_size_measures_a_face_among_people_as_it_is_drawn():
    # faces among people are drawn at the user's mask scale; --max-face-size measured them at
    # the people renderer's (1), as smaller than drawn
    from vidanon.detections import FACE, PERSON, Detections
    from vidanon.render.compositor import Compositor
    from vidanon.render.masks import mask_shares

    dets = Detections(np.array([[0.3, 0.3, 0.5, 0.45], [0.1, 0.6, 0.9, 0.9]]), [0.9, 0.9], [FACE, PERSON])
    shares = Compositor("blur", 1.45, True, lambda frame, d: d).shares(dets, 360, 640)
    assert shares[0] == mask_shares(dets[[0]], 360, 640, 1.45)[0]  # as a faces run draws it
    assert shares[1] == mask_shares(dets[[1]], 360, 640, 1.0)[0]  # the person's outline


def test_splash_leaves_the_frames_outside_the_span_in_colour(tmp_path):
    # frames outside --start/--end are written as they are; splash greyed them (a frame without
    # people is all grey), found by a QA sweep
    from vidanon.pipeline import anonymize

    out = tmp_path / "splash.mp4"
    anonymize(SAMPLE, out, effect="splash", start=2.0, progress=False)
    before, after = read_frames(SAMPLE), read_frames(out)
    fps_frames = 24  # 2 s at 12 fps
    outside = [np.mean(_saturation(b) > 8) for b in after[:fps_frames]]
    inside = [np.mean(_saturation(b) > 8) for b in after[fps_frames:]]
    coloured = [np.mean(_saturation(a) > 8) for a in before[:fps_frames]]
    assert min(outside) > 0.9 * min(coloured) and max(inside) < 0.3


def test_splash_on_10_bit_video_keeps_its_10_bit_grey(tmp_path):
    # the grey background was drawn on the 8-bit copy: a 10-bit gradient (64 levels in a row)
    # came out in 20 levels, steps of 3-4 (QA), though the file stayed 10-bit
    import subprocess

    from conftest import ffmpeg

    from vidanon.pipeline import anonymize

    src, out = tmp_path / "grad.mkv", tmp_path / "splash.mkv"
    subprocess.run([ffmpeg(), "-v", "error", "-f", "lavfi", "-i",
                    "nullsrc=s=320x180:r=10,geq=lum='400+X/5':cb=600:cr=450,format=yuv420p10le", "-frames:v", "2",
                    "-c:v", "libx265", "-x265-params", "lossless=1:log-level=error", src], check=True)  # fmt: skip
    anonymize(src, out, effect="splash", crf=0, progress=False)

    def luma_row(path):
        raw = subprocess.run([ffmpeg(), "-v", "error", "-i", path, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt",
                              "yuv420p10le", "-"], capture_output=True, check=True).stdout  # fmt: skip
        return np.frombuffer(raw, np.uint16)[: 320 * 180].reshape(180, 320)[90].astype(int)

    before, after = luma_row(src), luma_row(out)
    assert len(np.unique(before)) == 64 and len(np.unique(after)) >= 60
    assert np.abs(np.diff(after)).max() <= 1
