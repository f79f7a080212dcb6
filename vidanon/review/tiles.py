"""The review sheet's track list: per track a tile (its most doubtful frame, cropped around
its box, with its mask's outline) beside its span, evidence and reasons; as PNG rows or an
HTML table."""

from __future__ import annotations

import html
from typing import Sequence

import numpy as np

from ..detections import DETECTED, PERSON, Detections
from .flags import Sheet, time_code
from .rank import TrackRow

TILE = 96  # a tile fits in TILE x TILE pixels


CROP_GROW = 2.6  # the crop around a box: this many times its larger side (the mask's head and some context)


CROP_MIN = 32  # pixels of the frame, at least


def crop_rect(box: np.ndarray | None, width: int, height: int) -> tuple[int, int, int, int]:
    """``(y0, x0, y1, x1)`` in pixels of the frame: a square around ``box`` (the whole frame for None)."""
    if box is None:
        return 0, 0, height, width
    ymin, xmin, ymax, xmax = (float(v) for v in box)
    side = max((ymax - ymin) * height, (xmax - xmin) * width) * CROP_GROW
    side = min(max(side, CROP_MIN), max(width, height))
    cy, cx = (ymin + ymax) / 2 * height, (xmin + xmax) / 2 * width
    y0, x0 = int(np.clip(round(cy - side / 2), 0, max(0, height - side))), int(np.clip(round(cx - side / 2), 0, max(0, width - side)))
    return y0, x0, min(height, y0 + max(1, round(side))), min(width, x0 + max(1, round(side)))


def cut_tile(sheet: Sheet, row: TrackRow, frame: np.ndarray):
    """The tile of ``row`` from its frame (8-bit RGB, the output's): cropped, fitted in
    :data:`TILE`, the box's mask outline drawn (faces) or the box itself (people)."""
    from PIL import Image, ImageDraw

    from .draw import FLAG_COLOUR, SOURCE_COLOURS, outline_pixels

    y0, x0, y1, x1 = crop_rect(row.box, sheet.width, sheet.height)
    ch, cw = y1 - y0, (x1 - x0) * sheet.pixel_aspect
    scale = TILE / max(ch, cw, 1)
    size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
    image = Image.fromarray(np.ascontiguousarray(frame[y0:y1, x0:x1])).resize(size, Image.Resampling.BILINEAR)
    if row.box is None:
        return image
    ymin, xmin, ymax, xmax = (float(v) for v in row.box)
    local = [(ymin * sheet.height - y0) / ch, (xmin * sheet.width - x0) / (x1 - x0),
             (ymax * sheet.height - y0) / ch, (xmax * sheet.width - x0) / (x1 - x0)]  # fmt: skip
    dets = sheet.frames[row.thumb]
    mine = np.flatnonzero((dets.track_ids == row.track) & (np.abs(dets.boxes - row.box).max(axis=1) < 1e-6))
    source = int(dets.sources[mine[0]]) if len(mine) else DETECTED
    colour = SOURCE_COLOURS.get(source, FLAG_COLOUR)
    if sheet.people and (not len(mine) or int(dets.classes[mine[0]]) == PERSON):  # a person's box; a face's outline
        ImageDraw.Draw(image).rectangle((local[1] * size[0], local[0] * size[1], local[3] * size[0],
                                         local[2] * size[1]), outline=colour, width=2)  # fmt: skip
        return image
    pixels = np.array(image)
    one = Detections([local], [1.0], [0])
    pixels[outline_pixels(one, size[1], size[0], sheet.mask_scale)[0]] = colour
    return Image.fromarray(pixels)


def row_cells(sheet: Sheet, row: TrackRow) -> tuple[str, str, str]:
    """The row's words: the track, its span, its evidence."""
    a, b = sheet.times[row.first], sheet.times[row.last]
    span = f"{time_code(a)} - {time_code(b)} (frames {row.first}-{row.last}, {row.frames} with a mask)"
    if row.box is None and row.detected == 0 and row.best == 0.0:
        evidence = "no mask drawn"
    else:
        evidence = f"best score {row.best:.2f}; detected in {row.detected} of {row.frames} frames, " \
                   f"carried in {row.frames - row.detected}"  # fmt: skip
    return f"track {row.label}" if row.track >= 0 else row.label, span, evidence


ROW_H = TILE + 8  # one track in the PNG's list


def draw_rows(image, sheet: Sheet, rows: Sequence[TrackRow], tiles: dict[int, object], x: int, y: int, font) -> int:
    """The ``rows`` drawn on the PNG ``image`` from ``(x, y)`` down (``tiles``: by index in the
    rows); returns the y after them."""
    from PIL import ImageDraw

    from .draw import FLAG_COLOUR, GREY, INK

    draw = ImageDraw.Draw(image)
    for rank, row in enumerate(rows, 1):
        tile = tiles.get(rank - 1)
        draw.text((x, y + 4), str(rank), fill=INK, font=font)
        if tile is not None:
            image.paste(tile, (x + 40, y))
        name, span, evidence = row_cells(sheet, row)
        tx = x + 40 + TILE + 16
        draw.text((tx, y + 2), f"{name}   {span}", fill=INK, font=font)
        draw.text((tx, y + 20), f"{evidence}   (doubt {row.doubt:.2f})", fill=GREY, font=font)
        for k, text in enumerate(row.reason_text()[:3]):
            draw.text((tx, y + 38 + 18 * k), text, fill=FLAG_COLOUR, font=font)
        y += ROW_H
    return y


def html_rows(sheet: Sheet, rows: Sequence[TrackRow], tiles: dict[int, object], data_uri) -> str:
    """The HTML table of every row (tiles embedded by ``data_uri(image, fmt)``)."""
    if not rows:
        return "<p>no mask in any frame</p>"
    e = html.escape
    out = []
    for rank, row in enumerate(rows, 1):
        tile = tiles.get(rank - 1)
        img = f'<img src="{data_uri(tile, "jpeg")}" alt="track {e(row.label)}">' if tile is not None else ""
        name, span, evidence = row_cells(sheet, row)
        frame = f'<a href="#frame-{row.thumb}">{row.thumb}</a>' if row.thumb in sheet.picked else str(row.thumb)
        why = "<br>".join(e(t) for t in row.reason_text()) or "nothing flagged"
        cls = ' class="flag"' if row.reasons else ""  # (in the flags' colour only where there are flags)
        out.append(f"<tr><td>{rank}</td><td>{img}</td><td>{e(name)}</td><td>{e(span)}</td><td>{frame}</td>"
                   f"<td>{e(evidence)}</td><td{cls}>{why}</td><td>{row.doubt:.2f}</td></tr>")  # fmt: skip
    return ("<table><thead><tr><th>#</th><th>frame shown</th><th>track</th><th>time span</th><th>frame</th>"
            "<th>evidence</th><th>why</th><th>doubt</th></tr></thead><tbody>\n" + "\n".join(out) +
            "\n</tbody></table>")  # fmt: skip
