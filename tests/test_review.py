"""The review sheet (--review): flags, layout, outlines, HTML, refusals.

A tiny grey clip and a hand-written tracks file (replayed with --tracks: no detector runs)
whose tracks are known: track 1 detected in frames 0-9 then predicted in 10-15 (carried
0.24 s after its last detection), track 2 in frame 17 only, track 3 detected in 2-6 with
scores below the threshold.
"""

import base64
import io
import json
import re

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli
from media import run_ffmpeg
from PIL import Image

from vidanon import anonymize
from vidanon.detections import DETECTED, FOLLOWED, INTERPOLATED, PREDICTED, Detections, head_boxes, scale_boxes
from vidanon.options import OptionError
from vidanon.review import build_sheet
from vidanon.review.draw import (  # fmt: skip
    COLUMNS,
    GAP,
    MARGIN,
    SHEET_WIDTH,
    SOURCE_COLOURS,
    THUMB_WIDTH,
    SheetLayout,
    _summary_text,
    render_png,
    thumbnail,
    timeline,
)
from vidanon.review.flags import find_flags, pick_frames, time_code
from vidanon.review.tiles import ROW_H, TILE, row_cells
from vidanon.track.replay import from_records

FPS, N = 25, 20
BOX1 = [0.3, 0.1, 0.6, 0.3]
BOX2 = [0.2, 0.6, 0.5, 0.85]
BOX3 = [0.65, 0.1, 0.8, 0.2]


def _obj(tid, box, score, source="detected"):
    return {"id": tid, "box": box, "score": score, "class": "face", "source": source}


def _records():
    frames = [[] for _ in range(N)]
    for i in range(16):
        frames[i].append(_obj(1, BOX1, 0.8, "detected" if i < 10 else "predicted"))
    frames[17].append(_obj(2, BOX2, 0.9))
    for i, score in zip(range(2, 7), (0.25, 0.2, 0.15, 0.22, 0.18)):
        frames[i].append(_obj(3, BOX3, score))
    return frames


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("review")
    path = tmp / "grey.mp4"
    # frames 10 on are shown 0.4 s later (a variable-rate gap): time codes come from the frames' own times
    late = f"setpts='N/{FPS}/TB+gte(N,10)*0.4/TB'"
    run_ffmpeg("-f", "lavfi", "-i", f"color=c=gray:size=160x120:rate={FPS}", "-vf", late, "-fps_mode", "passthrough",
               "-frames:v", N, "-c:v", "libx264", "-pix_fmt", "yuv420p", path)  # fmt: skip
    tracks = tmp / "tracks.json"
    from vidanon.media.probe import probe

    rate = float(probe(path).fps)  # the video's own (its gap makes it 16.67, not FPS): another rate is said
    tracks.write_text(json.dumps({"video": str(path), "width": 160, "height": 120, "fps": rate, "frames": _records()}))
    return path, tracks


@pytest.fixture(scope="module")
def sheets(clip, tmp_path_factory):
    """One run per format, through the API, replaying the tracks file."""
    path, tracks = clip
    tmp = tmp_path_factory.mktemp("sheets")
    out = {}
    for fmt in ("png", "html"):
        summary = anonymize(path, tmp / f"anon_{fmt}.mp4", tracks=str(tracks), review=str(tmp / f"sheet.{fmt}"),
                            progress=False)  # fmt: skip
        assert summary.review == str(tmp / f"sheet.{fmt}") and summary.flagged == 3
        out[fmt] = tmp / f"sheet.{fmt}"
    return out


TIMES = [i / FPS + (0.4 if i >= 10 else 0.0) for i in range(N)]


def _sheet():
    return build_sheet(from_records(_records()), TIMES, "grey.mp4", "anon.mp4", 160, 120, FPS, 0.4, 1.45, False)


def test_flags_are_ranked_with_their_time_codes():
    flags = _sheet().flags
    got = [(f.kind, f.frame, f.track, time_code(f.time)) for f in flags]
    assert got == [
        ("one-frame", 17, 2, "00:00:01.080"),
        ("low-score", 4, 3, "00:00:00.160"),  # its lowest detection (0.15), none reaching 0.4
        ("carried", 15, 1, "00:00:01.000"),  # the end of 6 predicted frames, farthest from a detection
    ]
    assert "6 frames (0.24 s, from 00:00:00.800)" in flags[2].detail and "predicted" in flags[2].detail
    assert time_code(3723.0456) == "01:02:03.046" and time_code(0.007) == "00:00:00.007"


