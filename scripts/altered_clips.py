"""Footage in a light the test clips lack: the composited clips of ``evaluate.py`` and the
hand-labelled real clips altered, anonymized and scored. ``--look``:

* ``grey``: without colour (an infrared camera at night, a black-and-white film), ``hue=s=0``;
* ``dark``: 3 stops darker (each RGB sample x0.39, about 1/8 of the light through the camera's
  gamma), an underexposed clip;
* ``night``: 3 stops darker with a camera's noise at night (ffmpeg's ``noise``, strength 8,
  changing from frame to frame).

Each clip is altered by the bundled ffmpeg (x264 at CRF 12), run through vidanon with the given
arguments (and deface with ``--deface``), and scored as ``evaluate.py`` scores it: face-frames
hidden on the composited clips (seed 7, built in ``--work`` if not there), and with ``--real``
false regions a frame and labelled heads covered on the real clips, beside a plain re-encode's
(``identity``, the measure's noise). E.g.::

    python scripts/altered_clips.py --work /tmp/grey --real
    python scripts/altered_clips.py --work /tmp/dark --look dark --deface /tmp/deface/bin/deface
    python scripts/altered_clips.py --work /tmp/grey --label float -- --model float
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
from real_clips import (  # noqa: E402
    HEADS,
    aligned_clip,
    readable_clip,
    real_precision,
    reencoded,
    run_deface,
    run_vidanon,
    steady_clip,
)

from vidanon.media.ffmpeg import ffmpeg_exe  # noqa: E402

DARKER = 0.39
DARK = f"lutrgb=r=val*{DARKER}:g=val*{DARKER}:b=val*{DARKER}"
LOOKS = {"grey": "hue=s=0", "dark": DARK, "night": DARK + ",noise=alls=8:allf=t"}
# the real clips are scored brightened back (the scores' thresholds are in grey levels)
SCORE_GAIN = {"grey": 1.0, "dark": 1 / DARKER, "night": 1 / DARKER}


def altered(clip: Path, work: Path, look: str = "grey") -> Path:
    """``clip`` as ``look`` (LOOKS) shows it, made once in ``work``."""
    out = work / f"{look}_{clip.stem}.mp4"
    if not out.exists():
        part = out.with_name(f".part_{out.name}")  # renamed once complete: an interrupted run leaves no clip
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-map", "0:v:0", "-vf", LOOKS[look],
                        "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", str(part)], check=True)  # fmt: skip
        part.replace(out)
    return out


def anonymized(clip: Path, label: str, deface: str | None, extra: list[str]) -> Path:
    out = clip.with_name(f"{clip.stem}_{label}.mp4")
    if out.exists():  # a run of the same label before, kept
        return out
    part = out.with_name(f".part_{out.name}")
    if label == "identity":  # the measure's noise floor: a plain re-encode at vidanon's quality
        reencoded(clip, part, 18)
    elif label == "deface":
        run_deface(deface, clip, part)
    else:
        run_vidanon(clip, part, *extra)
    part.replace(out)
    return out


def composited(work: Path, runs: list[tuple[str, list[str]]], deface: str | None, look: str) -> None:
    totals: dict[str, list[int]] = {}
    for name in DEFAULT_CLIPS:
        video, gt = synthetic(name, work, 120, 7)
        clip = altered(video, work, look)
        for label, extra in runs:
            tally(totals, f"{look} {name:10s}", label, score(gt, clip, anonymized(clip, label, deface, extra)), "frames")
    print_totals(totals, f"{look.upper()} composited", "frames")


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


def real(work: Path, runs: list[tuple[str, list[str]]], deface: str | None, look: str) -> None:
    heads = json.loads(HEADS.read_text())["clips"]
    totals: dict[str, list[int]] = {}
    for name in heads:
        clip, frames = aligned_clip(steady_clip(readable_clip(SHARED / "videos" / name, work), work), heads[name], work)
        clip = altered(clip, work, look)
        cells = []
        for label, extra in [("identity", [])] + runs:
            r = real_precision(clip, anonymized(clip, label, deface, extra), frames, SCORE_GAIN[look])
            t = totals.setdefault(label, [0, 0, 0, 0])
            for k, key in enumerate(("frames", "false_regions", "heads_covered", "heads")):
                t[k] += r[key]
            cells.append(f"{label} {r['false_per_frame']:.2f} {r['heads_covered']}/{r['heads']}")
        print(f"{look} {Path(name).stem:24s} " + "  ".join(cells), flush=True)
    for label, (frames, false, covered, total) in totals.items():
        print(f"{look.upper()} real {label:10s} false regions {false} = {false / max(frames, 1):.3f} a frame  "
              f"heads covered {covered}/{total}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", required=True, type=Path,
                   help="folder for the clips and outputs (kept: an output already there is scored, not remade)")
    p.add_argument("--label", default="default", help="name of vidanon's run (its outputs' suffix)")
    p.add_argument("--deface", metavar="EXE", help="also run and score this deface executable")
    p.add_argument("--look", choices=sorted(LOOKS), default="grey", help="how the clips are altered (default grey)")
    p.add_argument("--real", action="store_true", help="also the hand-labelled real clips")
    p.add_argument("--no-composited", action="store_true", help="the real clips alone (with --real)")
    p.add_argument("vidanon_args", nargs="*", help="arguments for vidanon (after --)")
    args = p.parse_args()
    if args.label in ("identity", "deface"):
        p.error(f"--label {args.label} names the re-encode or deface's run: give vidanon's run another name")
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} not found: the clips are in ../shared/eval beside the project")
    args.work.mkdir(parents=True, exist_ok=True)
    runs = [(args.label, args.vidanon_args)] + ([("deface", [])] if args.deface else [])
    if not args.no_composited:
        composited(args.work, runs, args.deface, args.look)
    if args.real:
        real(args.work, runs, args.deface, args.look)


if __name__ == "__main__":
    main()
