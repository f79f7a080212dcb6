"""A track found again far from where it was lost, off its own course, jumped from one thing to
another: the gap between the two is not interpolated (vidanon.track.sort.JUMP)."""

import numpy as np
from test_track import det, run

from vidanon.detections import DETECTED, INTERPOLATED, PREDICTED, Detections
from vidanon.track.gaps import JUMP, OFF_COURSE, course_miss
from vidanon.track.sort import SortTracker

SIZE = 0.04


def box(cy: float) -> list[float]:
    return [cy - SIZE / 2, 0.5 - SIZE / 2, cy + SIZE / 2, 0.5 + SIZE / 2]


def lost_and_found(path: list[float], gap: int, found_at: float) -> tuple[SortTracker, list[Detections]]:
    """A face detected along ``path`` (centres, one a frame), then missed for ``gap`` frames,
    then a weak box at ``found_at`` that the track takes."""
    frames = [det(box(y)) for y in path] + [Detections.empty()] * gap + [det(box(found_at), score=0.15)]
    tracker = SortTracker(0.5, start_threshold=0.25, low_threshold=0.1)
    return tracker, run(tracker, frames)


def test_a_track_that_jumps_off_its_course_is_not_interpolated():
    # A face walks down half its size a frame, stands still for 6 frames, then the detector
    # loses it; 10 frames later a weak box 3.3 face sizes below (a chest, say) is where the
    # filter, still carrying the old walk, expects the face: the track takes it. The straight
    # line from the face to that box would be masked over whatever lies between.
    path = [0.2 + 0.5 * SIZE * min(i, 10) for i in range(16)]
    found_at = 0.2 + 0.5 * SIZE * 10 + 3.3 * SIZE
    tracker, out = lost_and_found(path, 10, found_at)
    assert len({i for d in out for i in d.track_ids}) == 1  # the track took the far box
    for t in range(16, 26):
        assert INTERPOLATED not in out[t].sources, t
    # The coasting guesses along its own course stay for max_age frames, as for a face lost.
    for t in range(16, 16 + tracker.max_age):
        assert list(out[t].sources) == [PREDICTED], t
    assert list(out[26].sources) == [DETECTED]


def test_a_fast_face_found_again_on_its_course_is_interpolated():
    # The same face walking on at half its size a frame, missed for 10 frames and found again
    # where its walk takes it, 5.5 face sizes away: the gap is filled.
    path = [0.2 + 0.5 * SIZE * i for i in range(16)]
    found_at = path[-1] + 0.5 * SIZE * 11
    _, out = lost_and_found(path, 10, found_at)
    assert len({i for d in out for i in d.track_ids}) == 1
    for t in range(16, 26):
        assert INTERPOLATED in out[t].sources, t


def test_course_miss_measures_in_box_sizes():
    from vidanon.track.kalman import Track

    track = Track(1, np.array(box(0.2)), 0)
    for f in range(1, 6):  # moving down a quarter of its size a frame
        track.update(np.array(box(0.2 + 0.25 * SIZE * f)), f)
    (distance,), (miss,) = course_miss([track], [np.array(box(0.2 + 0.25 * SIZE * 5 + 4 * SIZE))], 9)
    assert np.isclose(distance, 4.0) and np.isclose(miss, 3.0)  # 4 frames on: 1 size expected
    assert distance > JUMP and miss > OFF_COURSE


def test_gaps_measured_together_are_measured_as_one_at_a_time():
    """A frame's gaps are measured in one call: each track's numbers are those of measuring it
    alone, and the lengths those of np.linalg.norm (the same numbers, not nearly)."""
    from vidanon.track.gaps import lengths
    from vidanon.track.kalman import Track

    rng = np.random.default_rng(2)
    vectors = rng.normal(0, 3, (5000, 2))
    assert lengths(vectors).tolist() == [float(np.linalg.norm(v)) for v in vectors]
    tracks, found = [], []
    for i in range(12):
        track = Track(i, np.array(box(rng.uniform(0.1, 0.6))), 0)
        for f in range(1, int(rng.integers(2, 9))):
            track.update(np.array(box(rng.uniform(0.1, 0.6))), f)
        tracks.append(track)
        found.append(np.array(box(rng.uniform(0.1, 0.6))))
    together = course_miss(tracks, found, 12)
    for k, (track, b) in enumerate(zip(tracks, found)):
        alone = course_miss([track], [b], 12)
        assert (alone[0][0], alone[1][0]) == (together[0][k], together[1][k])