def test_flag_rules_on_synthetic_frames():
    def frame(*objs):
        return Detections([o[0] for o in objs], [o[1] for o in objs], np.zeros(len(objs)),
                          track_ids=[o[2] for o in objs], sources=[o[3] for o in objs])  # fmt: skip

    box, other = [0.1, 0.1, 0.3, 0.3], [0.6, 0.6, 0.8, 0.8]
    times = np.arange(30) / 10.0
    frames = [frame() for _ in range(30)]
    # track 5: detected, 8 frames interpolated (bounded: the middle, weight halved), detected
    for i in range(0, 12):
        frames[i] = frame((box, 0.9, 5, DETECTED if i in (0, 1, 10, 11) else INTERPOLATED))
    # track 6: one predicted frame after its detections: too short to flag
    for i in range(20, 24):
        frames[i] = frame((other, 0.9, 6, PREDICTED if i == 23 else DETECTED))
    # track 7: two boxes in frame 25 only (one mask); track 8 detected in 16 and carried with two
    # boxes a frame (followed and predicted, as the tracker may give) in 17-19: one run of 3 frames
    frames[25] = frame((box, 0.9, 7, DETECTED), (other, 0.9, 7, PREDICTED))
    frames[16] = frame((other, 0.9, 8, DETECTED))
    for i in range(17, 20):
        frames[i] = frame((other, 0.0, 8, FOLLOWED), ([0.6, 0.6, 0.79, 0.79], 0.0, 8, PREDICTED))
    # --no-track boxes (id -1): one alone in frame 27, two overlapping in frames 14-15
    frames[27] = frame((box, 0.7, -1, DETECTED))
    frames[14] = frame((other, 0.7, -1, DETECTED))
    frames[15] = frame(([0.61, 0.61, 0.81, 0.81], 0.7, -1, DETECTED))
    flags = find_flags(frames, times, 10.0, 0.4)
    got = [(f.kind, f.frame, f.track, f.weight) for f in flags]
    assert got == [("one-frame", 25, 7, 1.0), ("one-frame", 27, -1, 1.0), ("carried", 5, 5, 0.4),
                   ("carried", 19, 8, 0.3)], got


def test_pick_frames_puts_flagged_first_then_even_spacing():
    sheet = _sheet()
    assert {17, 4, 15} <= set(sheet.picked)
    assert len(sheet.picked) == len(set(sheet.picked)) == 12 and sheet.picked == sorted(sheet.picked)
    assert pick_frames([], 5) == [0, 1, 2, 3, 4]
    assert pick_frames([], 100, count=5) == [0, 25, 50, 74, 99]


def test_png_layout_and_outlines(sheets):
    image = np.asarray(Image.open(sheets["png"]).convert("RGB")).astype(int)
    sheet = _sheet()
    layout = SheetLayout(360, 12, timeline(sheet).height, 3)
    assert SHEET_WIDTH == 2 * MARGIN + COLUMNS * THUMB_WIDTH + (COLUMNS - 1) * GAP == 1976
    assert image.shape == (layout.height, SHEET_WIDTH, 3)
    assert sheet.thumb_height == 360  # 160x120 at 480 wide

    def at(k, y, x, size=3):
        ox, oy = layout.thumb_origin(k)
        return image[oy + y - size : oy + y + size + 1, ox + x - size : ox + x + size + 1].reshape(-1, 3)

    grey = at(0, 340, 20, 0)[0]  # a corner of the first thumbnail: the grey clip (the sheet is white)
    assert np.abs(grey - 128).max() < 12

    def outline_points(box):
        # the renderer's mask: the head around the face box grown by the mask scale, an ellipse at
        # half strength 0.9 of the way out (the feathered template)
        ymin, xmin, ymax, xmax = scale_boxes(head_boxes(np.array([box])), 1.45 * 0.9)[0]
        cy, cx = (ymin + ymax) / 2 * 360, (xmin + xmax) / 2 * 480
        return (round(cy), round(cx)), [(round(y), round(x)) for y, x in
                                        ((cy, xmin * 480), (cy, xmax * 480), (ymin * 360, cx), (ymax * 360, cx))]

    for frame, box, source in ((17, BOX2, DETECTED), (15, BOX1, PREDICTED)):
        k = sheet.picked.index(frame)
        centre, points = outline_points(box)
        for y, x in points:
            assert has_colour(at(k, y, x), SOURCE_COLOURS[source]), (frame, y, x)
        assert not has_colour(at(k, *centre, 10), SOURCE_COLOURS[source])  # inside the ellipse: the frame itself
    # frame 17 has no box of track 1: no outline where it was in frame 15
    for y, x in outline_points(BOX1)[1]:
        assert not has_colour(at(sheet.picked.index(17), y, x), SOURCE_COLOURS[DETECTED])
        assert not has_colour(at(sheet.picked.index(17), y, x), SOURCE_COLOURS[PREDICTED])


