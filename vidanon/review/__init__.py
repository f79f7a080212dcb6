"""The review sheet (``--review sheet.png`` or ``.html``): what to check before publishing.

Once the output is complete, the boxes hidden in every frame (the ones ``--save-tracks``
writes, collected once by :class:`~vidanon.track.replay.TracksRecorder`) are summed up for
the person who must check the result:

* the tracks most worth a look, one row each, the likeliest false first
  (:func:`~vidanon.review.rank.rank_tracks`), each with a tile of its most doubtful frame,
  its time span and its reasons: the frame flags of :func:`find_flags` gathered per track
  (a mask seen in one frame only
  (the detector saw that face once, so it may show unmasked in the frames around it, or it
  is a false alarm), a track carried without detections (predicted, back-filled, followed,
  interpolated: the box may drift off the face), a track kept from detections below the
  threshold (weak evidence: a hard face, or a false alarm), and with ``--target people`` a
  person mask that covers much less of its box than it does in the rest of its track (the
  segmenter lost the person: the box is there, the person shows);
* sampled frames (:func:`pick_frames`: the top tracks' frames, then evenly spaced ones),
  each mask's outline drawn over it and coloured by where its box came from;
* a timeline, one row per track, coloured by source over time.

The frames are read again from the OUTPUT, not the input: the sheet shows what will be
published (a face the mask misses shows as a face outside the outline), and it holds no
face the run hid, so it can be handed to a reviewer without becoming a leak of its own.

:func:`write_review` writes a PNG (Pillow) or a self-contained HTML page (the images
embedded as base64, the list as a table); :data:`SHEET_FORMATS` are the extensions.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..detections import Detections
from ..media.sidefile import check_side_file, write_side_file
from .draw import PNG_LIST_ROWS, render_html, render_png
from .flags import Covers, Refused, Sheet, collect_tracks, find_flags, pick_frames, refused_flags
from .rank import rank_tracks
from .tiles import cut_tile

SHEET_FORMATS = {".png": "png", ".html": "html", ".htm": "html"}


def build_sheet(frames: Sequence[Detections], times: Sequence[float | None], video: str, output: str, width: int,
                height: int, fps: float, threshold: float, mask_scale: float, people: bool,
                pixel_aspect: float = 1.0, covers: Covers | None = None, refused: Refused | None = None,
                span: tuple[int, int] | None = None) -> Sheet:  # fmt: skip
    """Everything a sheet shows but the pixels, from the boxes hidden in every frame; ``span``:
    the first and last frame of ``--start``/``--end``, where the frames are sampled."""
    frames = list(frames)
    frame_s = 1.0 / fps if fps > 0 else 0.0
    secs = np.array([i * frame_s if t is None else float(t) for i, t in enumerate(times)], np.float64)
    if len(secs) != len(frames):
        raise ValueError("one time per frame is needed")
    tracks = collect_tracks(frames)
    flags = find_flags(frames, secs, fps, threshold, tracks, covers)
    if refused is not None:
        flags = sorted(flags + refused_flags(*refused, secs), key=lambda f: (-f.weight, f.frame, f.track))
    rows = rank_tracks(frames, threshold, tracks, flags, refused[0] if refused is not None else ())
    picked = pick_frames([r.thumb for r in rows if r.worth_a_look], len(frames), within=span)
    return Sheet(video, output, width, height, pixel_aspect, fps, secs, frames, tracks, flags, picked, threshold,
                 mask_scale, people, rows)  # fmt: skip


def read_picked(path: str | os.PathLike, picked: Sequence[int], width: int, height: int,
                cut: Callable[[int, np.ndarray], None] | None = None, also: Iterable[int] = (),
                times: Sequence[float | None] | None = None) -> dict[int, np.ndarray]:  # fmt: skip
    """The 8-bit RGB frames ``picked`` of the video at ``path``, cut to ``width`` x ``height``
    (an output padded to an even size has a column or row more), in one pass; each frame of
    ``picked`` and ``also`` is handed to ``cut(index, frame)`` too (for the tracks' tiles).
    ``times``: the input's frame times: where the output has fewer frames (a GIF leaves out a
    frame under 2 hundredths of a second after the one before), each frame is the output's frame
    shown at its time."""
    from ..media.probe import probe
    from ..media.reader import FrameReader

    wanted, extra = set(picked), set(also) if cut is not None else set()
    out: dict[int, np.ndarray] = {}
    if not wanted | extra:
        return out
    info = probe(path)
    shown = {i: [i] for i in wanted | extra}  # output frame: the input frames it shows
    if times is not None and info.packets is not None and 0 < len(info.packets.times) < len(times):
        written = np.asarray(info.packets.times, np.float64) - info.packets.times[0]
        first = next((t for t in times if t is not None), 0.0)
        shown = {}
        for i in wanted | extra:
            at = (times[i] if times[i] is not None else first) - first
            shown.setdefault(max(int(np.searchsorted(written, at + 0.005, side="right")) - 1, 0), []).append(i)
    reader = FrameReader(info, limit=max(shown) + 1)
    try:
        for index, frame in enumerate(reader):
            for i in shown.get(index, ()):
                pixels = np.array(frame.picture[:height, :width], dtype=np.uint8)  # as written (exact)
                if cut is not None:
                    cut(i, pixels)
                if i in wanted:
                    out[i] = pixels
    finally:
        reader.close()
    return out


def check_review_target(path: str | os.PathLike, input_path: Path, output: Path, overwrite: bool = False,
                        tracks: str | os.PathLike | None = None, others=()) -> Path:  # fmt: skip
    """Where the sheet goes, checked before the run (see :func:`~vidanon.media.sidefile.check_side_file`):
    not the input, the output, the tracks file or ``others`` (the run's other inputs), in a folder
    that exists and can be written."""
    return check_side_file(path, "review sheet", input_path, output, overwrite, [(tracks, "tracks file"), *others])


def write_review(path: str | os.PathLike, recorder, info, output: Path, threshold: float, mask_scale: float,
                 people: bool, refused: Refused | None = None,
                 span: tuple[int, int] | None = None) -> Sheet:  # fmt: skip
    """Build the sheet of a finished run and write it to ``path`` (.png or .html).

    ``recorder``: the :class:`~vidanon.track.replay.TracksRecorder` of the run (every frame's
    boxes, its presentation time in the input file, its person masks' cover); ``info``: the
    input's :class:`~vidanon.media.probe.VideoInfo`; ``output``: the finished output, whose
    frames the thumbnails show; ``refused``: the masks ``--max-face-size`` left out, and that limit;
    ``span``: the first and last frame of ``--start``/``--end`` (None: the whole video).
    """
    target = Path(path)
    fmt = SHEET_FORMATS[target.suffix.lower()]
    start = info.file_start
    secs = [None if t is None else max(0.0, float(t) - start) for t in recorder.times]
    aspect = float(info.sar) if info.sar else 1.0
    sheet = build_sheet(recorder.frames, secs, str(info.path), str(output), info.width, info.height,
                        float(info.fps), threshold, mask_scale, people, aspect, recorder.covers, refused,
                        span)  # fmt: skip
    rows_at: dict[int, list[int]] = defaultdict(list)  # frame: the rows whose tile it gives
    for k, row in enumerate(sheet.rows[: None if fmt == "html" else PNG_LIST_ROWS]):
        rows_at[row.thumb].append(k)
    tiles: dict = {}

    def cut(index: int, frame: np.ndarray) -> None:
        for k in rows_at.get(index, ()):
            tiles[k] = cut_tile(sheet, sheet.rows[k], frame)

    pixels = read_picked(output, sheet.picked, info.width, info.height, cut, rows_at, secs)

    def write(tmp: Path) -> None:
        if fmt == "png":
            render_png(sheet, pixels, tiles).save(tmp, "PNG")
        else:
            tmp.write_text(render_html(sheet, pixels, tiles), encoding="utf8")

    write_side_file(target, "review sheet", write)
    return sheet
