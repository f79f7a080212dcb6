"""Recall at the edges of time: faces that the scan plan's full passes alone find, where the
clip, a shot or the tracker's patience ends before the next full pass."""

from test_track import det, hidden_share, run

from vidanon.detections import Detections
from vidanon.track.sort import SortTracker


def test_a_face_seen_by_full_passes_far_apart_stays_hidden_between_them():
    # --scan-every 4 on a frame under 960 px: the full pass on every 8th frame (carry 7), a small
    # face found by it alone (the half-size passes cannot see it), clearly each time. Its
    # tentative track ended after max_age (4) missed frames, before the next full pass could
    # confirm it: frames 5-7 and 13-15 showed the face
    face = [0.4, 0.4, 0.43, 0.42]
    frames = [det(face, score=0.6) if t % 8 == 0 else Detections.empty() for t in range(20)]
    out = run(SortTracker(0.4, start_threshold=0.2, carry=7), frames)
    assert [t for t in range(20) if hidden_share(out[t], face) < 1.0] == []
    # a weak box (under the threshold) alone still hides nothing until a second one confirms it
    weak = [det(face, score=0.3) if t == 8 else Detections.empty() for t in range(20)]
    assert all(len(d) == 0 for d in run(SortTracker(0.4, start_threshold=0.2, carry=7), weak))
