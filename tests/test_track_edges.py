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


def test_a_face_found_in_the_last_full_pass_of_a_clip_or_shot_is_hidden_in_the_frame_before():
    # 1080p, a full pass on every 2nd frame (carry 1): a small face there from frame 5, which the
    # half-size pass of frame 5 misses, found clearly by the full pass of frame 6. Mid-clip the
    # next full pass confirms its track and back-fills frame 5; where the clip ends (frame 6 or 7)
    # or a shot does (a cut at 7 or 8), none can, and frame 5 showed the face
    face = [0.4, 0.4, 0.42, 0.41]

    def hidden(length, cut=None):
        tracker, out = SortTracker(0.4, start_threshold=0.2, carry=1), []
        for t in range(length):
            seen = t == 6 and (cut is None or t < cut)
            out.extend(tracker.push(t, det(face, score=0.7) if seen else Detections.empty(), cut=t == cut))
        out.extend(tracker.flush())
        return [t for t, _, d in out if len(d) and hidden_share(d, face) == 1.0]

    assert hidden(7) == [5, 6]
    assert hidden(8) == [5, 6, 7]
    assert hidden(12, cut=7) == [5, 6]
    assert hidden(12, cut=8) == [5, 6, 7]
    # a clear box that a later full pass of its shot does not find again (a false alarm, a face
    # gone) is hidden where it was found and carried to the next full pass, not before
    assert hidden(12) == [6, 7]
    assert hidden(12, cut=9) == [6, 7]


def test_a_small_face_moving_fast_between_full_passes_is_tracked():
    # 1080p, a full pass on every 2nd frame (carry 1): a small face that the half-size passes
    # cannot see, moving 0.8 of its width a frame (a cyclist far off), is found 1.6 widths from
    # where it was two frames before: beyond the distance gate of a track lost one frame (1 box
    # size), so each full pass started a new track, never confirmed, carried where the face had
    # been: the face showed in every other frame
    def face(t):
        return [0.4, 0.1 + 0.016 * t, 0.42, 0.12 + 0.016 * t]

    frames = [det(face(t), score=0.7) if t % 2 == 0 else Detections.empty() for t in range(13)]
    out = run(SortTracker(0.4, start_threshold=0.2, carry=1), frames)
    assert [t for t in range(13) if hidden_share(out[t], face(t)) < 1.0] == []
    # without a scan plan (every frame a full pass), a face missed in a frame is not looked for
    # further away than before
    out = run(SortTracker(0.4, start_threshold=0.2, carry=0), frames)
    assert [t for t in range(13) if hidden_share(out[t], face(t)) < 1.0] == list(range(1, 13, 2))
    # weak boxes (under the threshold: a sign, a pattern) that far apart do not make a track
    weak = [det(face(t), score=0.3) if t % 2 == 0 else Detections.empty() for t in range(13)]
    assert all(len(d) == 0 for d in run(SortTracker(0.4, start_threshold=0.2, carry=1), weak))


def test_a_weak_face_in_a_shot_too_short_to_confirm_it_is_hidden():
    # QA: a 67 px face in a 2-frame shot (a flash insert), scored 0.195 then 0.273: its track, started
    # by the second, ends with the shot before a second detection can confirm it: both frames showed it
    face = [0.4, 0.4, 0.5, 0.48]

    def hidden(shot, scores, length=12):
        tracker, out = SortTracker(0.4, start_threshold=0.2, low_threshold=0.1, carry=1), []
        start, end = shot
        for t in range(length):
            score = scores[t - start] if start <= t < end else None
            d = det(face, score=score) if score else Detections.empty()
            out.extend(tracker.push(t, d, cut=t in (start, end)))
        out.extend(tracker.flush())
        return [t for t, _, d in out if len(d) and hidden_share(d, face) == 1.0]

    assert hidden((5, 7), [0.15, 0.27]) == [5, 6]
    assert hidden((10, 12), [0.15, 0.27]) == [10, 11]  # the clip's end
    # in a longer shot the same weak box, never found again, is still not shown (a sign, a lamp)
    assert hidden((5, 8), [0.15, 0.27, None]) == []
    assert hidden((5, 7), [0.15, None]) == []  # under the start level: nothing to show