def test_a_frame_far_taller_than_wide_gets_a_narrower_thumbnail():
    # a 16x4000 video's thumbnails were 480x120000 px each: a sheet of 475 megapixels, 2 GB and 25 s to
    # draw, which Pillow then refuses to open (a "decompression bomb")
    sheet = build_sheet(from_records(_records()), TIMES, "tall.mp4", "anon.mp4", 4, 400, FPS, 0.4, 1.45, False)
    assert (sheet.thumb_width, sheet.thumb_height) == (14, 1440)
    frame = np.full((400, 4, 3), 128, np.uint8)
    thumb = np.asarray(thumbnail(sheet, 17, frame)).astype(int)
    assert thumb.shape == (1440, THUMB_WIDTH, 3)
    assert (thumb[:, :200] == 255).all() and (thumb[:, -200:] == 255).all()  # paper beside the narrow picture
    assert np.abs(thumb[5, 233:247] - 128).max() < 12  # the frame, centred
    assert has_colour(thumb[:, 233:247].reshape(-1, 3), SOURCE_COLOURS[DETECTED])  # frame 17's outline
    image = render_png(sheet, {i: frame for i in sheet.picked})
    layout = SheetLayout(1440, len(sheet.picked), timeline(sheet).height, 3)
    assert image.size == (SHEET_WIDTH, layout.height) and layout.height < 6000
    assert _sheet().thumb_width == THUMB_WIDTH and build_sheet(
        from_records(_records()), TIMES, "a.mp4", "b.mp4", 33, 17, FPS, 0.4, 1.45, False).thumb_width == THUMB_WIDTH


def has_colour(pixels, colour):
    return bool((np.abs(pixels - np.array(colour)).max(axis=1) <= 2).any())


def test_html_table_and_embedded_images(sheets):
    text = sheets["html"].read_text()
    rows = re.findall(r'<tr><td>(\d+)</td><td><img src="data:image/jpeg;base64,[^"]+" alt="[^"]+"></td><td>track (\d+)'
                      r"</td><td>([\d:.]+) - ([\d:.]+) \(frames[^<]*</td><td>(?:<a [^>]*>)?(\d+)(?:</a>)?</td>"
                      r'<td>[^<]+</td><td class="flag">([^<:]+):', text)  # fmt: skip
    assert rows == [  # one row per track, the likeliest false first, its time span, the frame shown
        ("1", "3", "00:00:00.080", "00:00:00.240", "4", "low score"),
        ("2", "2", "00:00:01.080", "00:00:01.080", "17", "mask in one frame only"),
        ("3", "1", "00:00:00.000", "00:00:01.000", "15", "carried without detection"),
    ]
    assert "3 tracks worth a look" in text and "detected in 10 of 16 frames, carried in 6" in text
    images = re.findall(r'src="data:image/(jpeg|png);base64,([A-Za-z0-9+/=]+)"', text)
    assert [fmt for fmt, _ in images].count("jpeg") == 12 + 3 and [fmt for fmt, _ in images].count("png") == 1
    thumb = Image.open(io.BytesIO(base64.b64decode(images[0][1])))
    assert thumb.size == (480, 360)
    assert "http" not in text.replace("http-equiv", "")  # self-contained: nothing fetched


