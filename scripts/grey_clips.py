"""Footage without colour (an infrared camera at night, a black-and-white film): the composited
clips of ``evaluate.py`` and the hand-labelled real clips made grey, anonymized and scored.

Each clip is made grey by the bundled ffmpeg (``hue=s=0``, x264 at CRF 12), run through vidanon
with the given arguments (and deface with ``--deface``), and scored as ``evaluate.py`` scores
it: face-frames hidden on the composited clips (seed 7, built in ``--work`` if not there), and
with ``--real`` false regions a frame and labelled heads covered on the real clips. E.g.::

    python scripts/grey_clips.py --work /tmp/grey --real
    python scripts/grey_clips.py --work /tmp/grey --deface /tmp/deface/bin/deface
    python scripts/grey_clips.py --work /tmp/grey --label float -- --model float
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from evaluate import DEFAULT_CLIPS, SHARED, score, synthetic  # noqa: E402
from real_clips import HEADS, aligned_clip, readable_clip, real_precision, run_vidanon, steady_clip  # noqa: E402

from vidanon.media.ffmpeg import ffmpeg_exe  # noqa: E402


def made_grey(clip: Path, work: Path) -> Path:
    out = work / f"grey_{clip.stem}.mp4"
    if not out.exists():
        part = out.with_name(f".part_{out.name}")  # renamed once complete: an interrupted run leaves no clip
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-map", "0:v:0", "-vf", "hue=s=0",
                        "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", str(part)], check=True)  # fmt: skip
        part.replace(out)
    return out


def anonymized(clip: Path, label: str, deface: str | None, extra: list[str]) -> Path:
    out = clip.with_name(f"{clip.stem}_{label}.mp4")
    if out.exists():  # a run of the same label before, kept
        return out
    part = out.with_name(f".part_{out.name}")
    if label == "deface":
        subprocess.run([deface, str(clip), "-o", str(part)], check=True, capture_output=True)
    else:
        run_vidanon(clip, part, *extra)
    part.replace(out)
    return out


def composited(work: Path, runs: list[tuple[str, list[str]]], deface: str | None) -> None:
    totals: dict[str, list[int]] = {}
    for name in DEFAULT_CLIPS:
        video, gt = synthetic(name, work, 120, 7)
        grey = made_grey(video, work)
        for label, extra in runs:
            tally(totals, f"grey {name:10s}", label, score(gt, grey, anonymized(grey, label, deface, extra)), "frames")
    print_totals(totals, "GREY composited", "frames")


def tally(totals: dict[str, list[int]], where: str, label: str, r: dict, unit: str) -> None:
    """One composited clip's score ``r`` (``evaluate.score``) printed and added to ``totals``."""
    t = totals.setdefault(label, [0, 0, 0])
    t[0], t[1], t[2] = t[0] + r["hidden"], t[1] + r["face_frames"], max(t[2], r["longest_leak_run"])
    print(f"{where} {label:10s} hidden {r['hidden']}/{r['face_frames']} = "
          f"{r['hidden_share'] * 100:.2f}%  longest leak {r['longest_leak_run']} {unit}", flush=True)


def print_totals(totals: dict[str, list[int]], title: str, unit: str) -> None:
    for label, (hidden, faces, longest) in totals.items():
        print(f"{title} {label:10s} hidden {hidden}/{faces} = {hidden / max(faces, 1) * 100:.2f}%  "
              f"longest leak {longest} {unit}")


def real(work: Path, runs: list[tuple[str, list[str]]], deface: str | None) -> None:
    heads = json.loads(HEADS.read_text())["clips"]
    totals: dict[str, list[int]] = {}
    for name in heads:
        clip, frames = aligned_clip(steady_clip(readable_clip(SHARED / "videos" / name, work), work), heads[name], work)
        grey = made_grey(clip, work)
        cells = []
        for label, extra in runs:
            r = real_precision(grey, anonymized(grey, label, deface, extra), frames)
            t = totals.setdefault(label, [0, 0, 0, 0])
            for k, key in enumerate(("frames", "false_regions", "heads_covered", "heads")):
                t[k] += r[key]
            cells.append(f"{label} {r['false_per_frame']:.2f} {r['heads_covered']}/{r['heads']}")
        print(f"grey {Path(name).stem:24s} " + "  ".join(cells), flush=True)
    for label, (frames, false, covered, total) in totals.items():
        print(f"GREY real {label:10s} false regions {false} = {false / max(frames, 1):.3f} a frame  "
              f"heads covered {covered}/{total}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", required=True, type=Path,
                   help="folder for the clips and outputs (kept: an output already there is scored, not remade)")
    p.add_argument("--label", default="default", help="name of vidanon's run (its outputs' suffix)")
    p.add_argument("--deface", metavar="EXE", help="also run and score this deface executable")
    p.add_argument("--real", action="store_true", help="also the hand-labelled real clips")
    p.add_argument("vidanon_args", nargs="*", help="arguments for vidanon (after --)")
    args = p.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} not found: the clips are in ../shared/eval beside the project")
    args.work.mkdir(parents=True, exist_ok=True)
    runs = [(args.label, args.vidanon_args)] + ([("deface", [])] if args.deface else [])
    composited(args.work, runs, args.deface)
    if args.real:
        real(args.work, runs, args.deface)


if __name__ == "__main__":
    main()
