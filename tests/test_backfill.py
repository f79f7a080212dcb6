"""Back-fill: the frames before a track's first detection (vidanon/track/backfill.py)."""

import numpy as np

from vidanon.detections import BACKFILLED, Detections
from vidanon.track.sort import SortTracker

SIZE = 64  # px, the pasted face's side, in a 240 x 320 frame


def _frame(face_at=None, size=SIZE, look=0):
    """Fine random texture (a street); ``face_at`` (top, left): a coarse-textured 'face' there,
    its pattern drawn with the seed ``look`` (another seed: the face turned, or blurred)."""
    frame = np.random.default_rng(5).integers(60, 190, (240, 320, 3))
    if face_at is not None:
        texture = np.random.default_rng(look).integers(30, 230, (size // 8, size // 8, 1))
        y, x = face_at
        frame[y : y + size, x : x + size] = np.kron(texture, np.ones((8, 8, 3), int))
    return frame.astype(np.uint8)


def _box(y, x, size=SIZE):
    return np.array([y / 240, x / 320, (y + size) / 240, (x + size) / 320])


def _turning(t):
    """Up the frame 8 px a frame, then, from frame 10, right 8 px a frame."""
    return (40 + 8 * (10 - t), 20) if t < 10 else (40, 20 + 8 * (t - 10))


def _fast(t):
    """Right along the frame, 20 px a frame (its side: 32 px)."""
    return (100, 20 + 20 * t)


def _run(at, size=SIZE, frames=40, shown_from=0, same_look_from=0, **tracker):
    """The face at ``at(t)``, detected from frame 10 on; before, in the image from frame
    ``shown_from``, looking as it does when detected from frame ``same_look_from``."""
    tracker = SortTracker(0.5, backfill=10, **tracker)
    out = []
    for t in range(frames):
        dets = Detections(_box(*at(t), size)[None], [0.9], [0]) if t >= 10 else Detections.empty()
        frame = _frame(at(t) if t >= shown_from else None, size, look=0 if t >= same_look_from else 9)
        out.extend(tracker.push(t, dets, frame=frame))
    out.extend(tracker.flush())
    return [o[2] for o in out]


def _area(b):
    return (b[2] - b[0]) * (b[3] - b[1])


def _holds(box, face):
    return (box[:2] <= face[:2] + 1e-6).all() and (box[2:] >= face[2:] - 1e-6).all()


def test_back_fill_follows_a_turning_face_by_its_look():
    # The straight line through the first detections (going right) says the face came from
    # the left; it came from below. Followed back by its look, it is masked in every frame
    # before its first detection; the box around the line's way alone (the back-fill before)
    # left frames 0-2 visible. (40 frames: the back-fill is made while frames still come.)
    masks = _run(_turning)
    for t in range(10):
        assert list(masks[t].sources) == [BACKFILLED], t
        assert _holds(masks[t].boxes[0], _box(*_turning(t))), t


def test_back_fill_carries_on_along_the_way_the_face_was_followed():
    # Before frame 4 the face no longer looks as it did (turned away, blurred): its look is
    # followed back to frame 4 only, and the box goes on along the way it was followed (up
    # from below), not only along the line through the first detections (from the left).
    masks = _run(_turning, same_look_from=4)
    for t in range(10):
        assert list(masks[t].sources) == [BACKFILLED], t
        assert _holds(masks[t].boxes[0], _box(*_turning(t))), t


def test_a_fast_face_is_back_filled_where_it_was_not_over_its_whole_way():
    # A face crossing the frame fast (a road sign's false alarm moves so too), detected from
    # frame 10: the box around its way back (the back-fill before) spread over 4-5 times its
    # area in frames 0-2; followed by its look, the box is the face's, 5% larger a frame back.
    masks = _run(_fast, size=32, frames=12)
    for t in range(10):
        box, face = masks[t].boxes[0], _box(*_fast(t), 32)
        assert list(masks[t].sources) == [BACKFILLED] and _holds(box, face), t
    for t in range(3):
        box, face = masks[t].boxes[0], _box(*_fast(t), 32)
        assert _area(box) <= (1 + 0.05 * (10 - t)) ** 2 * _area(face) + 1e-6, t


def test_back_fill_where_the_look_is_not_found_is_the_box_around_the_way():
    # The face is not in the image before its first detection (it had not come out from
    # behind something): nothing to follow, so the back-fill is what it is without following
    # (follow_back=False, the people and plates trackers): the box joining the first box and
    # the line's, 5% larger a frame further back, as far as the line's face is in the frame.
    masks = _run(_turning, shown_from=10)
    plain = _run(_turning, shown_from=10, follow_back=False)
    first = _box(*_turning(10))
    for t in range(10):
        np.testing.assert_array_equal(masks[t].boxes, plain[t].boxes)
    assert len(masks[0]) == 0  # the line's face 80 px left of the first box: out of the frame
    for t in range(1, 10):
        assert list(masks[t].sources) == [BACKFILLED], t
        box = masks[t].boxes[0]
        assert _holds(box, first), t
        assert box[1] < first[1] - (8 * (10 - t) - 1) / 320 or box[1] == 0, t  # back along the line, left
