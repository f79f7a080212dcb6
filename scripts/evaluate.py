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

from real_clips import grey, no_face_report, real_report, run_vidanon, same_size  # noqa: E402

from vidanon.batch import CONTEXT, split_frames  # noqa: E402
from vidanon.evaluation import load_stills  # noqa: E402
from vidanon.media.probe import probe
from vidanon.media.reader import FrameReader  # noqa: E402
from vidanon.media.writer import VideoWriter
from vidanon.render.masks import ellipse_template  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval"


# --------------------------------------------------------------------------- build
def load_faces(turn: int = 0) -> list[np.ndarray]:
    """The labelled faces of the stills, each cropped 1.2x around its box (turned ``turn``
    quarter turns counterclockwise: faces lying sideways or upside down)."""
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
                faces.append(np.ascontiguousarray(np.rot90(pixels[a:b, c:d], turn)))
    return faces


def resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    import tensorflow as tf

    return tf.image.resize(img.astype(np.float32), (h, w), method="bilinear", antialias=True).numpy()


class CompositeClip:
    """A clip made by drawing on a background video: iterating gives the frame numbers and
    the first ``frames`` frames of ``background`` (float32, resized to ``width`` x
    ``height``) to draw on; :meth:`add` writes each drawn frame (x264, CRF 12) with its
    ground-truth labels, and :meth:`finish` writes the labels beside the video as JSON."""

    def __init__(self, background: Path, frames: int, width: int, height: int, video: Path) -> None:
        self.info = probe(background)
        self.frames, self.width, self.height, self.video = frames, width, height, video
        self.writer = VideoWriter(video, width, height, self.info.fps, "mp4", crf=12, preset="veryfast")
        self.truth: list = []

    def __iter__(self):
        reader = FrameReader(self.info)
        try:
            for t, bg in enumerate(reader):
                if t >= self.frames:
                    break
                if (self.width, self.height) != (self.info.width, self.info.height):
                    yield t, resize(bg, self.height, self.width)
                else:
                    yield t, bg.astype(np.float32)
        finally:
            reader.close()

    def add(self, frame: np.ndarray, labels: list) -> None:
        self.writer.write(np.clip(np.round(frame), 0, 255).astype(np.uint8))
        self.truth.append(labels)

    def finish(self, gt: Path) -> tuple[Path, Path]:
        self.writer.close()
        gt.write_text(json.dumps({"video": self.video.name, "width": self.width, "height": self.height,
                                  "frames": self.truth}))  # fmt: skip
        return self.video, gt


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