def test_bad_extension_and_refusals(clip, tmp_path):
    path, tracks = clip
    proc = run_cli(path, tmp_path / "o.mp4", "--tracks", tracks, "--review", tmp_path / "sheet.jpg")
    assert_one_line_error(proc, "sheet.jpg", ".png or .html")
    assert proc.returncode == 2 and not (tmp_path / "o.mp4").exists()
    proc = run_cli(path, tmp_path / "o.mp4", "--segments", "2", "--review", tmp_path / "sheet.png")
    assert_one_line_error(proc, "--review", "--segments")
    assert proc.returncode == 2
    with pytest.raises(OptionError, match="png or .html"):
        anonymize(path, tmp_path / "o.mp4", review=str(tmp_path / "sheet.pdf"), progress=False)
    proc = run_cli(path, tmp_path / "o.mp4", "--tracks", tracks, "--review", tmp_path / "no" / "sheet.png")
    assert_one_line_error(proc, "does not exist")
    assert proc.returncode == 3 and not (tmp_path / "o.mp4").exists()


def test_thin_person_masks_are_flagged():
    box = [0.1, 0.1, 0.9, 0.4]
    frames = [Detections([box, [0.1, 0.5, 0.9, 0.8]], [0.9, 0.9], [1, 1], track_ids=[1, 2], sources=[DETECTED] * 2)
              for _ in range(10)]  # fmt: skip
    covers = [[0.5, 0.3] for _ in range(10)]
    covers[4] = [0.05, 0.3]  # track 1's mask lost the person in frames 4-5
    covers[5] = [0.2, 0.3]
    covers[8] = [0.35, 0.25]  # a little thinner: not flagged
    flags = find_flags(frames, np.arange(10) / 10.0, 10.0, 0.4, covers=covers)
    assert [(f.kind, f.frame, f.track, f.weight) for f in flags] == [("thin-mask", 4, 1, 0.9)]
    assert "covers 5% of its box (usually 50%" in flags[0].detail and "2 frames from 00:00:00.400" in flags[0].detail
    assert find_flags(frames, np.arange(10) / 10.0, 10.0, 0.4) == []  # faces: no cover, no such flag


def test_people_sheet(clip, tmp_path):
    """--target people: the masks come from the segmenter, which finds no person in a grey clip;
    each person is then hidden by its box's ellipse (segment.fill_failed), so no mask is thin."""
    path, faces = clip
    tracks = tmp_path / "people.json"  # the same boxes as people's: a file of faces is refused with --target people
    data = json.loads(faces.read_text())
    data["frames"] = [[dict(o, **{"class": "person"}) for o in objects] for objects in data["frames"]]
    tracks.write_text(json.dumps(data))
    sheet = tmp_path / "people.html"
    summary = anonymize(path, tmp_path / "people.mp4", tracks=str(tracks), target="people", review=str(sheet),
                        progress=False)  # fmt: skip
    text = sheet.read_text()
    thin = re.findall(r"<td>(\d+)</td><td class=\"flag\">thin person mask</td><td>the person mask covers (\d+)%", text)
    assert thin == []
    assert summary.flagged == 3 and "person masks" in text


def test_people_sheet_with_faces_names_and_outlines_both(clip, tmp_path):
    """--target people hides faces too: the sheet names face and person masks and outlines a
    face by its mask (its thumbnail is not a person's box)."""
    path, faces = clip
    tracks = tmp_path / "both.json"
    data = json.loads(faces.read_text())
    data["frames"] = [[dict(o, **{"class": "person" if k else "face"}) for k, o in enumerate(objects)]
                      for objects in data["frames"]]  # fmt: skip
    tracks.write_text(json.dumps(data))
    sheet = tmp_path / "both.html"
    anonymize(path, tmp_path / "both.mp4", tracks=str(tracks), target="people", review=str(sheet), progress=False)
    text = sheet.read_text()
    assert "face and person masks" in text and "mask is at half strength (the head around it" in text



