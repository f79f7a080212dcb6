import numpy as np
from conftest import SAMPLE, SHARED

from vidanon.detections import BACKFILLED, DETECTED, INTERPOLATED, PREDICTED, Detections
from vidanon.track.sort import SortTracker
from vidanon.track.stage import NoTracker


def det(*boxes, score=0.9):
    return Detections(np.array(boxes, float).reshape(-1, 4), [score] * len(boxes), [0] * len(boxes))


def moving_box(t, y=0.3, x0=0.1, v=0.01, size=0.1):
    return [y, x0 + v * t, y + size, x0 + v * t + size]


def run(tracker, frames):
    out = []
    for i, d in enumerate(frames):
        out.extend(tracker.push(i, d))
    out.extend(tracker.flush())
    assert [o[0] for o in out] == list(range(len(frames)))
    return [o[2] for o in out]


def covers(mask_dets, box, min_iou=0.5):
    from vidanon.detections import iou_matrix

    return len(mask_dets) > 0 and iou_matrix(np.array([box]), mask_dets.boxes).max() >= min_iou


def hidden_share(mask_dets, box):
    """Share of ``box``'s area inside at least one mask box (on a fine grid)."""
    y0, x0, y1, x1 = box
    yy, xx = np.meshgrid(np.linspace(y0, y1, 41)[:-1] + (y1 - y0) / 80, np.linspace(x0, x1, 41)[:-1] + (x1 - x0) / 80)
    inside = np.zeros(yy.shape, bool)
    for b in mask_dets.boxes:
        inside |= (yy >= b[0]) & (yy <= b[2]) & (xx >= b[1]) & (xx <= b[3])
    return inside.mean()


def test_track_survives_three_frame_gap_with_interpolation():
    frames = [det(moving_box(t)) if not 10 <= t < 13 else Detections.empty() for t in range(20)]
    out = run(SortTracker(0.5), frames)
    for t in range(20):
        assert covers(out[t], moving_box(t)), t
    for t in range(10, 13):  # known from both sides: the interpolation replaces the coasting guess
        assert INTERPOLATED in set(out[t].sources) and PREDICTED not in set(out[t].sources), t
    assert len({i for d in out for i in d.track_ids}) == 1


def test_crossing_faces_keep_their_ids():
    a = [det(moving_box(t, y=0.30, x0=0.1, v=0.02), moving_box(t, y=0.34, x0=0.7, v=-0.02)) for t in range(30)]
    out = run(SortTracker(0.5), a)
    first = {tid: b for tid, b, s in zip(out[0].track_ids, out[0].boxes, out[0].sources) if s == DETECTED}
    last = {tid: b for tid, b, s in zip(out[-1].track_ids, out[-1].boxes, out[-1].sources) if s == DETECTED}
    assert set(first) == set(last) and len(first) == 2
    for tid in first:  # the face that started on the left ends on the right
        assert (first[tid][1] < 0.5) == (last[tid][1] > 0.5)


def test_backfill_covers_frames_before_first_detection():
    # the face is there from frame 0 but only detected from frame 10 on (past twice the
    # back-fill from the shot's start: see the next test)
    frames = [Detections.empty() if t < 10 else det(moving_box(t)) for t in range(20)]
    out = run(SortTracker(0.5, backfill=3), frames)
    for t in (7, 8, 9):
        assert covers(out[t], moving_box(t), 0.3), t
        assert BACKFILLED in out[t].sources
    assert len(out[6]) == 0


def test_low_score_extends_but_never_starts_a_track():
    frames = [det(moving_box(t), score=0.9 if t < 5 else 0.2) for t in range(15)]
    out = run(SortTracker(0.5, low_threshold=0.1), frames)
    for t in range(15):
        assert covers(out[t], moving_box(t)), t
    only_low = [det(moving_box(t), score=0.2) for t in range(15)]
    assert all(len(d) == 0 for d in run(SortTracker(0.5, low_threshold=0.1), only_low))