def plan_crowd(rng, n_faces, frames, width, height, face_px):
    """A crowd seen from afar: ``n_faces`` faces of ``face_px`` = (smallest, largest) face-box
    height, walking across the frame (a third of them entering at the left or right edge,
    some crossing each other), each with a few frames of motion blur, dimming or a hat."""
    lo, hi = face_px
    plans = []
    for k in range(n_faces):
        size = float(rng.uniform(lo, hi)) * 1.2  # the crop is 1.2x the labelled face box
        s0, s1 = size, size * float(rng.uniform(0.85, 1.15))  # walking a little towards or away
        y = float(rng.uniform(0.25, 0.8)) * height
        speed = float(rng.uniform(0.3, 1.2)) * size / 12  # px per frame: slow strollers to runners
        if k % 3 == 0:  # enters at an edge
            start = int(rng.integers(0, max(1, frames // 2)))
            x0 = -size * 0.4 if k % 2 else width + size * 0.4
        else:
            start = 0 if k % 3 == 1 else int(rng.integers(0, max(1, frames // 3)))
            x0 = float(rng.uniform(0.1, 0.9)) * width
        length = frames - start
        direction = 1.0 if x0 < width / 2 else -1.0
        x1 = x0 + direction * speed * length
        y1 = y + float(rng.uniform(-0.05, 0.05)) * height
        events = {}
        for _ in range(3):
            f = start + int(rng.integers(0, max(1, length)))
            events[f] = str(rng.choice(["blur", "dim", "occlude"]))
        plans.append(dict(start=start, length=length, s0=s0, s1=s1, p0=(x0, y), p1=(x1, y1), events=events))
    return plans


# Synthetic clips: background clip, frames kept from it, output size (None: the clip's own),
# faces, and how the faces move (``plan_trajectories`` or ``plan_crowd``'s face sizes).
CLIPS = {
    "parking": dict(background="parking_no_people.mp4", size=None, faces=6, crowd=None, frames=None),
    "bottles": dict(background="bottles_hand_no_face.mp4", size=None, faces=6, crowd=None, frames=None),
    "crowd1080": dict(background="parking_no_people.mp4", size=(1920, 1080), faces=24, crowd=(18, 48), frames=None),
    "crowd2160": dict(background="bottles_hand_no_face.mp4", size=(3840, 2160), faces=24, crowd=(36, 96),
                      frames=60),
}
DEFAULT_CLIPS = ["parking", "bottles", "crowd1080", "crowd2160"]


def build(name: str, out_dir: Path, frames: int, seed: int, turn: int = 0) -> tuple[Path, Path]:
    spec = CLIPS[name]
    background = SHARED / "videos" / spec["background"]
    frames = min(frames, spec["frames"] or frames)
    rng = np.random.default_rng(seed)
    faces = load_faces(turn)
    info = probe(background)
    width, height = spec["size"] or (info.width, info.height)
    n_faces = spec["faces"]
    template = ellipse_template(64, 0.3)
    if spec["crowd"]:
        plans = plan_crowd(rng, n_faces, frames, width, height, spec["crowd"])
        post = dict(x0=-0.05 * width, x1=1.05 * width, w=max(4, int(0.012 * width)))  # a post passing in front
    else:
        plans = plan_trajectories(rng, n_faces, frames, width, height)
        post = None
    chosen = rng.choice(len(faces), n_faces, replace=n_faces > len(faces))
    clip = CompositeClip(background, frames, width, height, out_dir / f"synthetic_{name}.mp4")
    for t, frame in clip:
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
            yb, xb = min(height, y0 + fh), min(width, x0 + fw)
            if yb - ya < 4 or xb - xa < 4:
                continue
            pa = patch[ya - y0 : yb - y0, xa - x0 : xb - x0]
            al = alpha[ya - y0 : yb - y0, xa - x0 : xb - x0]
            frame[ya:yb, xa:xb] = frame[ya:yb, xa:xb] * (1 - al) + pa * al
            footprints.append((ya, xa, yb, xb, al[..., 0], float(alpha.sum())))
            # the labelled face itself is the inner part of the crop (crop = 1.2x face box)
            inner = [cy - fh / 2.4, cx - fw / 2.4, cy + fh / 2.4, cx + fw / 2.4]
            boxes.append(dict(face=k, box=[round(v, 1) for v in inner], event=event))
        # Visible share of each face: inside the frame and not covered by faces drawn later
        # or by the post.
        cover = np.zeros((height, width), np.float32)
        if post is not None:
            px = int(post["x0"] + (post["x1"] - post["x0"]) * t / max(frames - 1, 1))
            a, b = max(0, px), min(width, px + post["w"])
            if b > a:
                frame[:, a:b] = (90.0, 80.0, 70.0)
                cover[:, a:b] = 1.0
        for box, (ya, xa, yb, xb, al, full) in reversed(list(zip(boxes, footprints))):
            box["visible"] = round(float((al * (1 - cover[ya:yb, xa:xb])).sum() / full), 3)
            cover[ya:yb, xa:xb] = np.maximum(cover[ya:yb, xa:xb], al)
        clip.add(frame, boxes)
    return clip.finish(out_dir / f"synthetic_{name}.json")


# --------------------------------------------------------------------------- score
def synthetic(name: str, folder: Path, frames: int, seed: int, turn: int = 0) -> tuple[Path, Path]:
    """The composited clip ``name`` of ``seed`` (each clip its own seed from it) in ``folder``: built once."""
    video, gt = folder / f"synthetic_{name}.mp4", folder / f"synthetic_{name}.json"
    done = video.exists() and gt.exists()
    return (video, gt) if done else build(name, folder, frames, seed + list(CLIPS).index(name), turn)


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


SIZE_BUCKETS = {"<24": (0, 24), "24-48": (24, 48), "48-96": (48, 96), ">96": (96, 1e9)}


def size_bucket(face_height: float) -> str:
    """The bucket of a face by the height of its labelled box, in pixels of the frame."""
    return next(name for name, (lo, hi) in SIZE_BUCKETS.items() if lo <= face_height < hi)


def head_target(y0: float, x0: float, y1: float, x1: float, h: int, w: int) -> tuple[int, int, int, int]:
    """The pixels of a whole head around a labelled face box (issue 19's measure): the box
    widened 1.3x and raised by half its height (hair, ears)."""
    fh, fw = y1 - y0, x1 - x0
    return (int(max(0, y0 - 0.5 * fh)), int(max(0, x0 - 0.15 * fw)), int(min(h, y1)), int(min(w, x1 + 0.15 * fw)))


def score(gt_path: Path, input_video: Path, output_video: Path, threshold: float = 0.5,
          tracks: Path | None = None, mask_scale: float = 1.45) -> dict:  # fmt: skip
    """Leaks, recall by face size and non-face masking of ``output_video``; with the run's
    ``tracks`` file (``--save-tracks``), also how much of each face's head its mask covers."""
    gt = json.loads(Path(gt_path).read_text())
    h, w = gt["height"], gt["width"]
    masks = None
    if tracks is not None:
        from vidanon.render.masks import alpha_map
        from vidanon.track.replay import load_tracks

        masks = load_tracks(str(tracks))
    head_cover: list[float] = []
    leaks: dict[int, list[int]] = {}
    face_frames = hidden = 0
    by_size = {name: [0, 0] for name in SIZE_BUCKETS}  # face-frames, hidden
    changed = background = 0
    n_out = 0
    for t, (fin, fout) in enumerate(zip(FrameReader(probe(input_video)), FrameReader(probe(output_video)))):
        n_out += 1
        gin, gout = grey(fin), grey(fout)
        gout = same_size(gout, h, w)
        away = np.ones((h, w), bool)
        frame_alpha = None
        for face in gt["frames"][t] if t < len(gt["frames"]) else []:
            y0, x0, y1, x1 = face["box"]
            # away from the faces = outside each face's head: its box widened 1.6x, from 0.6
            # box-heights above it to 0.3 below (in a real video the hair and ears are there)
            cx, fh, hw = (x0 + x1) / 2, y1 - y0, (x1 - x0) * 0.8
            away[max(0, int(y0 - 0.6 * fh)) : int(y1 + 0.3 * fh) + 1, max(0, int(cx - hw)) : int(cx + hw) + 1] = False
            ya, xa, yb, xb = max(0, int(y0)), max(0, int(x0)), min(h, int(y1)), min(w, int(x1))
            if face["visible"] < 0.3 or yb - ya < 6 or xb - xa < 6:
                continue  # mostly outside the frame: not scored
            face_frames += 1
            bucket = by_size[size_bucket(y1 - y0)]
            bucket[0] += 1
            if masks is not None and face["visible"] >= 0.9 and t < len(masks):
                if frame_alpha is None:
                    frame_alpha = alpha_map(masks[t], h, w, mask_scale)
                ha, xa2, hb, xb2 = head_target(y0, x0, y1, x1, h, w)
                head_cover.append(float((frame_alpha[ha:hb, xa2:xb2] >= 0.5).mean()))
            inside = face_ellipse(y0, x0, y1, x1, ya, xa, yb, xb)
            s = detail_kept(gin[ya:yb, xa:xb], gout[ya:yb, xa:xb], inside)
            if s < threshold:
                hidden += 1
                bucket[1] += 1
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
        "by_size": by_size,
        "non_face_masked_share": changed / background if background else 0.0,
        "non_face_pixels": background,
        "non_face_masked": changed,
        "head_cover": head_cover,
    }


def _head_line(covers: list[float]) -> str:
    c = np.asarray(covers)
    return (f"whole head (face box widened 1.3x, raised by half its height) under the mask: median "
            f"{np.median(c) * 100:.1f}% of its pixels, >= 90% in {(c >= 0.9).mean() * 100:.1f}% of face-frames")


def _size_line(by_size: dict) -> str:
    return "  ".join(f"{name} {h}/{n}" + (f" {h / n * 100:.1f}%" if n else "") for name, (n, h) in by_size.items() if n)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd")
    s = sub.add_parser("score", help="score an existing output against ground truth")
    s.add_argument("gt")
    s.add_argument("input")
    s.add_argument("output")
    p.add_argument("--frames", type=int, default=120, help="frames per synthetic clip (default 120; crowd2160: 60)")
    p.add_argument("--clips", nargs="+", default=DEFAULT_CLIPS, choices=list(CLIPS),
                   help=f"synthetic clips to build (default: {' '.join(DEFAULT_CLIPS)})")
    p.add_argument("--seed", type=int, nargs="+", default=[7],
                   help="seed of the faces' choice and paths; several seeds build several benchmarks, "
                        "reported together (default 7)")  # fmt: skip
    p.add_argument("--detail", type=float, default=0.5,
                   help="share of facial detail kept under which a face counts as hidden (default 0.5)")
    p.add_argument("--turn", type=int, default=0, choices=range(4), help="composite every face turned this many "
                   "quarter turns counterclockwise (faces lying down, for --turned-faces; its own --work; the "
                   "whole-head figure then means nothing: it assumes the hair above the face)")
    p.add_argument("--work", default=None, help="folder for the synthetic clips (default: a temporary one)")
    p.add_argument("--run", action="append", default=[], metavar="LABEL=ARGS",
                   help="also run vidanon with these arguments, e.g. --run 'fast=--detect-size 960' (repeatable)")
    p.add_argument("--no-baseline", action="store_true", help="skip the --no-track run")
    p.add_argument("--segments", type=int, default=0, metavar="K",
                   help="also run vidanon --segments K and count the leaks next to the seams")
    p.add_argument("--deface", default=None, metavar="EXE",
                   help="also run and score this deface executable (e.g. from scripts/bench.py's venv)")
    p.add_argument("--no-face-clips", action="store_true", help="also count masks on the real clips without faces")
    p.add_argument("--real", action="store_true",
                   help="also measure precision on the hand-labelled real clips (see scripts/real_clips.py)")
    p.add_argument("--real-only", action="store_true", help="only the real clips' precision")
    p.add_argument("--real-clips", nargs="+", metavar="CLIP", help="--real: only these clips (names or stems)")
    p.add_argument("--reuse", action="store_true", help="--real: keep the outputs already in --work (deface's)")
    args = p.parse_args()
    if args.cmd == "score":
        print(json.dumps(score(Path(args.gt), Path(args.input), Path(args.output), args.detail), indent=1))
        return
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} not found: the evaluation needs ../shared/eval beside the project")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="vidanon-eval-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    labels = [("default", ())]
    if not args.no_baseline:
        labels.append(("--no-track", ("--no-track",)))
    for item in args.run:
        label, _, extra = item.partition("=")
        labels.append((label, tuple(extra.split())))
    if args.deface:
        labels.append(("deface", ()))
    if args.segments > 1:
        labels.append((f"segments-{args.segments}", ("--segments", str(args.segments))))
    clips = [] if args.real_only else args.clips
    for seed, name in ((seed, name) for seed in args.seed for name in clips):
        folder = work if len(args.seed) == 1 else work / f"seed{seed}"
        folder.mkdir(exist_ok=True)
        video, gt = synthetic(name, folder, args.frames, seed, args.turn)
        frames = len(json.loads(gt.read_text())["frames"])
        shown = name if len(args.seed) == 1 else f"{name} seed {seed}"
        for label, extra in labels:
            out = folder / f"{video.stem}_{label.strip('-').replace('-', '_').replace(' ', '_')}.mp4"
            tracks = None
            if label == "deface":
                subprocess.run([args.deface, str(video), "-o", str(out)], check=True, capture_output=True)
            elif label.startswith("segments"):
                run_vidanon(video, out, *extra)
            else:
                tracks = out.with_suffix(".tracks.json")
                run_vidanon(video, out, "--save-tracks", str(tracks), *extra)
            scale = float(extra[extra.index("--mask-scale") + 1]) if "--mask-scale" in extra else 1.45
            r = score(gt, video, out, args.detail, tracks, scale)
            rows.append((name, label, r))
            print(f"{shown:18s} {label:11s} face-frames {r['face_frames']:5d}  hidden {r['hidden_share']*100:6.2f}%  "
                  f"leaked {r['leaked']:3d}  longest leak {r['longest_leak_run']} frames  "
                  f"non-face masked {r['non_face_masked_share']*100:.3f}%", flush=True)  # fmt: skip
            print(f"{'':18s} {'':11s} by face height: {_size_line(r['by_size'])}", flush=True)
            if r["head_cover"]:
                print(f"{'':18s} {'':11s} {_head_line(r['head_cover'])}", flush=True)
            if label.startswith("segments"):
                seams = [a for a, _ in split_frames(frames, args.segments)[1:]]
                near = [t for t in r["leak_frames"] if any(abs(t - s) <= CONTEXT for s in seams)]
                print(f"{'':18s} {'':11s} frames {r['frames']}/{frames}; seams at {seams}; leaked frames "
                      f"within {CONTEXT} frames of a seam: {len(near)} {near}", flush=True)  # fmt: skip
    for label, _ in labels if rows else ():
        mine = [r for _, lab, r in rows if lab == label]
        tot_ff = sum(r["face_frames"] for r in mine)
        tot_h = sum(r["hidden"] for r in mine)
        longest = max(r["longest_leak_run"] for r in mine)
        masked = sum(r["non_face_masked"] for r in mine)
        away = sum(r["non_face_pixels"] for r in mine)
        worst = max(r["non_face_masked_share"] for r in mine)
        by_size = {k: [sum(r["by_size"][k][0] for r in mine), sum(r["by_size"][k][1] for r in mine)]
                   for k in SIZE_BUCKETS}  # fmt: skip
        print(f"TOTAL {label:11s} hidden {tot_h}/{tot_ff} = {tot_h / max(tot_ff, 1) * 100:.2f}%  "
              f"longest leak {longest} frames  non-face masked {masked / max(away, 1) * 100:.3f}% "
              f"(worst clip {worst * 100:.3f}%)")
        print(f"      {'':11s} by face height: {_size_line(by_size)}")
        covers = [c for r in mine for c in r["head_cover"]]
        if covers:
            print(f"      {'':11s} {_head_line(covers)}")
    if args.real or args.real_only:
        real_report(labels, work, args.deface, args.real_clips, args.reuse)
    if args.no_face_clips:
        no_face_report(SHARED / "videos", work)
    print(f"(clips and outputs in {work})")


if __name__ == "__main__":
    main()
