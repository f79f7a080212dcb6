"""The context look: weak boxes too large for the second look start tracks only where skin or
a person is; the person detector without TensorFlow finds what the TensorFlow graph finds."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLE, read_frames

from vidanon.detect.context import on_person, skin_share
from vidanon.detections import Detections

SKIN = (224, 172, 140)  # a light skin tone
DARK_SKIN = (110, 70, 50)
SIGN = (40, 120, 60)  # a green road sign
WALL = (200, 200, 195)


def _frame(colour, height=360, width=640, box=(100, 200, 220, 300)):
    """A grey frame with a block of ``colour`` at ``box`` (pixels y0, x0, y1, x1)."""
    frame = np.full((height, width, 3), 128, np.uint8)
    y0, x0, y1, x1 = box
    frame[y0:y1, x0:x1] = colour
    return frame


def _norm(box, height=360, width=640):
    y0, x0, y1, x1 = box
    return np.array([y0 / height, x0 / width, y1 / height, x1 / width])


@pytest.mark.parametrize("colour, skin", [(SKIN, True), (DARK_SKIN, True), (SIGN, False), (WALL, False)])
def test_skin_share_of_a_box_middle(colour, skin):
    box = (100, 200, 220, 300)
    share = skin_share(_frame(colour, box=box), _norm(box))
    assert (share > 0.9) if skin else (share == 0.0)
    # only the middle counts: a skin-coloured rim around a green middle is no skin
    frame = _frame(SKIN, box=box)
    frame[124:196, 220:280] = SIGN
    assert skin_share(frame, _norm(box)) == 0.0
    assert skin_share(frame, np.array([0.5, 0.5, 0.5, 0.5])) == 0.0  # an empty box


def test_a_head_lies_on_a_person_whose_box_is_grown_sideways_and_up():
    person = np.array([[0.30, 0.40, 0.90, 0.60]])
    assert on_person(np.array([0.32, 0.45, 0.40, 0.55]), person)  # the head inside
    assert on_person(np.array([0.20, 0.45, 0.32, 0.55]), person)  # hair above the person box
    assert on_person(np.array([0.32, 0.37, 0.40, 0.41]), person)  # just beside it
    assert not on_person(np.array([0.05, 0.45, 0.15, 0.55]), person)  # far above
    assert not on_person(np.array([0.32, 0.70, 0.40, 0.80]), person)  # beside another
    assert not on_person(np.array([0.32, 0.45, 0.40, 0.55]), np.zeros((0, 4)))


def test_large_weak_boxes_start_tracks_only_on_skin_or_a_person(detector, monkeypatch):
    """A weak box of 48 px or more keeps its score on skin or on a person, and is capped at
    the unverified score on a sign or a wall with no person around; small weak boxes and
    confident large ones are not concerned; the person detector runs only when a large
    weak box shows no skin."""
    from vidanon.detect import centerface
    from vidanon.detect.look import UNVERIFIED_SCORE

    runs = []
    people = np.zeros((0, 4))
    monkeypatch.setattr(centerface.FaceDetector, "_people",
                        lambda self, frames: runs.append(1) or [people] * len(frames))  # fmt: skip
    box = (100, 200, 220, 300)  # 120 px high

    def look(colour, score=0.3, at=box):
        dets = Detections([_norm(at)], [score], [0])
        return float(detector._context_looks(_frame(colour, box=at)[None], [dets])[0].scores[0])

    assert look(SKIN) == np.float32(0.3) and not runs  # skin: no person needed
    assert look(SIGN) == np.float32(UNVERIFIED_SCORE) and len(runs) == 1
    assert look(WALL) == np.float32(UNVERIFIED_SCORE)
    assert look(SIGN, score=0.6) == np.float32(0.6)  # a confident box is left as it is
    assert look(SIGN, score=0.15) == np.float32(0.15)  # too weak to start a track anyway
    people = np.array([[0.25, 0.28, 1.0, 0.5]])  # a person under the box: a head seen from behind
    assert look(SIGN) == np.float32(0.3)
    # the whole second look: the large box is capped, a small confident one kept
    people = np.zeros((0, 4))
    dets = Detections([_norm(box), [0.8, 0.1, 0.85, 0.13]], [0.3, 0.9], [0, 0])
    assert np.allclose(detector.second_look(_frame(SIGN, box=box), dets).scores, [UNVERIFIED_SCORE, 0.9])


def test_person_detector_without_tensorflow_finds_what_the_graph_finds():
    """The shipped TensorFlow Lite person network, with the graph's box selection done in
    numpy, gives the graph's people (boxes and scores) on the sample clip's frames."""
    from vidanon.detect.people import PersonDetector
    from vidanon.detect.people_lite import PersonLite

    lite, graph = PersonLite(), PersonDetector(threshold=0.3)
    found = 0
    for frame in read_frames(SAMPLE)[::8]:
        a, b = graph(frame[None])[0], lite(frame, 0.3)
        assert len(a) == len(b)
        np.testing.assert_allclose(b.boxes, a.boxes, atol=1e-3)
        np.testing.assert_allclose(b.scores, a.scores, atol=1e-3)
        found += len(a)
    assert found >= 3  # the sample's walkers are found


def test_people_of_many_frames_at_once_are_each_frames_people():
    """The GPU path runs the person network on a batch's frames in several threads at once
    (several decode threads calling together share one pool of threads, each with its own
    interpreter): the same people, frame for frame, as one frame at a time."""
    import threading

    from vidanon.detect.people_lite import PersonLite

    lite = PersonLite()
    frames = np.stack(read_frames(SAMPLE)[::4])
    alone = [lite(frame, 0.3) for frame in frames]
    results: list = [None, None]

    def call(k: int) -> None:
        results[k] = lite.many(frames, 0.3, workers=3)

    threads = [threading.Thread(target=call, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(a) for a in alone) >= 5
    for found in results:
        assert len(found) == len(frames)
        for a, b in zip(found, alone):
            np.testing.assert_array_equal(a.boxes, b.boxes)
            np.testing.assert_array_equal(a.scores, b.scores)
    pool = lite._pool
    lite.many(frames[:2], 0.3, workers=8)
    assert lite._pool is pool  # one pool for the process


def test_person_selection_follows_the_graphs_order():
    """NMS on the boxes as decoded, then clipping: two boxes that overlap by IoU 0.5 are both
    kept, even where clipping to the window makes them the same box; a box wholly outside is
    dropped after NMS; the threshold and the cap of 100 apply."""
    from vidanon.detect.people_lite import select

    boxes = np.array([[-0.5, 0.0, 0.5, 0.2], [0.0, 0.0, 0.5, 0.2], [1.2, 0.1, 1.5, 0.3], [0.6, 0.6, 0.9, 0.9]])
    kept, scores = select(boxes, np.array([0.9, 0.8, 0.7, 0.2]), 0.3)
    np.testing.assert_allclose(kept, [[0.0, 0.0, 0.5, 0.2], [0.0, 0.0, 0.5, 0.2]])
    np.testing.assert_allclose(scores, [0.9, 0.8])
    many = np.array([[k / 200, 0.0, k / 200 + 0.001, 0.001] for k in range(150)])
    assert len(select(many, np.linspace(0.9, 0.5, 150), 0.3)[0]) == 100


def test_person_detector_loads_without_tensorflow():
    import subprocess
    import sys

    code = ("import sys; from vidanon.detect.people_lite import PersonLite; import numpy as np; "
            "PersonLite()(np.zeros((90, 160, 3), np.uint8)); print('tensorflow' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]


def test_without_a_person_detector_large_weak_boxes_keep_their_scores(detector, monkeypatch):
    """A person network that cannot be loaded (a damaged file) leaves the context look to skin
    alone where there is skin, and otherwise the boxes as they were: never an error."""
    from vidanon.detect import people_lite
    from vidanon.errors import ModelError

    def broken(name):
        raise ModelError("damaged")

    monkeypatch.setattr(people_lite, "_shared", [])
    monkeypatch.setattr(people_lite, "model_path", broken)
    assert people_lite.shared_person_lite() is None
    box = (100, 200, 220, 300)
    dets = Detections([_norm(box)], [0.3], [0])
    assert detector._context_looks(_frame(SIGN, box=box)[None], [dets])[0].scores[0] == np.float32(0.3)