def test_max_face_size_refuses_large_masks_and_the_sheet_flags_them(clip, tmp_path):
    from conftest import read_frames

    path, tracks = clip
    out, sheet = tmp_path / "anon.mp4", tmp_path / "sheet.html"
    summary = anonymize(path, out, effect="fill", tracks=str(tracks), review=str(sheet), max_face_size=0.1, progress=False)
    # tracks 1 and 2 (masks of 22% and 27% of the frame) are refused, track 3 (5%) is drawn
    assert summary.warnings == ["17 masks larger than 0.1 of the frame were not drawn (2 tracks)"]
    assert summary.tracks == 1
    frames = read_frames(out)
    grey = int(read_frames(path)[3][75, 24, 0])
    assert abs(int(frames[3][54, 32, 0]) - grey) < 4  # BOX1's centre: not drawn
    assert frames[3][87, 24].max() < 20  # BOX3's centre: filled black
    html = sheet.read_text()
    assert html.count("large mask not drawn") == 2
    assert "a mask over 22% of the frame was not drawn (limit 0.1)" in html
    with pytest.raises(OptionError, match="max_face_size must be between 0.01 and 1"):
        anonymize(path, tmp_path / "x.mp4", tracks=str(tracks), max_face_size=2)


def _frame(*objs):
    return Detections([o[0] for o in objs], [o[1] for o in objs], np.zeros(len(objs)),
                      track_ids=[o[2] for o in objs], sources=[o[3] for o in objs])  # fmt: skip


def test_tracks_are_ranked_the_likeliest_false_first():
    """One line per track: a long, clearly detected track comes after a short weak one, whatever
    the frame flags say; a track with several flags is one row with its reasons, counted once."""
    face, lamp, chest = [0.1, 0.1, 0.3, 0.3], [0.6, 0.6, 0.7, 0.7], [0.5, 0.1, 0.7, 0.3]
    frames = []
    for i in range(40):
        objs = [(face, 0.95, 1, DETECTED if i != 20 else INTERPOLATED)]  # 40 frames, one interpolated
        if 10 <= i < 13:
            objs.append((lamp, 0.18, 2, DETECTED))  # 3 frames at 0.18
        if 25 <= i < 31:  # 2 weak detections, then carried for 4 frames (0.4 s)
            objs.append((chest, 0.3, 3, DETECTED if i < 27 else PREDICTED))
        frames.append(_frame(*objs))
    times = np.arange(40) / 10.0
    sheet = build_sheet(frames, times, "v.mp4", "o.mp4", 160, 120, 10.0, 0.4, 1.45, False)
    assert [(r.label, r.first, r.last, r.frames, r.detected) for r in sheet.rows] == [
        ("3", 25, 30, 6, 2), ("2", 10, 12, 3, 3), ("1", 0, 39, 40, 39)]
    chest_row = sheet.rows[0]
    assert {k for k, _ in chest_row.reasons} == {"low-score", "carried"} and chest_row.best == pytest.approx(0.3)
    assert chest_row.thumb in range(25, 31) and np.allclose(chest_row.box, chest)
    # the frame flags: 2 for track 3, 1 for track 2; track 1's one interpolated frame is routine
    assert len(sheet.flags) == 3 and sheet.worth_a_look == 2 and not sheet.rows[2].worth_a_look
    assert "2 tracks worth a look" in _summary_text(sheet)[0]
    assert {chest_row.thumb, sheet.rows[1].thumb} <= set(sheet.picked)


def test_tracks_without_a_flag_come_after_every_flagged_one():
    """As the docs say: an unflagged track is listed after the flagged ones, whatever its doubt
    (a QA sweep found one ranked first, above the one track worth a look)."""
    face, lamp, other = [0.1, 0.1, 0.3, 0.3], [0.6, 0.6, 0.7, 0.7], [0.5, 0.1, 0.7, 0.3]
    frames = []
    for i in range(40):
        objs = [(face, 0.95, 1, DETECTED)]
        if 10 <= i < 19:
            objs.append((lamp, 0.3, 2, DETECTED))  # low scores: flagged
        if 20 <= i < 23:  # detected at 0.4 at its ends, interpolated between: nothing flagged, doubtful
            objs.append((other, 0.4, 3, DETECTED if i in (20, 22) else INTERPOLATED))
        frames.append(_frame(*objs))
    sheet = build_sheet(frames, np.arange(40) / 10.0, "v.mp4", "o.mp4", 160, 120, 10.0, 0.4, 1.45, False)
    rows = {r.label: r for r in sheet.rows}
    assert rows["3"].doubt > rows["2"].doubt and rows["2"].worth_a_look and not rows["3"].worth_a_look
    assert [r.label for r in sheet.rows] == ["2", "3", "1"] and sheet.worth_a_look == 1


