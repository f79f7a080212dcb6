#!/usr/bin/env python3
"""Plate leak benchmark with exact ground truth, for a plate model the user brings.

Builds test videos by compositing generated licence plates onto the people-free clips of
``../shared/eval/videos``: random text drawn with PIL's default font on plate-shaped
rectangles (white or yellow, dark border), each mounted on a real car: the rear of the car
that ``bikes_street.mp4`` shows in its frame 140 (a Belgian saloon, cut out with its
surroundings, its own plate covered by the generated one, scaled so that the plate has
the width wanted). Plate detectors look at the car around a plate: platedet's YOLOv8s-seg
scores these plates 0.4-0.8 on the car and under 0.06 drawn alone on asphalt
(``--bare`` draws them alone, warped in perspective, as a harder test). The plates move
along straight trajectories that enter at the frame's edges, 18 to 140 px wide (a 1080p
dashcam plate is 20-60 px), some frames motion-blurred or dimmed; a car drawn later hides
the plates it covers (only a plate at least half visible is scored). It runs vidanon on
them with ``--target faces,plates --plates-model MODEL`` and scores the output video
itself with the face benchmark's rule (``scripts/evaluate.py``'s ``detail_kept``):

* a plate-frame is **hidden** when the plate's box in the output has lost the detail of
  the input's (correlation of the high-pass parts under 0.5);
* **recall** is the share of plate-frames hidden; the **longest leak** is the longest run
  of consecutive visible frames of one plate;
* **false masking** is the share of pixels away from every plate that changed.

    python scripts/evaluate_plates.py --model plates.onnx            # both clips, 30 frames each
    python scripts/evaluate_plates.py --model plates.onnx --frames 12 --clips street720
"""

from __future__ import annotations

import argparse
import json
import re
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from evaluate import CompositeClip, detail_kept, grey, same_size  # noqa: E402 - the face benchmark's scoring rule

from vidanon.media.probe import probe
from vidanon.media.reader import FrameReader  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval"
CLIPS = {
    "street720": dict(background="parking_no_people.mp4", size=(1280, 720), plates=6, widths=(18, 110)),
    "dash1080": dict(background="bottles_hand_no_face.mp4", size=(1920, 1080), plates=6, widths=(20, 140)),
}
WIDTH_BUCKETS = {"<32": (0, 32), "32-64": (32, 64), "64-128": (64, 128), ">=128": (128, 1e9)}
PLATE_ASPECT = 4.7  # an EU plate is 520 x 110 mm; US plates are 2:1 (some of each are drawn)
# The car that carries the plates: bikes_street.mp4's frame 140, the rear of the dark saloon on
# the left (x, y, width, height in that 640x272 frame), and its plate there, which ours covers.
CARRIER = dict(video="bikes_street.mp4", frame=140, car=(20, 90, 215, 115), plate=(67, 156, 39, 16))