def test_single_false_detection_leaves_no_trail():
    frames = [Detections.empty()] * 5 + [det([0.5, 0.5, 0.6, 0.6])] + [Detections.empty()] * 10
    out = run(SortTracker(0.5), frames)
    assert len(out[5]) == 1 and out[5].sources[0] == DETECTED
    assert all(len(d) == 0 for i, d in enumerate(out) if i != 5)


def test_mask_box_never_smaller_than_detection():
    rng = np.random.RandomState(0)
    frames = []
    for t in range(40):
        box = np.array(moving_box(t, v=0.01)) + rng.normal(0, 0.01, 4)
        frames.append(det(box))
    out = run(SortTracker(0.5), frames)
    for raw, masked in zip(frames, out):
        b = raw.boxes[0]
        contains = [(m[0] <= b[0] + 1e-9) and (m[1] <= b[1] + 1e-9) and (m[2] >= b[2] - 1e-9) and (m[3] >= b[3] - 1e-9)
                    for m in masked.boxes]
        assert any(contains)


def test_no_tracker_passes_confident_detections_only():
    frames = [det(moving_box(0), score=0.9), det(moving_box(1), score=0.3)]
    out = run(NoTracker(0.5), frames)
    assert len(out[0]) == 1 and len(out[1]) == 0


def test_weak_detections_start_tracks_masked_only_once_confirmed():
    # a face scoring 0.3 in every frame (under the threshold of 0.5, over the start level)
    weak = [det(moving_box(t), score=0.3) for t in range(12)]
    out = run(SortTracker(0.5, start_threshold=0.25, low_threshold=0.1), weak)
    for t in range(12):
        assert covers(out[t], moving_box(t)), t  # including frame 0, through the look-ahead
    # a single weak blip is never masked, a single confident one always is
    blip = [Detections.empty()] * 4 + [det([0.5, 0.5, 0.6, 0.6], score=0.3)] + [Detections.empty()] * 8
    assert all(len(d) == 0 for d in run(SortTracker(0.5, start_threshold=0.25), blip))


def test_backfill_reaches_a_face_entering_at_the_edge():
    # a face slides in from the left edge; the detector sees it only once it is half in
    def truth(t):
        return [0.4, -0.1 + 0.02 * t, 0.5, 0.0 + 0.02 * t]

    frames = [det(np.clip(truth(t), 0, 1)) if t >= 5 else Detections.empty() for t in range(20)]
    out = run(SortTracker(0.5), frames)
    for t in range(1, 5):  # the visible strip of the face at the edge is covered
        visible = np.clip(truth(t), 0, 1)
        m = out[t].boxes
        assert any((b[1] <= visible[1] + 1e-9) and (b[3] >= visible[3] - 1e-9) for b in m), t


def test_track_found_again_after_a_long_gap_is_interpolated():
    # the detector loses the face for 15 frames (longer than max_age): the gap is filled
    # once the face is found again, and the track keeps its id
    frames = [det(moving_box(t)) if not 10 <= t < 25 else Detections.empty() for t in range(40)]
    tracker = SortTracker(0.5)
    assert 15 > tracker.max_age and tracker.lookahead > 15
    out = run(tracker, frames)
    for t in range(40):
        assert covers(out[t], moving_box(t)), t
    assert INTERPOLATED in out[20].sources
    assert len({i for d in out for i in d.track_ids}) == 1


def test_a_face_that_never_comes_back_is_masked_for_max_age_frames_only():
    frames = [det(moving_box(t)) if t < 10 else Detections.empty() for t in range(40)]
    tracker = SortTracker(0.5)
    out = run(tracker, frames)
    masked = [t for t in range(40) if len(out[t])]
    assert masked == list(range(10 + tracker.max_age))


