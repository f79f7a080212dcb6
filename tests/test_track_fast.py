"""Small faces that move more than their box a frame between the scan plan's full passes
(the half-size passes between them cannot see them), and what the wider search for them must
not do in a crowd."""

import numpy as np
from test_track import det, hidden_share, run

from vidanon.detections import DETECTED, Detections, iou_matrix
from vidanon.track.sort import SortTracker


def tracker():
    # 1080p: a full pass on every 2nd frame (carry 1), as the scan plan runs it
    return SortTracker(0.4, start_threshold=0.2, carry=1)


def detected_ids(out, box_of, faces):
    """For each face, the ids of the tracks that its detected boxes went to."""
    ids = {face: set() for face in faces}
    for t, d in enumerate(out):
        for box, track_id, source in zip(d.boxes, d.track_ids, d.sources):
            if source != DETECTED:
                continue
            near = [(iou_matrix(np.array([box]), np.array([box_of(f, t)]))[0, 0], f)
                    for f in faces if box_of(f, t) is not None]
            best, face = max(near, default=(0.0, None))
            if best >= 0.5:  # (a confirmed track's box is its detection joined with its smoothed box)
                ids[face].add(int(track_id))
    return ids


def test_a_small_face_moving_one_and_a_half_boxes_a_frame_is_one_track_and_stays_hidden():
    # QA: 1080p faces of 33 px (a 27 px box) at 40 px a frame, found clearly by every full pass,
    # 3 boxes from where the last one found them: beyond the reach of a track with no speed yet
    # (1 box a frame), so every full pass started a track, none confirmed, and each coasted where
    # the face had been: the face showed in the frames between (19 of 240 face-frames)
    def face(t):
        return [0.4, 0.1 + 0.03 * t, 0.42, 0.12 + 0.03 * t]  # 0.02 wide, 0.03 a frame

    frames = [det(face(t), score=0.6) if t % 2 == 0 else Detections.empty() for t in range(14)]
    out = run(tracker(), frames)
    assert [t for t in range(14) if hidden_share(out[t], face(t)) < 1.0] == []
    assert len(detected_ids(out, lambda f, t: face(t) if t % 2 == 0 else None, [0])[0]) == 1
    # weak boxes (under the threshold) that far apart do not make a track: nothing is hidden
    weak = [det(face(t), score=0.3) if t % 2 == 0 else Detections.empty() for t in range(14)]
    assert all(len(d) == 0 for d in run(tracker(), weak))


def test_fast_small_faces_crossing_are_never_one_track():
    # two such faces crossing one another a box and a half apart in height: near each other, no
    # track looks that far for either, and no track takes both faces' boxes
    def box_of(face, t):
        if t % 2:
            return None
        x = 0.1 + 0.03 * t if face == 0 else 0.5 - 0.03 * t
        y = 0.4 + 0.03 * face
        return [y, x, y + 0.02, x + 0.02]

    frames = [det(box_of(0, t), box_of(1, t), score=0.6) if t % 2 == 0 else Detections.empty() for t in range(14)]
    ids = detected_ids(run(tracker(), frames), box_of, [0, 1])
    assert not ids[0] & ids[1]
    # far apart (5 boxes), each is one track
    far = [det(box_of(0, t), [b + 0.07 * (k % 2 == 0) for k, b in enumerate(box_of(1, t))], score=0.6)
           if t % 2 == 0 else Detections.empty() for t in range(14)]
    ids = detected_ids(run(tracker(), far), lambda f, t: None if t % 2 else
                       box_of(0, t) if f == 0 else [b + 0.07 * (k % 2 == 0) for k, b in enumerate(box_of(1, t))], [0, 1])
    assert len(ids[0]) == 1 and len(ids[1]) == 1 and ids[0] != ids[1]


def test_a_still_crowd_row_whose_faces_blink_is_not_chained():
    # a row of 12 still faces 2.5 boxes apart (a marathon's far runners), found clearly by the
    # full passes but each missed by some (the detector blinks): a face missed by a pass, found
    # once before, and its neighbour found for the first time by that pass are two faces, not
    # one that moved 2.5 boxes: the wider search without its guard chains neighbours in 4 of
    # these 10 rows (in 30: 26 tracks with two faces' boxes; with the guard 6, at a row's edge
    # or beside a face never found, where the lost face has no other neighbour: docs/precision.md)
    for seed in range(10):
        seen = np.random.default_rng(seed).random((12, 20)) > 0.3

        def box_of(face, t):
            if t % 2 or not seen[face, t]:
                return None
            x = 0.1 + 0.05 * face
            return [0.5, x, 0.52, x + 0.02]

        frames = []
        for t in range(20):
            boxes = [box_of(f, t) for f in range(12) if box_of(f, t) is not None]
            frames.append(det(*boxes, score=0.6) if boxes else Detections.empty())
        ids = detected_ids(run(tracker(), frames), box_of, range(12))
        owners = [i for face in range(12) for i in ids[face]]
        assert len(owners) == len(set(owners)), seed  # no track holds two faces' boxes
