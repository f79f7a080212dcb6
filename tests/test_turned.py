"""--turned-faces: faces lying sideways or upside down (vidanon.detect.turns)."""

import subprocess

import numpy as np
import pytest
from conftest import SAMPLE, ffmpeg, read_frames

from vidanon.detect.look import UNVERIFIED_SCORE
from vidanon.detect.turns import TURNED_MIN, TurnedFaces, boxes_back, merge_turns, turn_frames, upright_twin
from vidanon.detections import Detections, head_boxes


def test_boxes_found_on_a_turned_frame_come_back_where_they_are():
    frame = np.zeros((1, 30, 50, 1), np.uint8)
    frame[0, 5:12, 20:41] = 255  # rows 5-11, columns 20-40
    box = [5 / 30, 20 / 50, 12 / 30, 41 / 50]
    for k in range(4):
        turned = turn_frames(frame, k)[0, ..., 0]
        ys, xs = np.nonzero(turned)
        h, w = turned.shape
        found = [[ys.min() / h, xs.min() / w, (ys.max() + 1) / h, (xs.max() + 1) / w]]
        assert boxes_back(found, k)[0] == pytest.approx(box), k
        assert boxes_back(boxes_back(found, k), 4 - k)[0] == pytest.approx(found[0])  # and forth again


def test_a_twin_s_head_is_the_turned_face_s_head():
    heads = np.array([[0.1, 0.2, 0.5, 0.3], [0.0, 0.0, 1.0, 1.0], [0.6, 0.1, 0.65, 0.5]])
    assert head_boxes(upright_twin(heads)) == pytest.approx(heads)


def test_a_turn_adds_only_clear_faces_the_frame_as_it_is_does_not_show():
    """The frame's own boxes stay as they are (neighbours in a crowd too); a turned box is
    added where no clear upright box holds that head: as it is from TURNED_MIN, capped where
    it can only extend a track from the threshold, and under it only where the same turn
    shows a clear face in the frame."""
    face = Detections([[0.2, 0.2, 0.3, 0.26]], [0.6], [0])
    same = Detections(upright_twin(head_boxes([[0.21, 0.2, 0.31, 0.26]])), [0.8], [0])
    merged = merge_turns([face, same], 0.3, 0.4)
    assert len(merged) == 1 and merged.scores[0] == pytest.approx(0.6)
    weak = Detections([[0.2, 0.2, 0.3, 0.26]], [0.2], [0])
    assert sorted(merge_turns([weak, same], 0.3, 0.4).scores) == pytest.approx([0.2, 0.8])
    assert len(merge_turns([Detections.empty(), same[[0, 0]]], 0.3, 0.4)) == 1  # two turns, one face
    faint = Detections(same.boxes, [TURNED_MIN - 0.05], [0])  # extends a track, starts none
    assert merge_turns([Detections.empty(), faint], 0.3, 0.4).scores.tolist() == [pytest.approx(UNVERIFIED_SCORE)]
    weaker = Detections(same.boxes, [0.35], [0])  # under the threshold: mostly bodies seen sideways
    assert len(merge_turns([Detections.empty(), weaker], 0.3, 0.4)) == 0
    lying = Detections.merge([weaker, Detections(upright_twin([[0.5, 0.5, 0.7, 0.6]]), [0.9], [0])])
    kept = merge_turns([Detections.empty(), lying], 0.3, 0.4)  # this turn shows a face: its weak boxes extend
    assert sorted(kept.scores) == pytest.approx([UNVERIFIED_SCORE, 0.9])
    assert len(merge_turns([Detections.empty(), weaker, lying[[1]]], 0.3, 0.4)) == 1  # another turn's face: not
    beside = Detections(upright_twin(head_boxes([[0.2, 0.3, 0.3, 0.36]])), [0.7], [0])
    assert len(merge_turns([face, beside], 0.3, 0.4)) == 2
    crowd = Detections([[0.2, 0.2, 0.3, 0.26], [0.17, 0.215, 0.27, 0.275]], [0.9, 0.8], [0, 0])
    assert len(merge_turns([crowd, beside], 0.3, 0.4)) == 3


@pytest.mark.parametrize("k", [1, 2, 3])
def test_the_sample_s_faces_turned_are_found(detector, k):
    """The sample's two faces (0.81-0.87 upright) score under 0.4 turned a quarter either
    way (but once 0.402) and 0.11 upside down; the turned passes find them at their upright
    scores, each box's head over the face (the twin's head box on the side the head lies)."""
    img = read_frames(SAMPLE)[-1]
    upright = detector(img[None])[0]
    faces = upright.boxes[upright.scores >= 0.5]
    assert len(faces) == 2
    turned = turn_frames(img[None], k)
    plain = detector(turned)[0]
    assert (plain.scores >= 0.4).sum() <= 1
    found = TurnedFaces(detector)(turned)[0]
    found = found[np.flatnonzero(found.scores >= 0.4)]
    assert len(found) == 2 and (found.scores >= 0.8).sum() >= 1
    heads = boxes_back(head_boxes(found.boxes), k)  # in the upright frame
    for face in faces:
        inside = [(h[0] <= face[0] + 0.01) & (h[1] <= face[1] + 0.01) & (h[2] >= face[2] - 0.01)
                  & (h[3] >= face[3] - 0.01) for h in heads]  # fmt: skip
        assert sum(inside) == 1, (face, heads)


def test_an_upside_down_video_s_faces_are_hidden_only_with_turned_faces(tmp_path, detector, run_inprocess):
    """A camera mounted upside down: without --turned-faces the sample's faces are left
    visible; with it every face the detector finds upright is hidden in every frame."""
    src = tmp_path / "upside_down.mp4"
    subprocess.run([ffmpeg(), "-v", "error", "-i", str(SAMPLE), "-vf", "hflip,vflip", "-frames:v", "12",
                    "-c:v", "libx264", "-crf", "12", "-an", str(src)], check=True)  # fmt: skip
    frames = read_frames(src)
    faces = []  # (frame, pixel box in the upside-down frame) of each face found upright
    for t, frame in enumerate(frames):
        dets = detector(frame[None, ::-1, ::-1])[0]
        for y0, x0, y1, x1 in dets.boxes[dets.scores >= 0.5]:
            h, w = frame.shape[:2]
            faces.append((t, (int((1 - y1) * h) + 2, int((1 - x1) * w) + 2, int((1 - y0) * h) - 2, int((1 - x0) * w) - 2)))
    assert len(faces) >= 12

    def hidden(out):
        result = read_frames(out)
        return [np.abs(result[t][a:c, b:d].astype(int) - frames[t][a:c, b:d]).mean() > 40 for t, (a, b, c, d) in faces]

    for extra, want in (((), False), (("--turned-faces",), True)):
        out = tmp_path / f"out{len(extra)}.mp4"
        code, _, err = run_inprocess(src, out, "-y", "-q", "--effect", "fill", "--fill-color", "white", *extra)
        assert code == 0, err
        shown = hidden(out)
        assert all(shown) if want else not any(shown), shown