def test_face_behind_another_face_stays_masked():
    # face A walks slowly behind the still face B: undetected from frame 10 on, while a
    # quarter or more of it is under B (until frame 30), and never detected again. Its
    # predicted box stays masked for as long as it is under B, well beyond max_age.
    b = [0.3, 0.45, 0.45, 0.6]

    def a(t):
        return moving_box(t, y=0.31, x0=0.25, v=0.01, size=0.14)

    frames = [det(b, a(t)) if t < 10 else det(b) for t in range(45)]
    tracker = SortTracker(0.5)
    out = run(tracker, frames)
    assert 10 + tracker.max_age < 30
    for t in range(10, 31):
        assert hidden_share(out[t], a(t)) == 1.0, t
    # Past max_age it is masked where it is predicted to be, behind B, a little larger: no
    # longer also where it was last seen (frame 9) nor grown by the filter's uncertainty,
    # which spread the mask over the background beside B.
    left_behind = [0.37, 0.33, 0.39, 0.35]  # inside A's last detected box, outside B
    assert hidden_share(out[10], left_behind) == 1.0
    for t in range(11 + tracker.max_age, 31):
        assert hidden_share(out[t], left_behind) == 0.0, t
        (hidden,) = [box for box, source in zip(out[t].boxes, out[t].sources) if source == PREDICTED]
        assert (hidden[2] - hidden[0]) * (hidden[3] - hidden[1]) <= 1.25 * 0.14 * 0.14, t
    for t in range(32, 45):  # out from behind B and not seen: no longer masked
        assert list(out[t].sources) == [DETECTED], t


def test_small_fast_face_keeps_one_track():
    # a 2%-wide face moving 90% of its width per frame: consecutive boxes overlap by an
    # IoU of 0.05, so IoU matching alone would start a new track every frame (none
    # confirmed, the score being under the threshold). The centre-distance pass keeps one.
    frames = [det(moving_box(t, v=0.018, size=0.02), score=0.3) for t in range(20)]
    out = run(SortTracker(0.5, start_threshold=0.25, low_threshold=0.1), frames)
    for t in range(20):
        assert covers(out[t], moving_box(t, v=0.018, size=0.02)), t
    assert len({i for d in out for i in d.track_ids}) == 1


def test_backfill_stops_where_the_face_was_still_outside_the_frame():
    # entering from the left at 5% of the frame per frame, first detected at frame 8
    def truth(t):
        return [0.4, -0.3 + 0.05 * t, 0.5, -0.2 + 0.05 * t]

    frames = [det(np.clip(truth(t), 0, 1)) if t >= 8 and truth(t)[3] > 0 else Detections.empty() for t in range(30)]
    out = run(SortTracker(0.5, backfill=10), frames)
    assert all(len(out[t]) == 0 for t in range(0, 2))  # wholly outside, well before entering
    assert all(BACKFILLED in out[t].sources for t in range(5, 8))


def test_a_clear_detection_is_carried_to_the_next_full_pass():
    # a small face seen clearly (0.6) once, by a full pass that runs on every 4th frame (the
    # half-size passes in between cannot see it), at frame 8, the last full pass of its shot:
    # unconfirmed, it is still hidden in the 3 frames before the next full pass (carry 3), at
    # its predicted place; not after, and not without a scan plan (carry 0)
    face = [0.4, 0.4, 0.43, 0.42]
    frames = [det(face, score=0.6) if t == 8 else Detections.empty() for t in range(16)]
    for carry, hidden in ((3, [8, 9, 10, 11]), (0, [8])):
        out = run(SortTracker(0.4, start_threshold=0.2, carry=carry), frames)
        assert [t for t in range(16) if len(out[t])] == hidden, carry
        assert all(hidden_share(out[t], face) == 1.0 for t in hidden)
    # a weak box (under the threshold: not shown on its own) is not carried
    weak = [det(face, score=0.3) if t == 8 else Detections.empty() for t in range(16)]
    assert all(len(d) == 0 for d in run(SortTracker(0.4, start_threshold=0.2, carry=3), weak))


def test_the_carry_is_the_face_scan_plans_gap_between_full_passes():
    from vidanon import pipeline

    for (height, width), carry in (((500, 500), 3), ((1080, 1920), 1)):
        stages = pipeline.build_stages(pipeline.Options(device="cpu"), height, width)
        assert stages.track.tracker.carry == carry, (height, width)
    assert pipeline.build_stages(pipeline.Options(device="cpu", scan_every=1), 1080, 1920).track.tracker.carry == 0