# --------------------------------------------------------------------------- build
def plate_image(rng) -> np.ndarray:
    """An RGBA plate (about 520 x 110 or 300 x 150 px): border, background, 6-7 characters."""
    from PIL import Image, ImageDraw, ImageFont

    us = rng.random() < 0.3
    w, h = (300, 150) if us else (520, 110)
    colour = (250, 250, 245) if rng.random() < 0.7 else (245, 200, 30)
    img = Image.new("RGBA", (w, h), colour + (255,))
    draw = ImageDraw.Draw(img)
    draw.rectangle([2, 2, w - 3, h - 3], outline=(20, 20, 20, 255), width=max(3, h // 25))
    chars = string.ascii_uppercase + string.digits
    text = "".join(rng.choice(list(chars), 6 if us else 7))
    if not us:
        text = text[:3] + " " + text[3:]
    font = ImageFont.load_default(size=int(h * (0.55 if us else 0.75)))
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    if x1 - x0 > 0.9 * w:  # too wide for the plate: smaller
        font = ImageFont.load_default(size=int(font.size * 0.9 * w / (x1 - x0)))
        x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    draw.text(((w - (x1 - x0)) / 2 - x0, (h - (y1 - y0)) / 2 - y0), text, font=font, fill=(15, 15, 15, 255))
    return np.asarray(img)


def _perspective_coeffs(src: np.ndarray, dst: np.ndarray) -> list[float]:
    """PIL's PERSPECTIVE coefficients mapping output points ``dst`` to input points ``src``."""
    rows = []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return list(np.linalg.solve(np.asarray(rows, np.float64), src.reshape(8)))


def warp(plate: np.ndarray, width: int, rng) -> np.ndarray:
    """The plate ``width`` px wide seen at an angle: a random perspective (a yaw of up to
    about 35 degrees, a little pitch and roll), RGBA with a soft edge, antialiased."""
    from PIL import Image

    h0, w0 = plate.shape[:2]
    sup = 4  # warp at 4x the final size, then reduce (antialiasing)
    W = width * sup
    H = int(round(W * h0 / w0))
    yaw = rng.uniform(-0.3, 0.3)  # one side nearer: taller
    roll = rng.uniform(-0.06, 0.06)
    squeeze = 1.0 - abs(yaw) * 0.6
    left, right = H * (1 + yaw), H * (1 - yaw)
    cx, cy = W / 2, max(left, right) / 2
    corners = np.array([[cx - W * squeeze / 2, cy - left / 2], [cx + W * squeeze / 2, cy - right / 2],
                        [cx + W * squeeze / 2, cy + right / 2], [cx - W * squeeze / 2, cy + left / 2]])  # fmt: skip
    rot = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])
    corners = (corners - [cx, cy]) @ rot.T + [cx, cy]
    corners -= corners.min(axis=0)
    out_w, out_h = int(np.ceil(corners[:, 0].max())) + 1, int(np.ceil(corners[:, 1].max())) + 1
    src = np.array([[0, 0], [w0, 0], [w0, h0], [0, h0]], np.float64)
    big = Image.fromarray(plate).transform((out_w, out_h), Image.PERSPECTIVE, _perspective_coeffs(src, corners),
                                           Image.BILINEAR)  # fmt: skip
    small = big.resize((max(2, out_w // sup), max(2, out_h // sup)), Image.BOX)
    return np.asarray(small).astype(np.float32)


def load_carrier() -> np.ndarray:
    """The car that carries the plates (RGB uint8), its own plate painted over with the
    bumper's colour (the median of a ring around it), so that only ours is left."""
    info = probe(SHARED / "videos" / CARRIER["video"])
    reader = FrameReader(info)
    try:
        frame = next(f for t, f in enumerate(reader) if t == CARRIER["frame"])
    finally:
        reader.close()
    x, y, w, h = CARRIER["car"]
    car = np.array(frame[y : y + h, x : x + w, :3])
    px, py, pw, ph = CARRIER["plate"]
    px, py = px - x, py - y
    ring = np.concatenate([car[py - 4 : py - 1, px - 4 : px + pw + 4].reshape(-1, 3),
                           car[py + ph + 1 : py + ph + 4, px - 4 : px + pw + 4].reshape(-1, 3)])  # fmt: skip
    car[py - 1 : py + ph + 1, px - 2 : px + pw + 2] = np.median(ring, axis=0).astype(np.uint8)
    return car


def mount(plate: np.ndarray, car: np.ndarray, width: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The plate ``width`` px wide on the car (scaled to fit it): RGBA float, and the plate's
    box ``(y0, x0, y1, x1)`` in it."""
    from PIL import Image

    px, py, pw, ph = CARRIER["plate"]
    cx, cy = px - CARRIER["car"][0] + pw / 2, py - CARRIER["car"][1] + ph / 2
    s = width / pw
    body = Image.fromarray(car).resize((max(2, round(car.shape[1] * s)), max(2, round(car.shape[0] * s))),
                                       Image.BICUBIC)  # fmt: skip
    h = max(2, round(width * plate.shape[0] / plate.shape[1]))
    small = Image.fromarray(plate).resize((width, h), Image.LANCZOS)
    x0, y0 = round(cx * s - width / 2), round(cy * s - h / 2)
    body.paste(small, (x0, y0), small)
    rgba = np.dstack([np.asarray(body, np.float32), np.full(body.size[::-1], 255.0, np.float32)])
    return rgba, (y0, x0, y0 + h, x0 + width)


def plan_plates(rng, n: int, frames: int, width: int, height: int, widths: tuple[int, int]) -> list[dict]:
    plans = []
    for k in range(n):
        start = int(rng.integers(0, max(1, frames // 3)))
        length = max(frames // 2, frames - start - int(rng.integers(0, frames // 4 + 1)))
        w0, w1 = rng.uniform(*widths, 2)
        y0, y1 = rng.uniform(0.35, 0.9, 2) * height  # plates sit low in a street scene
        side = k % 3  # enter from the left, the right, or start inside
        x_start = [-w0 * 0.4, width + w0 * 0.4, rng.uniform(0.15, 0.85) * width][side]
        x_end = rng.uniform(0.1, 0.9) * width
        events = {}
        for t in rng.choice(frames, size=frames // 8, replace=False):
            events[int(t)] = "blur" if rng.random() < 0.7 else "dim"
        plans.append(dict(start=start, length=length, w0=w0, w1=w1, p0=(x_start, y0), p1=(x_end, y1),
                          events=events))  # fmt: skip
    return plans


def build(name: str, out_dir: Path, frames: int, seed: int, bare: bool = False) -> tuple[Path, Path]:
    spec = CLIPS[name]
    rng = np.random.default_rng(seed)
    width, height = spec["size"]
    plans = plan_plates(rng, spec["plates"], frames, width, height, spec["widths"])
    plates = [plate_image(rng) for _ in plans]
    warps = [rng.integers(0, 2**31) for _ in plans]
    car = None if bare else load_carrier()
    clip = CompositeClip(SHARED / "videos" / spec["background"], frames, width, height,
                         out_dir / f"plates_{name}{'_bare' if bare else ''}.mp4")  # fmt: skip
    for t, frame in clip:
        owner = np.full((height, width), -1, np.int32)  # whose plate or car is in front at each pixel
        placed = []
        for k, plan in enumerate(plans):
            i = t - plan["start"]
            if not 0 <= i < plan["length"]:
                continue
            u = i / max(plan["length"] - 1, 1)
            pw = int(round(plan["w0"] + (plan["w1"] - plan["w0"]) * u))
            cx = plan["p0"][0] + (plan["p1"][0] - plan["p0"][0]) * u
            cy = plan["p0"][1] + (plan["p1"][1] - plan["p0"][1]) * u
            if bare:  # the same angle for the whole trajectory (its own generator), the size following it
                patch = warp(plates[k], pw, np.random.default_rng(warps[k]))
                inner = (0, 0, patch.shape[0], patch.shape[1])
            else:
                patch, inner = mount(plates[k], car, pw)
            rgb, alpha = patch[..., :3], patch[..., 3:] / 255.0
            event = plan["events"].get(t)
            if event == "blur":  # horizontal motion blur over a quarter of the plate's width
                n = max(3, (inner[3] - inner[1]) // 4)
                kernel = np.ones(n) / n
                blur = lambda a: np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), 1, a)  # noqa: E731
                rgb = np.stack([blur(rgb[..., c]) for c in range(3)], axis=-1)
                alpha = blur(alpha[..., 0])[..., None]
            elif event == "dim":
                rgb = rgb * 0.45
            # the plate's centre at (cx, cy)
            y0 = int(round(cy - (inner[0] + inner[2]) / 2))
            x0 = int(round(cx - (inner[1] + inner[3]) / 2))
            ph, pw_ = rgb.shape[:2]
            ya, xa, yb, xb = max(0, y0), max(0, x0), min(height, y0 + ph), min(width, x0 + pw_)
            if yb - ya < 3 or xb - xa < 3:
                continue
            a = alpha[ya - y0 : yb - y0, xa - x0 : xb - x0]
            frame[ya:yb, xa:xb] = frame[ya:yb, xa:xb] * (1 - a) + rgb[ya - y0 : yb - y0, xa - x0 : xb - x0] * a
            owner[ya:yb, xa:xb][a[..., 0] > 0.5] = k
            box = [y0 + inner[0], x0 + inner[1], y0 + inner[2], x0 + inner[3]]
            placed.append((k, box, event))
        boxes = []
        for k, box, event in placed:  # visible: the share of the plate's box that is in the frame, in front
            area = (box[2] - box[0]) * (box[3] - box[1])
            ya, xa, yb, xb = max(0, box[0]), max(0, box[1]), min(height, box[2]), min(width, box[3])
            seen = int((owner[ya:yb, xa:xb] == k).sum()) if yb > ya and xb > xa else 0
            boxes.append(dict(plate=k, box=box, width=box[3] - box[1], visible=round(seen / area, 3),
                              event=event))  # fmt: skip
        clip.add(frame, boxes)
    return clip.finish(out_dir / f"plates_{name}{'_bare' if bare else ''}.json")


# --------------------------------------------------------------------------- score
def width_bucket(width: float) -> str:
    return next(name for name, (lo, hi) in WIDTH_BUCKETS.items() if lo <= width < hi)


def score(gt_path: Path, input_video: Path, output_video: Path, threshold: float = 0.5) -> dict:
    gt = json.loads(Path(gt_path).read_text())
    h, w = gt["height"], gt["width"]
    leaks: dict[int, list[int]] = {}
    plate_frames = hidden = changed = background = 0
    by_width = {name: [0, 0] for name in WIDTH_BUCKETS}
    for t, (fin, fout) in enumerate(zip(FrameReader(probe(input_video)), FrameReader(probe(output_video)))):
        gin, gout = grey(fin), same_size(grey(fout), h, w)
        away = np.ones((h, w), bool)
        for plate in gt["frames"][t] if t < len(gt["frames"]) else []:
            y0, x0, y1, x1 = plate["box"]
            cy, cx, hh, hw = (y0 + y1) / 2, (x0 + x1) / 2, (y1 - y0) * 0.9, (x1 - x0) * 0.9
            away[max(0, int(cy - hh)) : int(cy + hh) + 1, max(0, int(cx - hw)) : int(cx + hw) + 1] = False
            ya, xa, yb, xb = max(0, y0), max(0, x0), min(h, y1), min(w, x1)
            if plate["visible"] < 0.5 or yb - ya < 4 or xb - xa < 8:
                continue  # mostly outside the frame: not scored
            plate_frames += 1
            bucket = by_width[width_bucket(plate["width"])]
            bucket[0] += 1
            if detail_kept(gin[ya:yb, xa:xb], gout[ya:yb, xa:xb]) < threshold:
                hidden += 1
                bucket[1] += 1
            else:
                leaks.setdefault(plate["plate"], []).append(t)
        changed += int(((np.abs(gin - gout) > 20) & away).sum())
        background += int(away.sum())
    longest = 0
    for frames in leaks.values():
        run = best = 1
        for a, b in zip(frames, frames[1:]):
            run = run + 1 if b == a + 1 else 1
            best = max(best, run)
        longest = max(longest, best)
    return {"plate_frames": plate_frames, "hidden": hidden, "recall": hidden / plate_frames if plate_frames else 1.0,
            "longest_leak_run": longest, "by_width": by_width,
            "non_plate_masked_share": changed / background if background else 0.0}  # fmt: skip


def run_vidanon(video: Path, out: Path, *extra: str) -> float:
    """Run the command line; the frames per second of the whole run (model loads included),
    from its summary line."""
    cmd = [sys.executable, "-m", "vidanon", str(video), str(out), "-y", *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"vidanon failed on {video}: {proc.stderr.strip()}")
    found = re.search(r": (\d+) frames .*, ([\d.]+) s \(", proc.stdout)
    return int(found.group(1)) / float(found.group(2)) if found else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="the plate model (.onnx, or an open-image-models name)")
    ap.add_argument("--clips", nargs="+", default=list(CLIPS), choices=list(CLIPS))
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work", type=Path, default=None, help="keep the clips and outputs here")
    ap.add_argument("--faces-only", action="store_true", help="also time --target faces on the same clips")
    ap.add_argument("--no-track", action="store_true", help="also score the detector alone (--no-track)")
    ap.add_argument("--bare", action="store_true", help="plates alone on the background, warped, no car around them")
    ap.add_argument("extra", nargs="*", help="more vidanon options, after --")
    args = ap.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} is missing")
    work = args.work or Path(tempfile.mkdtemp(prefix="vidanon_plates_"))
    work.mkdir(parents=True, exist_ok=True)
    for name in args.clips:
        started = time.perf_counter()
        video, gt = build(name, work, args.frames, args.seed, args.bare)
        built = time.perf_counter() - started
        runs = [("tracked", [])] + ([("no-track", ["--no-track"])] if args.no_track else [])
        for label, flags in runs:
            out = work / f"{video.stem}_{label}.mp4"
            fps = run_vidanon(video, out, "--target", "faces,plates", "--plates-model", args.model, *flags,
                              *args.extra)  # fmt: skip
            s = score(gt, video, out)
            sizes = ", ".join(f"{k} px {v[1]}/{v[0]}" for k, v in s["by_width"].items() if v[0])
            print(f"{name} ({label}): plate recall {s['recall']:.1%} ({s['hidden']}/{s['plate_frames']} plate-frames;"
                  f" {sizes}), longest leak {s['longest_leak_run']} frames, non-plate pixels changed "
                  f"{s['non_plate_masked_share']:.2%}, {fps:.3f} frames/s with faces and plates (clip built in "
                  f"{built:.0f} s)", flush=True)  # fmt: skip
        if args.faces_only:
            fps = run_vidanon(video, work / f"plates_{name}_faces.mp4", "--target", "faces", *args.extra)
            print(f"{name}: {fps:.3f} frames/s with faces only", flush=True)
    print(f"clips and outputs in {work}")


if __name__ == "__main__":
    main()