def test_untracked_boxes_are_grouped_one_row_a_group():
    """--no-track: boxes that overlap from frame to frame are one row; a lone box is its own."""
    box, lone = [0.1, 0.1, 0.3, 0.3], [0.6, 0.6, 0.8, 0.8]
    frames = [_frame((box, 0.9, -1, DETECTED)) for _ in range(8)]
    frames[5] = _frame((box, 0.9, -1, DETECTED), (lone, 0.2, -1, DETECTED))
    rows = build_sheet(frames, np.arange(8) / 10.0, "v.mp4", "o.mp4", 160, 120, 10.0, 0.4, 1.45, False).rows
    assert [(r.label, r.first, r.last, r.frames, r.worth_a_look) for r in rows] == [
        ("untracked 2", 5, 5, 1, True), ("untracked 1", 0, 7, 8, False)]
    assert rows[0].reasons[0][0] == "one-frame" and np.allclose(rows[0].box, lone)


def test_png_lists_tracks_with_tiles_and_time_spans(sheets):
    """The PNG's list: one row per track, each with a tile of its frame cropped around its box,
    the mask outline in its source's colour; the words give the time span."""
    image = np.asarray(Image.open(sheets["png"]).convert("RGB")).astype(int)
    sheet = _sheet()
    layout = SheetLayout(360, 12, timeline(sheet).height, 3)
    assert image.shape[0] == layout.height
    for k, (row, source) in enumerate(zip(sheet.rows, (DETECTED, DETECTED, PREDICTED))):
        y0, x0 = layout.list_top + k * ROW_H, MARGIN + 40
        tile = image[y0 : y0 + TILE, x0 : x0 + TILE].reshape(-1, 3)
        grey = (np.abs(tile - 128) < 12).all(axis=1).mean()
        outline = (np.abs(tile - np.array(SOURCE_COLOURS[source])).max(axis=1) <= 40).sum()
        assert grey > 0.3 and outline > 20, (row.label, grey, outline)
    assert [row_cells(sheet, r)[:2] for r in sheet.rows] == [
        ("track 3", "00:00:00.080 - 00:00:00.240 (frames 2-6, 5 with a mask)"),
        ("track 2", "00:00:01.080 - 00:00:01.080 (frames 17-17, 1 with a mask)"),
        ("track 1", "00:00:00.000 - 00:00:01.000 (frames 0-15, 16 with a mask)"),
    ]


def test_cli_counts_tracks_worth_a_look(clip, tmp_path):
    """Track 1 gets a second flag (a weak detection): 4 frame flags, still 3 tracks."""
    path, _ = clip
    records = _records()
    records[3][0]["score"] = 0.1
    tracks = tmp_path / "tracks.json"
    tracks.write_text(json.dumps({"video": str(path), "width": 160, "height": 120, "fps": FPS, "frames": records}))
    proc = run_cli(path, tmp_path / "o.mp4", "--tracks", tracks, "--review", tmp_path / "sheet.png")
    assert proc.returncode == 0, proc.stderr
    assert "3 tracks worth a look" in proc.stdout + proc.stderr
    assert len(build_sheet(from_records(records), TIMES, "g", "o", 160, 120, FPS, 0.4, 1.45, False).flags) == 4


def test_a_track_span_takes_in_the_frames_where_its_mask_was_refused(tmp_path):
    """--max-face-size: a face whose mask is refused from frame 9 on shows there; its row said
    "frames 0-8" and linked a frame outside that span."""
    from conftest import SAMPLE

    sheet = tmp_path / "sheet.html"
    anonymize(SAMPLE, tmp_path / "o.mp4", review=str(sheet), max_face_size=0.01, progress=False)
    spans = re.findall(r"\(frames (\d+)-(\d+), (\d+) with a mask\)", sheet.read_text())
    assert spans and all((int(a), int(b)) == (0, 34) for a, b, _ in spans), spans
    assert any(int(n) < 35 for _, _, n in spans)  # some frames of the span have no mask: refused


