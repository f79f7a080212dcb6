"""Dark footage (a room at night, an underexposed phone clip): the face network misses faces
in a dark picture, so the face detector also looks at a dark frame brightened
(vidanon.detect.dark); the output's frames are not touched."""

import json
import subprocess

import numpy as np
from conftest import ffmpeg, read_frames, small_faces_frame

from vidanon.detect.dark import LIFT_KNEE, LIFT_MAX, LIFT_TO, DarkAndLifted, lift_gain, lifted
from vidanon.detections import Detections
from vidanon.pipeline import anonymize


def darker(frame: np.ndarray, k: float) -> np.ndarray:
    return (frame.astype(np.float32) * k).round().astype(np.uint8)


def test_only_a_dark_frame_is_brightened_and_its_order_of_brightness_kept():
    rng = np.random.default_rng(5)
    light = rng.integers(40, 230, (2, 90, 160, 3), dtype=np.uint8)
    assert lifted(light) is light  # a batch with no dark frame: not copied
    dark = darker(light[0], 0.3)
    batch = np.stack([light[1], dark])
    kept = batch.copy()
    out = lifted(batch)
    assert np.array_equal(batch, kept)  # the frames given are not touched
    assert np.array_equal(out[0], light[1])  # frame by frame
    gain = lift_gain(dark)
    assert 1.0 < gain <= LIFT_MAX
    assert np.allclose(out[1], dark * gain, atol=0.51)  # all under the knee: the gain itself
    level = np.quantile((out[1] @ np.array([0.299, 0.587, 0.114]))[::8, ::8], 0.9)
    assert abs(level - LIFT_TO) < 6
    # a lamp in a dark street: the rest of the frame still brightened, what was brighter stays so
    street = darker(light[0], 0.1)
    street[:9, :16] = 250
    street[9:18, :16] = 60
    assert lift_gain(street) == LIFT_MAX
    lit = lifted(street)[0]
    assert (street > LIFT_KNEE * 255 / LIFT_MAX).any()  # the roll-off is used
    order = np.argsort(street.ravel(), kind="stable")
    assert np.all(np.diff(lit.ravel()[order].astype(int)) >= 0)
    assert lit[:9, :16].min() > lit[9:18, :16].max() > lit[18:].max() > 2 * street[18:].max()
    assert lift_gain(np.zeros((90, 160, 3), np.uint8)) == LIFT_MAX  # a black frame: nothing there to spoil


class Views:
    """A stub face detector: a box on the face whose score says how bright the frame's middle
    is, and in a frame still dark a weak box elsewhere."""

    nms_iou = 0.3
    threshold = 0.4

    def __init__(self):
        self.seen = []

    def prepare(self, frames, first_index=0, starts=None):
        self.seen.append(frames)
        found = []
        for f in frames:
            dark = int(f.mean() < 60)
            boxes = [[0.4, 0.4, 0.6, 0.6]] + [[0.1, 0.1, 0.2, 0.2]] * dark
            found.append(Detections(np.array(boxes), np.array([f[40:50, 70:90].mean() / 255] + [0.2] * dark),
                                    np.zeros(1 + dark, int)))  # fmt: skip
        return lambda: lambda: found


def test_a_dark_frame_is_looked_at_as_it_is_and_brightened_the_better_box_kept():
    rng = np.random.default_rng(2)
    light = rng.integers(60, 200, (2, 90, 160, 3), dtype=np.uint8)
    inner = Views()
    wrapped = DarkAndLifted(inner)
    assert [len(d) for d in wrapped(light)] == [1, 1] and len(inner.seen) == 1  # no dark frame: one look
    dark = darker(light, 0.25)
    found = wrapped(dark)
    assert len(inner.seen) == 3  # two looks
    assert np.array_equal(inner.seen[1], dark) and np.array_equal(inner.seen[2], lifted(dark))
    for frame, dets in zip(dark, found):  # the look as it is: only its clear boxes
        assert len(dets) == 1 and dets.scores[0] > 1.5 * frame[40:50, 70:90].mean() / 255
    inner.threshold = 0.01  # now all clear: the weak box joins, the face's better box is kept
    for frame, dets in zip(dark, wrapped(dark)):
        assert len(dets) == 2 and dets.scores.max() > 1.5 * frame[40:50, 70:90].mean() / 255


