"""Interlaced video (1080i broadcasts, camcorders, DV): faces moving between a frame's two
fields are combed, and the face detector also looks at each field alone (vidanon.detect.fields).
How the fields are kept in the output: tests/test_fidelity.py."""

import dataclasses
import subprocess
from fractions import Fraction

import numpy as np
import pytest
from conftest import ffmpeg, read_frames, small_faces_frame
from media import clip

from vidanon.detect.fields import FRAME_UNDER_PX, FieldAndFrame, for_fields, joined, paired
from vidanon.detect.view import detector_view, one_field
from vidanon.detections import Detections
from vidanon.media.probe import probe
from vidanon.pipeline import anonymize


def combed(frame: np.ndarray, shift: int = 4) -> np.ndarray:
    """``frame`` as an interlaced frame whose second field shows it ``shift`` px further right."""
    out = frame.copy()
    out[1::2] = np.roll(frame, shift, axis=1)[1::2]
    return out


def test_an_interlaced_frame_s_faces_are_looked_for_in_its_field_and_in_the_frame(tmp_path, detector, face_image):
    """A face moving between an interlaced frame's two fields is combed, every other line
    from the other field; the face network misses it (here all four small faces). The face
    detector of an interlaced video also looks at each field alone, the other's lines
    interpolated, and finds them; the two fields' boxes of a face become one box holding
    both, and the frame as it is adds its small boxes only.
    Progressive video keeps the plain detector; a video turned upright from its side has
    its fields in columns, and resampling to square pixels never mixes a field's lines."""
    src = clip(tmp_path / "in.ts", size="64x48", frames=2, audio=False,
               extra=("-flags", "+ildct+ilme", "-vf", "setfield=tff"))  # fmt: skip
    interlaced, progressive = probe(src), probe(clip(tmp_path / "p.mp4", frames=2, audio=False))
    assert interlaced.field_order is not None and progressive.field_order is None
    assert for_fields(detector, progressive) is detector
    assert for_fields(detector, interlaced).axis == 1
    assert for_fields(detector, dataclasses.replace(interlaced, rotation=90)).axis == 2
    combs = np.zeros((1, 6, 4, 3), np.uint8)
    combs[:, ::2] = 200  # the first field light, the other dark
    assert (one_field(combs) == 200).all() and (combs[:, 1::2] == 0).all()
    assert (one_field(combs.transpose(0, 2, 1, 3), axis=2) == 200).all()
    assert (one_field(combs[:, :5]) == 200).all()  # an odd number of lines
    assert one_field(combs[:, :2]) is not None and (one_field(combs[:, :2]) == combs[:, :2]).all()  # too few lines
    lines = np.array([254, 0, 255, 0, 10, 0, 31, 0], np.uint8)[None, :, None, None].repeat(3, -1)
    assert one_field(lines)[0, :, 0, 0].tolist() == [254, 254, 255, 132, 10, 20, 31, 31]  # the mean, rounded down
    assert one_field(lines.transpose(0, 2, 1, 3), axis=2)[0, 0, :, 0].tolist() == [254, 254, 255, 132, 10, 20, 31, 31]
    second = np.array([9, 254, 0, 255, 0, 10, 0, 31], np.uint8)[None, :, None, None].repeat(3, -1)
    assert one_field(second, field=1)[0, :, 0, 0].tolist() == [254, 254, 254, 255, 132, 10, 20, 31]  # the other field
    assert one_field(second[:, :7], field=1)[0, :, 0, 0].tolist() == [254, 254, 254, 255, 132, 10, 10]
    assert one_field(second.transpose(0, 2, 1, 3), axis=2, field=1)[0, 0, :, 0].tolist() == [254, 254, 254, 255, 132, 10, 20, 31]
    dv = dataclasses.replace(interlaced, sar=Fraction(10, 11))  # NTSC DV 4:3: tall pixels
    assert detector_view(np.zeros((1, 480, 720, 3), np.uint8), dv).shape == (1, 480, 655, 3)
    turned_dv = dataclasses.replace(dv, rotation=90)  # its fields in columns: rows resampled instead
    assert detector_view(np.zeros((1, 720, 480, 3), np.uint8), turned_dv).shape == (1, 792, 480, 3)

    frame, _ = small_faces_frame(face_image, detector, face_px=24)
    found = [int((detector(v)[0].scores >= 0.4).sum()) for v in (frame[None], combed(frame)[None])]
    assert found[0] >= 3 and found[1] == 0
    assert (FieldAndFrame(detector)(combed(frame)[None])[0].scores >= 0.4).sum() >= 3

    # the two fields' boxes of one face become one box holding both; the frame's small boxes join
    # theirs, its large ones do not; of two boxes on one face the best stays
    first = Detections(np.array([[0.1, 0.1, 0.115, 0.11], [0.3, 0.3, 0.31, 0.31]]), [0.5, 0.2], [1, 1])
    second = Detections(np.array([[0.102, 0.101, 0.117, 0.111], [0.6, 0.6, 0.61, 0.61]]), [0.45, 0.25], [1, 1])
    both = paired(first, second, 0.3)
    np.testing.assert_allclose(both.boxes, [[0.1, 0.1, 0.117, 0.111], [0.3, 0.3, 0.31, 0.31], [0.6, 0.6, 0.61, 0.61]], atol=1e-6)
    assert both.scores.tolist() == pytest.approx([0.5, 0.2, 0.25])
    assert len(paired(first, Detections.empty(), 0.3)) == 2 and len(paired(Detections.empty(), second, 0.3)) == 2
    boxes = np.array([[0.1, 0.1, 0.115, 0.11], [0.5, 0.5, 0.51, 0.51], [0.7, 0.7, 0.8, 0.75]])
    assert 15 < FRAME_UNDER_PX <= 100  # in a frame of 1000 lines: the first two are small, the third is not
    frame_found = Detections(boxes, [0.7, 0.3, 0.9], [1, 1, 1])

    class Seen:  # a detector whose boxes say which view it was given
        nms_iou = 0.3

        def prepare(self, frames, first_index=0, starts=None):
            if np.array_equal(frames, plain):
                found = frame_found
            else:  # a field: its own lines are the frame's
                found = first if np.array_equal(frames[:, ::2], plain[:, ::2]) else second
            return lambda: lambda: [found] * len(frames)

    plain = np.random.default_rng(1).integers(0, 256, (1, 1000, 8, 3), dtype=np.uint8)  # its fields differ
    found = FieldAndFrame(Seen())(plain)[0]
    assert sorted(found.scores.tolist()) == pytest.approx([0.2, 0.25, 0.3, 0.7])  # the frame's 0.7 lent to the pair
    held = np.flatnonzero(np.isclose(found.scores, 0.7))[0]  # the box holding the face in both fields stays
    np.testing.assert_allclose(found.boxes[held], [0.1, 0.1, 0.117, 0.111], atol=1e-6)
    assert len(joined(first, Detections.empty(), 1000, 0.3)) == 2 and len(joined(Detections.empty(), frame_found, 1000, 0.3)) == 2
    assert first.scores.tolist() == pytest.approx([0.5, 0.2])  # the inputs are left as they were


def test_combed_faces_of_an_interlaced_video_are_hidden(tmp_path, detector, face_image):
    """End to end: a 1080i clip whose small faces move 4 px between the fields (the plain
    detector finds none of them, above) comes out with every face masked in every frame."""
    frame, boxes = small_faces_frame(face_image, detector, face_px=24)
    src = tmp_path / "in.mkv"
    subprocess.run([ffmpeg(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "1920x1080", "-r", "25",
                    "-i", "-", "-vf", "setfield=tff", "-c:v", "libx264", "-crf", "12", "-flags", "+ildct+ilme",
                    "-x264opts", "tff=1", "-pix_fmt", "yuv420p", str(src)],
                   input=combed(frame).tobytes() * 4, check=True)  # fmt: skip
    assert probe(src).field_order is not None
    out = tmp_path / "out.mkv"
    anonymize(src, out, progress=False)
    for before, after in zip(read_frames(src), read_frames(out), strict=True):
        for x0, y0, x1, y1 in boxes[:3].round().astype(int):  # the fourth is cut by the frame's edge
            face = (slice(y0, y1), slice(x0, min(x1 + 4, 1920)))
            assert np.abs(before[face].astype(int) - after[face]).mean() > 8