def test_a_clear_face_found_early_in_its_shot_is_back_filled_to_the_shot_start():
    # a still face there from frame 0, first found at frame 14: clearly (0.9), it was most
    # likely there all along (back-filled to frame 0); weakly (0.45), or clearly but later in
    # the shot (frame 44: it may have just arrived), only the usual 10 frames
    def frames(first, score):
        return [det([0.3, 0.3, 0.4, 0.38], score=score) if t >= first else Detections.empty() for t in range(first + 10)]

    for first, score, reach, early in ((14, 0.9, 14, True), (14, 0.45, 10, True), (44, 0.9, 10, True),
                                       (14, 0.9, 10, False)):  # a tracker of people or plates: their scores are others'
        out = run(SortTracker(0.4, start_threshold=0.2, early=early), frames(first, score))
        masked = [t for t in range(first) if BACKFILLED in out[t].sources]
        assert masked == list(range(first - reach, first)), (first, score, early, masked)
    from vidanon.options import Options
    from vidanon.targets import FACES, PEOPLE, PLATES

    assert [t.tracker(Options()).early for t in (FACES, PEOPLE, PLATES)] == [True, False, False]


def test_segment_context_covers_the_look_ahead():
    # a part of a --segments job tracks CONTEXT frames past its end: the tracker must have
    # emitted every written frame by then
    from vidanon.batch import CONTEXT

    assert CONTEXT > SortTracker(0.5).lookahead


def test_shot_cuts_are_found_and_motion_is_not_a_cut():
    from vidanon.track.shots import ShotCuts

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:144, 0:256]
    scene_a = np.stack([(xx + yy) % 256, (2 * xx) % 256, np.full_like(xx, 60)], axis=-1)
    scene_b = rng.integers(0, 256, (144, 256, 3))
    frames = [np.roll(scene_a, 4 * t, axis=1) for t in range(10)]  # a fast pan
    frames += [np.roll(scene_b, 3 * t, axis=0) for t in range(10)]
    frames += [(np.roll(scene_b, 27, axis=0) * 0.85).astype(np.uint8) for t in range(5)]  # the light dims
    cuts = ShotCuts()
    assert [t for t, f in enumerate(frames) if cuts(f.astype(np.uint8))] == [10]


def test_nothing_crosses_a_cut():
    # shot 1: a face detected in frames 0-9; cut at 10; shot 2: another face from frame 14
    a = [0.3, 0.2, 0.45, 0.3]
    b = [0.5, 0.6, 0.65, 0.7]
    frames = [det(a) if t < 10 else (det(b) if t >= 14 else Detections.empty()) for t in range(30)]
    tracker = SortTracker(0.5, backfill=10)
    out = []
    for t, d in enumerate(frames):
        out.extend(tracker.push(t, d, cut=t == 10))
    out.extend(tracker.flush())
    out = [o[2] for o in out]
    ids_a = set(out[0].track_ids)
    for t in range(10, 30):  # face a neither coasts nor is interpolated into shot 2
        assert not ids_a & set(out[t].track_ids), t
    for t in range(0, 10):  # face b is not back-filled into shot 1
        assert set(out[t].track_ids) == ids_a, t
    assert all(BACKFILLED in out[t].sources for t in range(10, 14))  # but it is within its shot


def test_shot_cuts_on_a_real_edited_clip():
    import pytest

    from vidanon.media.probe import probe
    from vidanon.media.reader import FrameReader
    from vidanon.track.shots import ShotCuts

    clip = SHARED / "videos" / "bikes_street.mp4"
    if not clip.exists():
        pytest.skip("needs ../shared/eval beside the project")
    cuts = ShotCuts()
    assert [t for t, f in enumerate(FrameReader(probe(clip))) if cuts(f)] == [30, 76, 137, 187, 242]