def test_a_bright_face_in_a_dark_frame_is_still_found(detector, face_image):
    """Faces in their own light in a frame otherwise 5 times darker (a spotlight, a street
    lamp): brightened, they turn white and are lost; the frame as it is still shows them."""
    found = detector(face_image[None])[0]
    faces = found.pixel_boxes(*face_image.shape[:2])[found.scores >= 0.4].round().astype(int)
    frame = darker(face_image, 0.2)
    for x0, y0, x1, y1 in faces:
        frame[y0:y1, x0:x1] = face_image[y0:y1, x0:x1]
    assert lift_gain(frame) > 3
    assert not (detector(lifted(frame[None]))[0].scores >= 0.4).any()  # brightened alone: lost
    seen = DarkAndLifted(detector)(frame[None])[0]
    seen = seen.pixel_boxes(*frame.shape[:2])[seen.scores >= 0.4]
    for x0, y0, x1, y1 in faces:
        assert any(a < (x0 + x1) / 2 < c and b < (y0 + y1) / 2 < d for a, b, c, d in seen)


def test_faces_in_a_dark_video_are_hidden(tmp_path, detector, face_image):
    """Four 22 px faces 4 stops darker: the network finds none of them in the dark frame, all
    of them brightened; end to end every face is masked in every frame."""
    frame, boxes = small_faces_frame(face_image, detector, face_px=22)
    dark = darker(frame, 0.25)
    assert not (detector(dark[None])[0].scores >= 0.4).any()
    assert (detector(lifted(dark[None]))[0].scores >= 0.4).sum() == 4
    assert (DarkAndLifted(detector)(dark[None])[0].scores >= 0.4).sum() == 4
    src, out, tracks = tmp_path / "in.mp4", tmp_path / "out.mp4", tmp_path / "t.json"
    subprocess.run([ffmpeg(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "1920x1080", "-r", "25",
                    "-i", "-", "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", str(src)],
                   input=dark.tobytes() * 4, check=True)  # fmt: skip
    anonymize(src, out, progress=False, save_tracks=str(tracks))
    frames = json.loads(tracks.read_text())["frames"]
    assert len(frames) == len(read_frames(out)) == 4
    centres = (boxes[:, 1::-1] + boxes[:, :1:-1]) / 2 / [1080, 1920]  # (y, x), normalized
    for found in frames:
        masked = np.array([b["box"] for b in found]).reshape(-1, 4)
        for cy, cx in centres[:3]:  # the fourth is cut by the frame's edge
            assert ((masked[:, 0] <= cy) & (cy <= masked[:, 2]) & (masked[:, 1] <= cx) & (cx <= masked[:, 3])).any()


def test_a_light_frame_keeps_its_boxes_and_their_order_beside_a_dark_one():
    # a frame not dark in a batch holding a dark one was looked at twice alike and its boxes
    # merged, sorted by score: the tracker numbered its tracks otherwise than in a batch without
    # a dark frame (the batch size differs by device), and --keep ID named another face (a review)
    boxes = np.array([[0.1, 0.1, 0.2, 0.2], [0.5, 0.5, 0.6, 0.6], [0.3, 0.6, 0.4, 0.7]])
    same = Detections(boxes, np.array([0.5, 0.9, 0.9]), np.zeros(3, int))
    merged = DarkAndLifted(None).merge([same, same], (90, 160))
    assert (merged.boxes == same.boxes).all()  # as the look as it is gave them, not best first
