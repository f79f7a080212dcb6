"""Interlaced video (broadcast, camcorders: 1080i): the composited clips of ``evaluate.py`` woven
into interlaced frames, anonymized, and scored field by field.

Frame k of the interlaced clip takes its top field (even lines) from frame 2k of the composited
clip and its bottom field from frame 2k + ``--gap`` (1: the faces move between the fields as
far as between two frames of the clip; 0: both fields from one frame, a still picture flagged
interlaced). It is encoded as interlaced H.264 (top field first). The input and each output
are then deinterlaced by ffmpeg's ``bwdif`` one field a frame, as a player shows them, and
field j is scored against the ground truth of the composited frame it came from, as
``evaluate.py`` scores a clip. E.g.::

    python scripts/interlaced_clips.py --work /tmp/interlaced --gap 1
    python scripts/interlaced_clips.py --work /tmp/interlaced --gap 3 --deface /tmp/deface/bin/deface
    python scripts/interlaced_clips.py --work /tmp/interlaced --real marathon_street hikers_trail

With ``--real`` the hand-labelled real clips named are woven too (a field of a labelled frame
keeps its labels), and scored as ``evaluate.py --real`` scores them: false regions a frame
and heads covered.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from altered_clips import anonymized, print_totals, tally  # noqa: E402
from evaluate import DEFAULT_CLIPS, SHARED, score, synthetic  # noqa: E402
from real_clips import HEADS, aligned_clip, readable_clip, real_precision, steady_clip  # noqa: E402

from vidanon.media.ffmpeg import ffmpeg_exe  # noqa: E402
from vidanon.media.probe import probe  # noqa: E402


def _frames(video: Path, width: int, height: int):
    """The clip's frames as RGB arrays, one at a time."""
    pipe = subprocess.Popen([ffmpeg_exe(), "-v", "error", "-i", str(video), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                            stdout=subprocess.PIPE)  # fmt: skip
    size = width * height * 3
    while len(raw := pipe.stdout.read(size)) == size:
        yield np.frombuffer(raw, np.uint8).reshape(height, width, 3)
    pipe.wait()


def woven(video: Path, width: int, height: int, gap: int, work: Path) -> tuple[Path, list[int]]:
    """The interlaced clip of ``video`` (built once, under a part name) and, for each of its
    fields in order, the frame of ``video`` it came from."""
    out = work / f"interlaced{gap}_{video.stem}.mp4"
    frames = list(_frames(video, width, height))
    sources = [i + k * gap for i in range(0, len(frames) - gap, 2) for k in (0, 1)]
    if out.exists():
        return out, sources
    part = out.with_name(f".part_{out.name}")
    writer = subprocess.Popen([ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                               "-s", f"{width}x{height}", "-r", "25", "-i", "-", "-vf", "setfield=tff",
                               "-c:v", "libx264", "-crf", "12", "-flags", "+ildct+ilme", "-x264opts", "tff=1",
                               "-pix_fmt", "yuv420p", "-f", "mp4", str(part)], stdin=subprocess.PIPE)  # fmt: skip
    for top, bottom in zip(sources[::2], sources[1::2]):
        frame = frames[top].copy()
        frame[1::2] = frames[bottom][1::2]
        writer.stdin.write(frame.tobytes())
    writer.stdin.close()
    if writer.wait():
        raise SystemExit(f"ffmpeg could not write {out}")
    part.replace(out)
    return out, sources


def fields(video: Path) -> Path:
    """``video`` deinterlaced one field a frame (``bwdif``, top field first), as a player shows it."""
    out = video.with_name(f"fields_{video.name}")
    if not out.exists() or out.stat().st_mtime < video.stat().st_mtime:  # none yet, or of an older output
        part = out.with_name(f".part_{out.name}")
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(video), "-vf", "bwdif=mode=send_field:parity=tff",
                        "-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p", "-f", "mp4", str(part)],
                       check=True)  # fmt: skip
        part.replace(out)
    return out


def composited(work: Path, gap: int, runs: list[tuple[str, list[str]]], deface: str | None) -> None:
    totals: dict[str, list[int]] = {}
    for name in DEFAULT_CLIPS:
        video, gt_path = synthetic(name, work, 120, 7)
        gt = json.loads(gt_path.read_text())
        clip, sources = woven(video, gt["width"], gt["height"], gap, work)
        gt_fields = clip.with_suffix(".json")
        gt_fields.write_text(json.dumps({**gt, "video": clip.name, "frames": [gt["frames"][i] for i in sources]}))
        for label, extra in runs:
            r = score(gt_fields, fields(clip), fields(anonymized(clip, label, deface, extra)))
            tally(totals, f"interlaced {name:10s}", label, r, "fields")
    print_totals(totals, f"INTERLACED (gap {gap})", "fields")


def real(work: Path, gap: int, runs: list[tuple[str, list[str]]], deface: str | None, names: list[str]) -> None:
    """The hand-labelled real clips ``names`` (their file names' stems) woven the same way,
    scored on the fields of their labelled frames as ``evaluate.py --real`` scores a clip."""
    heads = json.loads(HEADS.read_text())["clips"]
    for name in (n for n in heads if Path(n).stem in names):
        clip, labels = aligned_clip(steady_clip(readable_clip(SHARED / "videos" / name, work), work), heads[name], work)
        info = probe(clip)
        woven_clip, sources = woven(clip, info.width, info.height, gap, work)
        want = {str(j): labels[str(i)] for j, i in enumerate(sources) if str(i) in labels}
        cells = []
        for label, extra in runs:
            r = real_precision(fields(woven_clip), fields(anonymized(woven_clip, label, deface, extra)), want)
            cells.append(f"{label} {r['false_per_frame']:.2f} false a frame, {r['heads_covered']}/{r['heads']} heads")
        print(f"interlaced {Path(name).stem:24s} " + "  ".join(cells), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", required=True, type=Path,
                   help="folder for the clips and outputs (kept: an output already there is scored, not remade)")
    p.add_argument("--gap", type=int, default=1, help="composited frames between a frame's two fields (default 1)")
    p.add_argument("--label", default="default", help="name of vidanon's run (its outputs' suffix)")
    p.add_argument("--deface", metavar="EXE", help="also run and score this deface executable")
    p.add_argument("--real", nargs="+", metavar="CLIP", help="also these hand-labelled real clips (e.g. marathon_street)")
    p.add_argument("vidanon_args", nargs="*", help="arguments for vidanon (after --)")
    args = p.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} not found: the composited clips' photos are in ../shared/eval beside the project")
    args.work.mkdir(parents=True, exist_ok=True)
    runs = [(args.label, args.vidanon_args)] + ([("deface", [])] if args.deface else [])
    composited(args.work, args.gap, runs, args.deface)
    if args.real:
        real(args.work, args.gap, runs, args.deface, args.real)


if __name__ == "__main__":
    main()
