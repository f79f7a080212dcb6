"""Drawing the review sheet: thumbnails with each mask's outline, the timeline, the list;
as a PNG (Pillow) or a self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..detections import DETECTED, PERSON, SOURCE_NAMES, Detections
from .flags import THUMB_WIDTH, Sheet, time_code
from .tiles import ROW_H, draw_rows, html_rows

COLUMNS = 4


MARGIN = 16


GAP = 8


LABEL_H = 24  # the time code under each thumbnail


LINE_H = 20  # one row of the list


PNG_LIST_ROWS = 20  # the PNG lists the top tracks; the HTML table lists every one


TIMELINE_MAX_ROWS = 120


SHEET_WIDTH = 2 * MARGIN + COLUMNS * THUMB_WIDTH + (COLUMNS - 1) * GAP


SOURCE_COLOURS = {
    0: (40, 180, 70),  # detected: green
    1: (255, 140, 0),  # predicted: orange
    2: (30, 144, 255),  # interpolated: blue
    3: (170, 90, 230),  # backfilled: purple
    4: (255, 60, 170),  # followed: pink
}


FLAG_COLOUR = (230, 30, 30)


INK = (20, 20, 20)


GREY = (110, 110, 110)


PAPER = (255, 255, 255)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # a Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def thumbnail(sheet: Sheet, index: int, pixels: np.ndarray | None):
    """Frame ``index`` at :data:`THUMB_WIDTH`, each mask's outline drawn over it, its track id beside it
    (a frame far taller than wide: narrower, centred; see :attr:`Sheet.thumb_width`)."""
    from PIL import Image, ImageDraw

    size = (sheet.thumb_width, sheet.thumb_height)
    if pixels is None:  # not decoded (should not happen: the output has every frame)
        image = Image.new("RGB", size, (60, 60, 60))
    else:
        image = Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    dets = sheet.frames[index]
    sx, sy = size
    colours = [SOURCE_COLOURS.get(int(source), FLAG_COLOUR) for source in dets.sources]
    person = people_boxes(sheet, dets)
    outlined = np.flatnonzero(~person)
    if len(outlined):  # faces (and plates): the mask's own outline
        pixels = np.array(image)
        for line, i in zip(outline_pixels(dets[outlined], sy, sx, sheet.mask_scale), outlined):
            pixels[line] = colours[i]
        image = Image.fromarray(pixels)
    left = (THUMB_WIDTH - sx) // 2
    if sx < THUMB_WIDTH:
        framed = Image.new("RGB", (THUMB_WIDTH, sy), PAPER)
        framed.paste(image, (left, 0))
        image = framed
    if not len(dets):
        return image
    draw = ImageDraw.Draw(image)
    font = _font(13)
    for box, tid, colour, is_person in zip(dets.boxes, dets.track_ids, colours, person):
        x0, y0, x1, y1 = left + box[1] * sx, box[0] * sy, left + box[3] * sx, box[2] * sy
        if is_person:  # people: the detected box (the mask follows the person inside and a little around it)
            draw.rectangle((x0, y0, x1, y1), outline=colour, width=2)
        if tid >= 0:
            ty = y0 - 15 if y0 >= 15 else y1 + 1
            draw.text((max(0.0, x0), ty), str(int(tid)), fill=colour, font=font, stroke_width=2,
                      stroke_fill=(0, 0, 0))  # fmt: skip
    return image


def _thumb_caption(sheet: Sheet, index: int, number: int) -> tuple[str, str]:
    kinds = sorted({f.kind for f in sheet.flags if f.frame == index})
    return f"#{number}  {time_code(sheet.times[index])}  frame {index}", ", ".join(kinds)


def _nice_step(span: float, most: int = 12) -> float:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if span / step <= most:
            return float(step)
    return float(math.ceil(span / most / 3600) * 3600)


def timeline(sheet: Sheet, width: int = SHEET_WIDTH - 2 * MARGIN):
    """One row per track (x: the frames in order), coloured by source; red ticks at flagged
    frames, the sampled frames' numbers above."""
    from PIL import Image, ImageDraw

    n = max(len(sheet.frames), 1)
    rows: list[tuple[str, list[tuple[int, int, int]]]] = []  # label, (first, last, source) runs
    shown, note = timeline_rows(sheet)
    for t in shown:
        rows.append((str(t.id), _runs(t.frames, t.sources)))
    loose = [i for i, d in enumerate(sheet.frames) if (d.track_ids < 0).any()]
    if loose:
        rows.append(("none", _runs(np.array(loose), np.zeros(len(loose), np.uint8))))
    row_h = int(np.clip(480 // max(len(rows), 1), 3, 16))
    label_w, top, axis_h = 64, 22, 26
    plot_w = width - label_w - 8
    height = top + max(len(rows), 1) * row_h + axis_h + (18 if note else 0)
    image = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(image)
    font = _font(12)

    def x_of(frame: float) -> float:
        return label_w + frame * plot_w / n

    plot_bottom = top + max(len(rows), 1) * row_h
    draw.rectangle((label_w, top, label_w + plot_w, plot_bottom), fill=(245, 245, 245))
    for number, index in enumerate(sheet.picked, 1):
        x = x_of(index + 0.5)
        draw.line((x, top - 4, x, plot_bottom), fill=(200, 200, 200))
        draw.text((x, top - 5), str(number), fill=GREY, font=font, anchor="mb")
    row_of = {label: r for r, (label, _) in enumerate(rows)}
    for r, (label, runs) in enumerate(rows):
        y0 = top + r * row_h
        if row_h >= 10:
            draw.text((label_w - 6, y0 + row_h / 2), label, fill=INK, font=font, anchor="rm")
        inner = max(1, row_h - 2) if row_h >= 5 else row_h
        for order in (True, False):  # detected first, the carried runs over them
            for first, last, source in runs:
                if (source == DETECTED) != order:
                    continue
                x0, x1 = x_of(first), max(x_of(last + 1), x_of(first) + 1)
                draw.rectangle((x0, y0, x1 - 1, y0 + inner - 1), fill=SOURCE_COLOURS.get(source, FLAG_COLOUR))
    for f in sheet.flags:
        r = row_of.get(str(f.track) if f.track >= 0 else "none")
        if r is None:
            continue
        x, y = x_of(f.frame + 0.5), top + r * row_h
        draw.polygon([(x - 4, y - 1), (x + 4, y - 1), (x, y + min(row_h, 8) - 1)], fill=FLAG_COLOUR)
    if not rows:
        draw.text((label_w + 8, top + 1), "no mask in any frame", fill=GREY, font=font)
    # the time axis
    span = float(sheet.times[-1] - sheet.times[0]) if len(sheet.times) > 1 else 0.0
    step = _nice_step(span) if span > 0 else 1.0
    t = math.ceil(sheet.times[0] / step) * step if len(sheet.times) else 0.0
    while len(sheet.times) and t <= sheet.times[-1] + 1e-9:
        index = int(np.searchsorted(sheet.times, t - 1e-9))
        x = x_of(index)
        draw.line((x, plot_bottom, x, plot_bottom + 5), fill=INK)
        label = time_code(t)[3:] if span < 3600 else time_code(t)[:8]
        draw.text((x, plot_bottom + 7), label.rstrip("0").rstrip(".") if step >= 1 else label, fill=INK, font=font,
                  anchor="mt")  # fmt: skip
        t += step
    draw.text((0, plot_bottom + 7), "time", fill=GREY, font=font)
    if note:
        draw.text((label_w, plot_bottom + axis_h), note, fill=GREY, font=font)
    return image


def timeline_rows(sheet: Sheet) -> tuple[list, str | None]:
    """The tracks the timeline shows, in order (at most :data:`TIMELINE_MAX_ROWS`: the most
    flagged, then the longest), and the note on those it leaves out (None: it shows them all)."""
    if len(sheet.tracks) <= TIMELINE_MAX_ROWS:
        return list(sheet.tracks), None
    weight: dict[int, float] = {}
    for f in sheet.flags:
        weight[f.track] = weight.get(f.track, 0.0) + f.weight
    keep = {t.id for t in sorted(sheet.tracks, key=lambda t: (-weight.get(t.id, 0.0), -len(t.frames)))
            [:TIMELINE_MAX_ROWS]}  # fmt: skip
    shown = [t for t in sheet.tracks if t.id in keep]
    flagged = sum(1 for t in sheet.tracks if t.id not in keep and t.id in weight)
    left = len(sheet.tracks) - len(shown)
    why = f"{flagged} of them flagged (the .html sheet lists every track)" if flagged else "short and not flagged"
    return shown, f"{left} more tracks not shown, {why}" if flagged else f"{left} more tracks not shown ({why})"


def _runs(frames: np.ndarray, sources: np.ndarray) -> list[tuple[int, int, int]]:
    """``(first, last, source)`` of the runs of consecutive frames with one source."""
    runs: list[tuple[int, int, int]] = []
    for frame, source in zip(frames.tolist(), sources.tolist()):
        if runs and runs[-1][2] == source and runs[-1][1] == frame - 1:
            runs[-1] = (runs[-1][0], frame, source)
        else:
            runs.append((frame, frame, source))
    return runs


def people_boxes(sheet: Sheet, dets: Detections) -> np.ndarray:
    """Which of a frame's boxes are people's (drawn as their boxes; faces by their mask's outline)."""
    return dets.classes == PERSON if sheet.people else np.zeros(len(dets), bool)


def _summary_text(sheet: Sheet) -> list[str]:
    boxes = sum(len(d) for d in sheet.frames)
    faces = any((~people_boxes(sheet, d)).any() for d in sheet.frames)
    what = ("face and person" if faces else "person") if sheet.people else "face"
    head = f"where a face's mask is at half strength (the head around it, grown by {sheet.mask_scale:g})"
    outline = (f"each person's detected box{', and ' + head if faces else ''}" if sheet.people else head)
    return [
        f"{Path(sheet.output).name} (from {Path(sheet.video).name}): {len(sheet.frames)} frames {sheet.width}x"
        f"{sheet.height} @ {sheet.fps:.3f} fps; {boxes} {what} masks in {len(sheet.tracks)} tracks; "
        f"{sheet.worth_a_look} track{'' if sheet.worth_a_look == 1 else 's'} worth a look",
        f"Frames read back from the output. Outline: {outline}, coloured by where the box came from.",
    ]


def _legend(draw, x: float, y: float, font) -> None:
    for source, colour in SOURCE_COLOURS.items():
        draw.rectangle((x, y + 2, x + 14, y + 14), fill=colour)
        draw.text((x + 19, y), SOURCE_NAMES[source], fill=INK, font=font)
        x += 30 + draw.textlength(SOURCE_NAMES[source], font=font)
    draw.polygon([(x, y + 2), (x + 14, y + 2), (x + 7, y + 14)], fill=FLAG_COLOUR)
    draw.text((x + 19, y), "flagged frame", fill=INK, font=font)


@dataclass(frozen=True)
class SheetLayout:
    """Where the parts of a PNG sheet go (pixels; the width is always :data:`SHEET_WIDTH`)."""

    thumb_height: int
    thumbs: int
    timeline_height: int
    list_rows: int

    HEADER = 96
    TITLE = 30  # a section's title

    @property
    def thumbs_top(self) -> int:
        return self.HEADER + self.TITLE

    def thumb_origin(self, k: int) -> tuple[int, int]:
        row, col = divmod(k, COLUMNS)
        return MARGIN + col * (THUMB_WIDTH + GAP), self.thumbs_top + row * (self.thumb_height + LABEL_H + GAP)

    @property
    def timeline_top(self) -> int:
        rows = math.ceil(self.thumbs / COLUMNS)
        return self.thumbs_top + rows * (self.thumb_height + LABEL_H + GAP) + self.TITLE

    @property
    def list_top(self) -> int:
        return self.timeline_top + self.timeline_height + GAP + self.TITLE

    @property
    def height(self) -> int:
        return self.list_top + ROW_H * self.list_rows + LINE_H + MARGIN  # + "... and N more"


def render_png(sheet: Sheet, pixels: dict[int, np.ndarray], tiles: dict[int, object] | None = None):
    """The sheet as one image: header, sampled frames, timeline, the top of the track list
    (``tiles``: the rows' tiles by index, see :func:`~vidanon.review.tiles.cut_tile`)."""
    from PIL import Image, ImageDraw

    line = timeline(sheet)
    listed = sheet.rows[:PNG_LIST_ROWS]
    more = len(sheet.rows) - len(listed)
    layout = SheetLayout(sheet.thumb_height, len(sheet.picked), line.height, max(len(listed), 1))
    image = Image.new("RGB", (SHEET_WIDTH, layout.height), PAPER)
    draw = ImageDraw.Draw(image)
    big, font, bold = _font(22), _font(14), _font(16)
    draw.text((MARGIN, 12), "vidanon review sheet", fill=INK, font=big)
    for k, text in enumerate(_summary_text(sheet)):
        draw.text((MARGIN, 44 + 18 * k), text, fill=INK if k == 0 else GREY, font=font)
    _legend(draw, MARGIN + 1000, 16, font)

    draw.text((MARGIN, layout.HEADER + 4), f"Sampled frames ({len(sheet.picked)}: the top tracks' frames and evenly "
              "spaced ones)", fill=INK, font=bold)  # fmt: skip
    for k, index in enumerate(sheet.picked):
        x, y = layout.thumb_origin(k)
        image.paste(thumbnail(sheet, index, pixels.get(index)), (x, y))
        caption, kinds = _thumb_caption(sheet, index, k + 1)
        draw.text((x, y + sheet.thumb_height + 4), caption, fill=INK, font=font)
        if kinds:
            draw.text((x + THUMB_WIDTH, y + sheet.thumb_height + 4), kinds, fill=FLAG_COLOUR, font=font, anchor="ra")
    draw.text((MARGIN, layout.timeline_top - layout.TITLE + 4), "Tracks over time (one row per track id)", fill=INK,
              font=bold)  # fmt: skip
    image.paste(line, (MARGIN, layout.timeline_top))
    draw.text((MARGIN, layout.list_top - layout.TITLE + 4), f"Tracks most worth a look ({sheet.worth_a_look} of "
              f"{len(sheet.rows)}, the likeliest false first; each at its most doubtful frame)", fill=INK,
              font=bold)  # fmt: skip
    if not listed:
        draw.text((MARGIN, layout.list_top + 4), "no mask in any frame", fill=GREY, font=font)
    y = draw_rows(image, sheet, listed, tiles or {}, MARGIN, layout.list_top, font)
    if more:
        draw.text((MARGIN, y + 2), f"... and {more} more tracks (an .html sheet lists them all)", fill=GREY, font=font)
    return image


def _data_uri(image, fmt: str) -> str:
    buf = io.BytesIO()
    if fmt == "jpeg":
        image.save(buf, "JPEG", quality=88)
    else:
        image.save(buf, "PNG", optimize=True)
    return f"data:image/{fmt};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def render_html(sheet: Sheet, pixels: dict[int, np.ndarray], tiles: dict[int, object] | None = None) -> str:
    """The sheet as one self-contained page: the images embedded, every track in a table."""
    e = html.escape
    legend = " ".join(
        f'<span class="key" style="background:rgb{SOURCE_COLOURS[s]}"></span>{e(SOURCE_NAMES[s])}'
        for s in SOURCE_COLOURS
    )
    figures = []
    for k, index in enumerate(sheet.picked):
        caption, kinds = _thumb_caption(sheet, index, k + 1)
        figures.append(
            f'<figure id="frame-{index}"><img src="{_data_uri(thumbnail(sheet, index, pixels.get(index)), "jpeg")}" '
            f'width="{THUMB_WIDTH}" height="{sheet.thumb_height}" alt="frame {index}">'
            f'<figcaption>{e(caption)} <span class="flag">{e(kinds)}</span></figcaption></figure>'
        )
    table = html_rows(sheet, sheet.rows, tiles or {}, _data_uri)
    head, sub = _summary_text(sheet)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>vidanon review: {e(Path(sheet.output).name)}</title>
<style>
body {{ font-family: sans-serif; margin: 16px; color: #141414; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, {THUMB_WIDTH}px); gap: 8px; }}
figure {{ margin: 0; }} figcaption {{ font-size: 14px; }}
.flag {{ color: rgb{FLAG_COLOUR}; }}
.key {{ display: inline-block; width: 14px; height: 14px; margin: 0 4px 0 12px; vertical-align: middle; }}
table {{ border-collapse: collapse; font-size: 14px; }}
td, th {{ border: 1px solid #ccc; padding: 2px 6px; text-align: left; }}
</style></head><body>
<h1>vidanon review sheet</h1>
<p>{e(head)}</p>
<p>{e(sub)}</p>
<p>{legend}</p>
<h2>Sampled frames ({len(sheet.picked)}: the top tracks' frames and evenly spaced ones)</h2>
<div class="grid">
{chr(10).join(figures)}
</div>
<h2>Tracks over time (one row per track id)</h2>
<img src="{_data_uri(timeline(sheet), "png")}" alt="timeline">
<h2>Tracks most worth a look ({sheet.worth_a_look} of {len(sheet.rows)}, the likeliest false first)</h2>
{table}
</body></html>
"""


def outline_pixels(dets: Detections, height: int, width: int, mask_scale: float) -> list[np.ndarray]:
    """Per face box, the pixels (a bool map of ``height`` x ``width``) of the line where its mask
    is at half strength, as the renderer pastes it (:func:`vidanon.render.masks.alpha_map`: the head
    around the face, grown by ``mask_scale``); two pixels wide, open where the mask leaves the frame."""
    from ..render.masks import alpha_map

    lines = []
    for i in range(len(dets)):
        inside = np.pad(alpha_map(dets[i], height, width, mask_scale) >= 0.5, 1, mode="edge")
        core = inside[1:-1, 1:-1]
        interior = core & inside[:-2, 1:-1] & inside[2:, 1:-1] & inside[1:-1, :-2] & inside[1:-1, 2:]
        edge = core & ~interior
        edge[1:, :] |= edge[:-1, :]  # thickened by one pixel down and right
        edge[:, 1:] |= edge[:, :-1]
        lines.append(edge & core)
    return lines