def _scene(face_at=None, size=64, seed=0):
    """A 240x320 grey frame; ``face_at`` (top, left) pastes the same textured 'face' there."""
    frame = np.full((240, 320, 3), 120, np.uint8)
    if face_at is not None:
        texture = np.random.default_rng(seed).integers(30, 230, (size // 8, size // 8, 1))
        y, x = face_at
        frame[y : y + size, x : x + size] = np.kron(texture, np.ones((8, 8, 3), int)).astype(np.uint8)
    return frame


def _box(y, x, size=64):
    return [y / 240, x / 320, (y + size) / 240, (x + size) / 320]


def test_lost_face_still_in_the_image_is_followed_by_its_appearance():
    # A face walks right, 2 px a frame, detected for 10 frames; then the detector misses it
    # for 20 frames (well past max_age) while it is still there: its look keeps it masked.
    # The same track whose face has vanished from the image stops after max_age.
    def at(t):
        return (80, 40 + 2 * t)

    for vanished in (False, True):
        tracker = SortTracker(0.5)
        out = []
        for t in range(30):
            frame = _scene(None if vanished and t >= 10 else at(t))
            out.extend(tracker.push(t, det(_box(*at(t))) if t < 10 else Detections.empty(), frame=frame))
        out.extend(tracker.flush())
        masks = [o[2] for o in out]
        for t in range(10, 30):
            followed = hidden_share(masks[t], _box(*at(t))) == 1.0
            if vanished:
                assert followed == (t < 10 + tracker.max_age), t  # only the usual coasting
            else:
                assert followed, t
        if not vanished:
            from vidanon.detections import FOLLOWED

            assert FOLLOWED in set(masks[20].sources)


def test_few_detections_are_not_followed_by_appearance():
    # a false alarm on a static pattern, detected twice, is not kept alive by its look
    tracker = SortTracker(0.5)
    out = []
    for t in range(12):
        frame = _scene((80, 100))
        out.extend(tracker.push(t, det(_box(80, 100)) if t < 2 else Detections.empty(), frame=frame))
    out.extend(tracker.flush())
    masks = [o[2] for o in out]
    assert all(len(masks[t]) == 0 for t in range(2 + tracker.max_age, 12))


def _textured_scene(face_at=None, dim=1.0, size=64, post=False):
    """A 240x320 frame of fine random texture (a street, a crowd); ``face_at`` pastes the
    same coarse-textured 'face' there, its contrast scaled by ``dim``; ``post``: a post with a
    coarse pattern of its own (a poster column) then hides 5/8 of the face from the left:
    the face as a whole no longer correlates with itself, its right half still does."""
    frame = np.random.default_rng(5).integers(60, 190, (240, 320, 3)).astype(np.float64)
    if face_at is not None:
        texture = np.random.default_rng(0).integers(30, 230, (size // 8, size // 8, 1))
        face = np.kron(texture, np.ones((8, 8, 3), int)).astype(np.float64)
        y, x = face_at
        frame[y : y + size, x : x + size] = 128 + (face - 128) * dim
        if post:
            pattern = np.random.default_rng(21).integers(30, 230, (30, 5 * size // 64, 1))
            frame[:, x : x + 5 * size // 8] = np.kron(pattern, np.ones((8, 8, 3), int))
    return frame.astype(np.uint8)


def test_coasting_box_stops_when_its_face_leaves_the_image():
    # A face walks right, detected for 10 frames, then the detector misses it. Where it has
    # vanished (the textured background shows at the predicted place), no box coasts on;
    # where it is still there, dimmed (a face in shade, which the detector often misses) or
    # mostly behind a post, the box coasts on as before.
    def at(t):
        return (80, 40 + 2 * t)

    for case in ("vanished", "dimmed", "behind a post"):
        tracker = SortTracker(0.5)
        out = []
        for t in range(20):
            lost = t >= 10
            face = None if case == "vanished" and lost else at(t)
            frame = _textured_scene(face, dim=0.4 if lost and case == "dimmed" else 1.0,
                                    post=lost and case == "behind a post")  # fmt: skip
            out.extend(tracker.push(t, Detections.empty() if lost else det(_box(*at(t))), frame=frame))
        out.extend(tracker.flush())
        masks = [o[2] for o in out]
        assert all(hidden_share(masks[t], _box(*at(t))) == 1.0 for t in range(10)), case
        if case == "vanished":
            assert all(len(masks[t]) == 0 for t in range(10, 20))
        else:
            assert all(hidden_share(masks[t], _box(*at(t))) == 1.0 for t in range(10, 10 + tracker.max_age)), case


def _default_masks(frames, height, width, first_index=0, info=None):
    """The boxes the default detect and track stages hide in each of ``frames``, pushed a
    batch at a time as the pipeline does."""
    from vidanon.options import Options
    from vidanon.pipeline import build_stages

    stages = build_stages(Options.from_kwargs(), height, width, first_index=first_index, info=info)
    out = []
    for start in range(0, len(frames), stages.batch_size):
        chunk = frames[start : start + stages.batch_size]
        out += [dets for _, _, dets in stages.track.push(chunk, stages.detect(chunk))]
    out += [dets for _, _, dets in stages.track.flush()]
    assert len(out) == len(frames)
    return out


def test_hands_without_a_face_are_not_masked(shared):
    """A real clip of hands reaching in to take bottles, no face anywhere: the default
    detect and track stages leave every frame unmasked (frames 470-529: two hands)."""
    from vidanon.media.probe import probe
    from vidanon.media.reader import FrameReader

    info = probe(shared / "videos" / "bottles_hand_no_face.mp4")
    frames = list(FrameReader(info, skip=470, limit=60))
    masks = _default_masks(frames, info.height, info.width, first_index=470, info=info)
    assert len(frames) == 60 and [t for t, dets in enumerate(masks) if len(dets)] == []


def _subtitled(frames, lines, size):
    """``frames`` with ``lines`` burned in at the bottom, ``size`` px high, white or yellow with a
    black outline (as subtitles are); returns the frames and the text's boxes (x0, y0, x1, y1)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=size)
    stroke = max(1, size // 12)
    height, width = frames[0].shape[:2]
    measure = ImageDraw.Draw(Image.new("RGB", (width, height)))
    places = [((width - measure.textlength(text, font=font)) / 2, height - (len(lines) - k) * 1.4 * size - 0.4 * size)
              for k, text in enumerate(lines)]  # fmt: skip
    boxes = [measure.textbbox(at, text, font=font, stroke_width=stroke) for at, text in zip(places, lines)]
    out = []
    for frame in frames:
        image = Image.fromarray(frame)
        draw = ImageDraw.Draw(image)
        for k, (at, text) in enumerate(zip(places, lines)):
            fill = (255, 255, 255) if k % 2 == 0 else (255, 230, 0)
            draw.text(at, text, font=font, fill=fill, stroke_width=stroke, stroke_fill=(0, 0, 0))
        out.append(np.asarray(image))
    return out, np.array(boxes, float)


def test_subtitles_are_not_masked():
    """Burned-in subtitles (round letters, digits and symbols: "OO", "0800", "@", "88") under
    people walking: the default detect and track stages mask the people's faces and nothing
    on the text, at the size subtitles have on a 480x270 clip, and small (24 px) on the same
    clip enlarged to 1920x1080, where the full-resolution pass looks for faces of 18-24 px."""
    from PIL import Image

    from vidanon.detections import intersection_matrix
    from vidanon.media.probe import probe
    from vidanon.media.reader import FrameReader

    info = probe(SAMPLE)
    plain = [np.asarray(f) for f in FrameReader(info, skip=20, limit=10)]
    lines = ["Good evening: OO 88 @ 0800 - oo QQ", "Bob and Otto look at the opera (ooh!)"]
    for width, height, size in ((info.width, info.height, 16), (1920, 1080, 24)):
        frames = [np.asarray(Image.fromarray(f).resize((width, height), Image.LANCZOS)) for f in plain]
        frames, text = _subtitled(frames, lines, size)
        masks = _default_masks(frames, height, width)
        for dets in masks:
            on_text = intersection_matrix(dets.pixel_boxes(height, width), text)
            assert not on_text.any(), (width, dets.pixel_boxes(height, width))
        assert sum(len(dets) for dets in masks) >= len(frames)  # the walkers' faces are masked meanwhile
