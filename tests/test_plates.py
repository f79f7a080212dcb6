"""Licence plates: layout detection, decoding, tiles, tracking, masking and the error paths,
with small ONNX detectors generated here (see plate_models.py): no download."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

import plate_models as pm  # noqa: E402
from conftest import ROOT, assert_one_line_error, ffmpeg, run_cli  # noqa: E402

from vidanon.detect.plates import Layout, PlateDetector, PlateModelError, TilePlan, detect_layout  # noqa: E402
from vidanon.detections import FACE, PERSON, PLATE, PREDICTED, Detections  # noqa: E402
from vidanon.options import Options  # noqa: E402


def bright_patch(height=pm.SIZE, width=pm.SIZE, y0=16, y1=32, x0=8, x1=40, value=255) -> np.ndarray:
    frame = np.zeros((height, width, 3), np.uint8)
    frame[y0:y1, x0:x1] = value
    return frame


def cells_inside(y0, y1, x0, x1) -> set[tuple[int, int, int, int]]:
    """The cells (x1, y1, x2, y2) wholly inside a patch: what the generated models find."""
    c = pm.CELL
    return {(x, y, x + c, y + c) for y in range(0, pm.SIZE, c) for x in range(0, pm.SIZE, c)
            if y >= y0 and y + c <= y1 and x >= x0 and x + c <= x1}  # fmt: skip


def as_cells(dets: Detections, height=pm.SIZE, width=pm.SIZE) -> set[tuple[int, ...]]:
    return {tuple(int(round(v)) for v in b) for b in dets.pixel_boxes(height, width)}


# --------------------------------------------------------------------------- layouts
def test_layout_is_read_from_the_output_shapes():
    assert detect_layout([(1, 25200, 6)]).kind == "v5"
    assert detect_layout([(1, 25200, 7)]) == Layout("v5", 2)
    assert detect_layout([(1, 5, 8400)]) == Layout("v8", 1)
    assert detect_layout([(1, 6, 8400)]) == Layout("v8", 2)
    assert detect_layout([(1, 8400, 5)]).kind == "v8t"  # too few values for an objectness
    assert detect_layout([(1, 8400, 6)], names={0: "car", 1: "plate"}) == Layout("v8t", 2, 0, (1,))
    assert detect_layout([(3, 7)]).kind == "end2end"
    assert detect_layout([(0, 7)]).kind == "end2end"  # nothing found in the blank probe image
    assert detect_layout([(1, 300, 6)], has_nms=True).kind == "nms"
    assert detect_layout([(1, 300, 6)], has_nms=False).kind == "v5"
    assert detect_layout([(1, 3, 6)], has_nms=True).kind == "nms"  # fewer boxes than values per box
    assert detect_layout([(1, 5, 8400)], names={0: "car", 3: "plate"}).plate_classes is None  # no such class
    seg = detect_layout([(1, 37, 8400), (1, 32, 160, 160)], names={0: "plate"})
    assert seg == Layout("v8", 1, 32, (0,))
    for bad in ([(1, 1000)], [(1, 3, 224, 224)], [(1, 4, 8400)], [(2, 5)], []):
        with pytest.raises(PlateModelError, match="expected"):
            detect_layout(bad)


BUILDERS = {
    "v8": pm.yolo_v8,
    "v8-seg": lambda p: pm.yolo_v8(p, masks=32),
    "v5-batch-1": pm.yolo_v5,
    "end2end": pm.end_to_end,
    "topk": pm.with_topk,
    "float16": pm.float16,
}
KINDS = {"v8": "v8", "v8-seg": "v8", "v5-batch-1": "v5", "end2end": "end2end", "topk": "nms", "float16": "v8"}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_layout_finds_the_patch_where_it_is(tmp_path, name):
    detector = PlateDetector(BUILDERS[name](tmp_path / f"{name}.onnx"), threshold=0.9)
    assert detector.layout.kind == KINDS[name]
    assert (detector.in_h, detector.in_w) == (pm.SIZE, pm.SIZE)
    patch, empty = bright_patch(), np.zeros((pm.SIZE, pm.SIZE, 3), np.uint8)
    low = bright_patch(y0=40, y1=56, x0=24, x1=48)
    found = detector(np.stack([patch, empty, low]))
    assert as_cells(found[0]) == cells_inside(16, 32, 8, 40)
    assert len(found[1]) == 0  # each image of the batch gets its own boxes
    assert as_cells(found[2]) == cells_inside(40, 56, 24, 48)
    assert set(found[0].classes) == {PLATE}
    assert np.allclose(found[0].scores, 1.0, atol=1e-2)


def test_plate_classes_come_from_the_metadata(tmp_path):
    # a model with the names of Ultralytics' metadata: only the "plate" class counts
    path = pm.yolo_v8(tmp_path / "named.onnx", metadata={"names": "{0: 'licence_plate'}", "imgsz": "[64, 64]"})
    detector = PlateDetector(path, threshold=0.9)
    assert detector.layout.plate_classes == (0,)
    path = pm.yolo_v8(tmp_path / "cars.onnx", metadata={"names": "{0: 'car'}"})
    detector = PlateDetector(path, threshold=0.9)
    assert detector.layout.plate_classes is None  # no class named like a plate: all count
    assert len(detector(bright_patch())[0]) == 8


def test_tiles_at_native_resolution_find_small_plates(tmp_path):
    path = pm.yolo_v8(tmp_path / "v8.onnx")
    height, width = 192, 256  # 4x the network's side: the letterboxed frame shrinks a 24 px plate to 6 px
    frame = bright_patch(height, width, y0=101, y1=117, x0=150, x1=174)
    plan = TilePlan.for_frame(height, width, pm.SIZE, pm.SIZE)
    assert len(plan.views) > 1
    covered = np.zeros((height, width), bool)
    for v in plan.views[1:]:
        assert v.scale == 1.0 and v.h <= pm.SIZE and v.w <= pm.SIZE
        covered[v.y0 : v.y0 + v.h, v.x0 : v.x0 + v.w] = True
    assert covered.all()
    whole = PlateDetector(path, threshold=0.9, tiles=False)(frame)[0]
    tiled = PlateDetector(path, threshold=0.9)(frame)[0]
    assert len(whole) == 0
    assert len(tiled) >= 2
    boxes = tiled.pixel_boxes(height, width)
    assert (boxes[:, 0] >= 150 - 1e-3).all() and (boxes[:, 2] <= 174 + 1e-3).all()
    assert (boxes[:, 1] >= 101 - 1e-3).all() and (boxes[:, 3] <= 117 + 1e-3).all()


def test_a_frame_smaller_than_the_network_is_letterboxed(tmp_path):
    detector = PlateDetector(pm.yolo_v8(tmp_path / "v8.onnx"), threshold=0.9)
    # 32x32 frame: enlarged 2x into the 64x64 input; the patch's cells map back at half size
    frame = bright_patch(32, 32, y0=8, y1=16, x0=4, x1=20)
    boxes = detector(frame)[0].pixel_boxes(32, 32)
    assert len(boxes) == 8  # 4 x 2 cells of 4 x 4 frame pixels
    assert boxes[:, 0].min() == pytest.approx(4) and boxes[:, 2].max() == pytest.approx(20)
    assert boxes[:, 1].min() == pytest.approx(8) and boxes[:, 3].max() == pytest.approx(16)


# --------------------------------------------------------------------------- tracking
def test_plates_have_tracks_of_their_own():
    from vidanon.targets import PLATES
    from vidanon.track.joint import ID_STRIDE, JointTracker, Part
    from vidanon.track.sort import SortTracker

    faces = SortTracker(threshold=0.5, class_id=FACE)
    joint = JointTracker([Part((FACE,), faces), Part((PLATE,), PLATES.tracker(Options(plates_threshold=0.3)))])
    out = []
    for i in range(30):
        boxes, scores, classes = [[0.1, 0.1, 0.3, 0.3]], [0.9], [FACE]
        if i != 12:  # the plate detector misses frame 12
            boxes.append([0.6, 0.5 + 0.005 * i, 0.65, 0.6 + 0.005 * i])
            scores.append(0.8)
            classes.append(PLATE)
        out += list(joint.push(i, Detections(boxes, scores, classes)))
    out += list(joint.flush())
    assert [index for index, _, _ in out] == list(range(30))
    assert [payload for _, payload, _ in out] == list(range(30))
    for index, _, dets in out:
        plates = dets[np.flatnonzero(dets.classes == PLATE)]
        faces_ = dets[np.flatnonzero(dets.classes == FACE)]
        assert len(plates) == 1 and len(faces_) == 1, index
        assert faces_.track_ids[0] == 1  # the face tracker's ids are kept
        assert plates.track_ids[0] == ID_STRIDE + 1  # the plate tracker's are offset
        if index == 12:  # the gap is filled by the plate's own track
            assert plates.sources[0] != 0
            assert plates.boxes[0][1] <= 0.5 + 0.005 * 12 <= plates.boxes[0][3]


def test_plate_tracker_coasts_but_does_not_follow_by_appearance():
    from vidanon.targets import PLATES

    tracker = PLATES.tracker(Options(plates_threshold=0.3))
    assert tracker.low_threshold == tracker.start_threshold == 0.3  # no weak-detection pass
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    out = []
    for i in range(40):
        dets = Detections([[0.4, 0.4, 0.5, 0.6]], [0.9], [PLATE]) if i < 10 else Detections.empty()
        out += list(tracker.push(i, dets, frame=image))
    out += list(tracker.flush())
    masked = [index for index, _, dets in out if len(dets)]
    # detected for 10 frames, then predicted for max_age frames; an unchanged image does not keep it alive
    assert masked == list(range(10 + tracker.max_age))
    assert out[11][2].sources[0] == PREDICTED


# --------------------------------------------------------------------------- masking
def test_plate_boxes_get_a_rectangular_mask():
    from vidanon.render.effects import Renderer

    frame = np.full((100, 200, 3), 200, np.uint8)
    box = [[0.4, 0.4, 0.6, 0.6]]  # rows 40-60, columns 80-120
    renderer = Renderer("fill")
    plate = renderer(frame, Detections(box, [0.9], [PLATE]))
    ellipse = renderer(frame, Detections(box, [0.9], [PERSON]))  # a box without a mask of its own: the ellipse
    corner = (40, 80)  # the box's corner pixel
    assert (plate[corner] == 0).all()  # the rectangle covers the corner
    assert (ellipse[corner] != 0).all()  # the ellipse does not
    assert (plate[48:52, 96:104] == 0).all()
    assert (plate[:30] == 200).all() and (plate[:, :70] == 200).all()  # grown 1.3x, not more
    mixed = renderer(frame, Detections([[0.0, 0.0, 0.2, 0.2], *box], [0.9, 0.9], [FACE, PLATE]))
    assert (mixed[corner] == 0).all() and (mixed[10, 20] == 0).all()


def test_people_and_plates_render_together():
    from vidanon.render.compositor import Compositor

    class Outline:  # a stand-in segmenter: each person's mask is its box's left half
        def __call__(self, frame, dets):
            assert set(dets.classes) <= {1}  # plates never reach the segmenter
            masks = np.zeros((len(dets), 8, 8), np.float32)
            masks[:, :, :4] = 1.0
            return Detections(dets.boxes, dets.scores, dets.classes, masks, dets.track_ids, dets.sources)

    frame = np.full((100, 200, 3), 200, np.uint8)
    render = Compositor("fill", 1.45, True, Outline())
    dets = Detections([[0.1, 0.05, 0.9, 0.35], [0.4, 0.6, 0.6, 0.8]], [0.9, 0.9], [1, PLATE])
    out = render(frame, dets)
    assert (out[50, 15] == 0).all() and (out[50, 60] == 200).all()  # the person's mask: its left half
    assert (out[41, 121] == 0).all() and (out[50, 140] == 0).all()  # the plate's rectangle, corner included
    assert (render(frame, dets[[1]])[41, 121] == 0).all()  # plates alone


# --------------------------------------------------------------------------- command line
@pytest.fixture(scope="module")
def plate_clip(tmp_path_factory):
    """A dark 160x96 clip with a bright plate (darker characters on it) moving right."""
    width, height, count = 160, 96, 12
    frames = np.full((count, height, width, 3), 40, np.uint8)
    for i in range(count):
        x = 20 + 4 * i
        frames[i, 40:56, x : x + 40] = 235
        frames[i, 44:52, x + 6 : x + 34 : 6] = 120
    path = tmp_path_factory.mktemp("plates") / "plate.mp4"
    subprocess.run([ffmpeg(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                    "-r", "10", "-i", "-", "-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv444p", str(path)],
                   input=frames.tobytes(), check=True)  # fmt: skip
    return path, frames


def test_faces_and_plates_end_to_end(tmp_path, plate_clip):
    from vidanon.media.probe import probe
    from vidanon.media.reader import FrameReader

    clip, frames = plate_clip
    model = pm.yolo_v8(tmp_path / "v8.onnx")
    out, tracks = tmp_path / "out.mp4", tmp_path / "tracks.json"
    proc = run_cli(clip, out, "--target", "faces,plates", "--plates-model", model, "--plates-threshold", "0.6",
                   "--effect", "fill", "--save-tracks", tracks)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "face and plate boxes masked in 12 frames" in proc.stdout
    result = np.stack([np.asarray(f) for f in FrameReader(probe(out))])
    source = np.stack([np.asarray(f) for f in FrameReader(probe(clip))])
    assert len(result) == 12
    for i in range(12):
        x = 20 + 4 * i
        plate = np.abs(result[i, 42:54, x + 2 : x + 38].astype(int) - source[i, 42:54, x + 2 : x + 38])
        assert plate.mean() > 100, i  # the plate is filled
        for rows in (slice(0, 30), slice(66, None)):  # away from the plate: only the encoder's noise
            assert np.abs(result[i, rows].astype(int) - source[i, rows]).mean() < 1.5, i
    data = json.loads(tracks.read_text())
    assert {o["class"] for f in data["frames"] for o in f} == {"plate"}


def test_no_model_is_a_usage_error(tmp_path, plate_clip, monkeypatch):
    monkeypatch.delenv("VIDANON_PLATES_MODEL", raising=False)
    proc = run_cli(plate_clip[0], tmp_path / "o.mp4", "--target", "plates")
    assert proc.returncode == 2
    assert_one_line_error(proc, "--plates-model", "VIDANON_PLATES_MODEL")
    assert not (tmp_path / "o.mp4").exists()


def _bad_model(tmp_path, kind):
    model = tmp_path / f"{kind}.onnx"
    if kind == "classifier":
        pm.classifier(model)
    elif kind == "corrupt":
        model.write_bytes(b"\x08\x07garbage" * 50)
    elif kind == "broken":
        pm.broken(model)
    elif kind == "folder":
        model.mkdir()
    return model


BAD_MODELS = {"classifier": "not a YOLO-style detector", "corrupt": "not an ONNX model", "broken": "cannot load",
              "missing": "does not exist", "folder": "not a file"}  # fmt: skip


@pytest.mark.parametrize("kind", ["classifier", "corrupt", "missing"])
def test_bad_models_are_one_line_usage_errors(tmp_path, plate_clip, kind):
    model = _bad_model(tmp_path, kind)
    proc = run_cli(plate_clip[0], tmp_path / "o.mp4", "--target", "faces,plates", "--plates-model", model)
    assert proc.returncode == 2
    err = assert_one_line_error(proc, BAD_MODELS[kind], str(model))
    if kind == "classifier":
        assert "(1, 3)" in err and "YOLOv5" in err
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("kind", list(BAD_MODELS))
def test_bad_models_raise_plate_model_errors(tmp_path, kind):
    model = _bad_model(tmp_path, kind)
    with pytest.raises(PlateModelError, match=BAD_MODELS[kind]) as info:
        PlateDetector(model)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)


def test_targets_and_plate_options_are_checked(tmp_path, plate_clip, monkeypatch):
    from vidanon.options import OptionError, Options

    model = pm.yolo_v8(tmp_path / "v8.onnx")
    monkeypatch.setenv("VIDANON_PLATES_MODEL", str(model))
    opts = Options(target="plates,faces")
    opts.validate()
    assert opts.target == "faces,plates" and opts.plates and opts.faces and not opts.people
    opts = Options(target="plates,people")
    opts.validate()
    assert opts.target == "people,plates" and opts.people and opts.plates and opts.faces  # people hide faces too
    assert not Options(target="people", effect="splash").faces  # splash shows people as they are
    for bad, needle in (("faces,cars", "unknown target"),):
        with pytest.raises(OptionError, match=needle):
            Options(target=bad).validate()
    with pytest.raises(OptionError, match="splash"):
        Options(target="plates", effect="splash").validate()
    monkeypatch.delenv("VIDANON_PLATES_MODEL")
    with pytest.raises(OptionError, match="--plates-model"):
        Options(target="plates").validate()
    Options(target="faces").validate()  # faces alone need no plate model
    proc = run_cli(plate_clip[0], tmp_path / "o.mp4", "--target", "plates", "--plates-model", model,
                   "--plates-threshold", "2")  # fmt: skip
    assert_one_line_error(proc, "--plates-threshold must be between")
    assert proc.returncode == 2


def test_without_onnxruntime_plates_say_how_to_install(tmp_path, plate_clip):
    model = pm.yolo_v8(tmp_path / "v8.onnx")
    code = ("import sys; sys.modules['onnxruntime'] = None; from vidanon.cli import main; "
            f"sys.exit(main([{str(plate_clip[0])!r}, {str(tmp_path / 'o.mp4')!r}, '--target', 'plates', "
            f"'--plates-model', {str(model)!r}]))")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert_one_line_error(proc, "pip install 'vidanon[plates]'")


def test_moviepy_effect_hides_plates(tmp_path):
    from moviepy import VideoClip

    from vidanon import Anonymize

    model = pm.yolo_v8(tmp_path / "v8.onnx")

    def make(t):
        frame = np.full((96, 160, 3), 40, np.uint8)
        x = int(round(20 + 40 * t))
        frame[40:56, x : x + 40] = 235
        return frame

    clip = VideoClip(make, duration=1).with_fps(10)
    effect = Anonymize(effect="fill", target="plates", plates_model=str(model), plates_threshold=0.6, progress=False)
    out = clip.with_effects([effect])
    frame = out.get_frame(0.5)  # the plate spans columns 40-80
    assert (frame[44:52, 44:76] == 0).all()
    assert (frame[:30] == 40).all() and (frame[70:] == 40).all()
    assert {c for dets in out.vidanon_tracks.frames for c in dets.classes} == {PLATE}