def test_timeline_says_how_many_of_the_tracks_it_leaves_out_are_flagged():
    """A crowd has more tracks than the timeline has rows: the note under it must not call
    flagged tracks "not flagged" (a reviewer would skip them)."""
    from vidanon.review.draw import TIMELINE_MAX_ROWS, timeline_rows

    n = TIMELINE_MAX_ROWS + 30
    # n one-frame tracks (each flagged), and 10 long clear ones
    frames = [_frame(*[([0.01 * (k % 90), 0.0, 0.01 * (k % 90) + 0.05, 0.05], 0.9, k + 1, DETECTED)
                       for k in range(i * 2, i * 2 + 2)]) for i in range(n // 2)]  # fmt: skip
    for i, f in enumerate(frames):
        frames[i] = Detections.merge([f, _frame(*[([0.5, 0.1 * j, 0.6, 0.1 * j + 0.05], 0.95, 1000 + j, DETECTED)
                                                  for j in range(10)])])  # fmt: skip
    sheet = build_sheet(frames, np.arange(len(frames)) / 10.0, "v.mp4", "o.mp4", 160, 120, 10.0, 0.4, 1.45, False)
    assert sheet.worth_a_look == n
    shown, note = timeline_rows(sheet)
    assert len(shown) == TIMELINE_MAX_ROWS
    assert note == f"{n + 10 - TIMELINE_MAX_ROWS} more tracks not shown, {n - TIMELINE_MAX_ROWS} of them " \
                   "flagged (the .html sheet lists every track)"
    few = build_sheet(frames[:3], np.arange(3) / 10.0, "v.mp4", "o.mp4", 160, 120, 10.0, 0.4, 1.45, False)
    assert timeline_rows(few)[1] is None


def test_keep_in_a_span_by_replaying_the_whole_runs_tracks(clip, tmp_path):
    """docs/review.md: a run with --start/--end numbers its tracks in its own order; replaying the
    whole run's tracks file keeps the ids of the whole run's sheet."""
    path, tracks = clip
    saved = tmp_path / "kept.json"
    anonymize(path, tmp_path / "o.mp4", tracks=str(tracks), start=0.1, end=0.3, keep="3", save_tracks=str(saved),
              progress=False)  # fmt: skip
    got, records = json.loads(saved.read_text())["frames"], _records()
    inside = [i for i, f in enumerate(got) if f]
    assert inside and inside[0] > 0 and inside[-1] < 10
    assert all(got[i] == [o for o in records[i] if o["id"] != 3] for i in inside)
    assert any(o["id"] == 1 for i in inside for o in got[i]) and all(records[i] for i in inside)


def test_a_span_runs_sheet_samples_its_frames_in_the_span(clip, tmp_path):
    """With --start/--end the frames outside the span are written as they are: the sheet's
    sampled frames are taken inside the span, where the run hid something."""
    assert pick_frames([], 100, count=5, within=(40, 59)) == [40, 45, 50, 54, 59]
    assert pick_frames([52], 100, count=3, within=(40, 59)) == [40, 52, 59]
    path, tracks = clip
    sheet = tmp_path / "span.html"
    anonymize(path, tmp_path / "o.mp4", tracks=str(tracks), start=0.1, end=0.3, review=str(sheet), progress=False)
    shown = sorted(int(i) for i in re.findall(r'<figure id="frame-(\d+)">', sheet.read_text()))
    assert shown == [3, 4, 5, 6, 7]  # t = 0.12 to 0.28 s at 25 fps


def test_the_sheet_shows_frames_as_written():
    """The thumbnails are the output's frames as they were written (the exact conversion), not
    the detector's copy, which is about a luma level darker."""
    from conftest import SAMPLE

    from vidanon.media.probe import probe
    from vidanon.media.reader import FrameReader
    from vidanon.review import read_picked

    info = probe(SAMPLE)
    first = next(iter(FrameReader(info)))
    picked = read_picked(SAMPLE, [0], info.width, info.height)
    assert np.array_equal(picked[0], first.picture) and not np.array_equal(picked[0], first)
