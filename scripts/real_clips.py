"""Precision on real clips (``evaluate.py --real``): hand-labelled heads, no ground truth for faces.

On the labelled frames of ``tests/data/heads.json`` (every head of each listed frame boxed by
hand), each tool's output is compared with its input:

* **false regions per frame**: connected areas the output masked (see :func:`changed_regions`)
  touching no labelled head;
* **non-head pixels masked**: the share of pixels outside every head (its box with 10% slack)
  that the output masked;
* **masked share of the frame**: all the pixels the output masked, heads included;
* **heads covered**: the labelled heads with most (half or more) of their box inside a masked
  area; a head no tool covers may just be too small for the measure, so compare tools.

Every tool gets the same input: the clip, remuxed to Matroska when it is a raw stream without a
container (the frames keep their decode order), and scaled to a multiple of 16 px when deface
would rescale it (see :func:`aligned_clip`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidanon.detect.context import luma  # noqa: E402
from vidanon.media.ffmpeg import ffmpeg_exe  # noqa: E402
from vidanon.media.probe import probe  # noqa: E402
from vidanon.media.reader import FrameReader  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval"
HEADS = ROOT / "tests" / "data" / "heads.json"
RAW_STREAMS = (".h264", ".264", ".h265", ".265", ".hevc")  # elementary streams: no container, no timestamps
COVERED = 0.5  # share of a head's box masked for the head to count as covered


def same_size(grey_frame: np.ndarray, h: int, w: int) -> np.ndarray:
    """An output frame brought back to the input's size: some tools scale the frame to a
    multiple of 16 (deface, through imageio's macro_block_size: 480x270 -> 480x272)."""
    if grey_frame.shape == (h, w):
        return grey_frame
    from scipy.ndimage import zoom

    return zoom(grey_frame, (h / grey_frame.shape[0], w / grey_frame.shape[1]), order=1, grid_mode=True,
                mode="nearest")[:h, :w]  # fmt: skip


def grey(frame: np.ndarray) -> np.ndarray:
    return luma(frame)


def local_detail(g: np.ndarray) -> np.ndarray:
    """Standard deviation of the grey levels in each pixel's 5x5 neighbourhood."""
    from scipy.ndimage import uniform_filter

    m = uniform_filter(g, 5)
    return np.sqrt(np.maximum(uniform_filter(g * g, 5) - m * m, 0.0))


def changed_regions(fin: np.ndarray, fout: np.ndarray, min_area: int = 12):
    """Connected areas that the output masked: pixels changed by more than 25 grey levels
    (a fill, a pixelation's block edges) or that lost more than half their local detail
    (a blur), closed by 2 px so that one soft mask is one area. A plain re-encode moves
    pixels by a few levels and keeps their detail: it shows (almost) no area. Returns the
    label image, the number of areas and the masked-pixel map."""
    from scipy import ndimage

    h, w = fin.shape[:2]
    gin = grey(fin)
    gout = same_size(grey(fout), h, w)
    din = local_detail(gin)
    masked = (np.abs(gin - gout) > 25) | ((din > 6) & (local_detail(gout) < 0.5 * din))
    masked = ndimage.binary_opening(masked)  # isolated pixels are the encoder's
    closed = ndimage.binary_closing(ndimage.binary_dilation(masked, iterations=2), iterations=2)
    labels, n = ndimage.label(closed)
    if n:
        sizes = ndimage.sum(masked, labels, index=np.arange(1, n + 1))
        small = np.flatnonzero(sizes < min_area) + 1
        labels[np.isin(labels, small)] = 0
        labels, n = ndimage.label(labels > 0)
    return labels, n, masked


def readable_clip(clip: Path, work: Path) -> Path:
    """A raw H.264/H.265 stream put into Matroska, once, into ``work``; any other clip as it
    is. A stream copy is refused by the muxer (the raw stream has no timestamps), so the frames
    are re-encoded losslessly (x264 at QP 0) in the order ffmpeg decodes them (the labels'
    frame numbers); the frame count is checked against the raw stream's."""
    if clip.suffix.lower() not in RAW_STREAMS:
        return clip
    out = work / f"remuxed_{clip.stem}.mkv"
    if not out.exists():
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-map", "0:v:0", "-c:v", "libx264",
                        "-qp", "0", "-preset", "ultrafast", str(out)], check=True)  # fmt: skip
        want, got = count_frames(clip), count_frames(out)
        if want != got:
            out.unlink()
            raise SystemExit(f"remuxing {clip.name} changed its frame count ({want} -> {got})")
    return out


def count_frames(path: Path, *output_options: str) -> int:
    """Frames ffmpeg decodes from ``path`` (its -progress report of a null encode), through
    ``output_options`` if given (e.g. a constant-rate output)."""
    proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v:0", *output_options, "-f",
                           "null", "-", "-progress", "pipe:1"], capture_output=True, text=True, check=True)  # fmt: skip
    counts = [int(line.split("=")[1]) for line in proc.stdout.splitlines() if line.startswith("frame=")]
    return counts[-1] if counts else 0


def steady_clip(clip: Path, work: Path) -> Path:
    """The clip with one frame every 1/fps s (once, into ``work``) when its timestamps are
    irregular, else the clip as it is. deface reads through imageio, whose ffmpeg pipe keeps a
    constant rate: on irregular timestamps it repeats or drops frames (marathon_street: 154
    frames out of 138, reception_group 91 of 90, head_pose_two_people 53 of 56), and its
    frames no longer line up with the labelled ones. Every frame is kept, in decode order."""
    fps, frames = probe(clip).fps, count_frames(clip)
    if count_frames(clip, "-fps_mode", "cfr", "-r", str(fps)) == frames:
        return clip
    out = work / f"steady_{clip.stem}.mp4"
    if not out.exists():
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-map", "0:v:0", "-vf",
                        f"setpts=N*{fps.denominator}/({fps.numerator}*TB)", "-r", str(fps), "-fps_mode", "cfr",
                        "-frames:v", str(frames), "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", str(out)],
                       check=True)  # fmt: skip
        if count_frames(out) != frames:
            out.unlink()
            raise SystemExit(f"making {clip.name}'s frame times regular changed its frame count")
    return out


def aligned_clip(clip: Path, frames: dict[str, list], work: Path) -> tuple[Path, dict[str, list]]:
    """The clip scaled to a multiple of 16 px (once, into ``work``) and its labels scaled
    with it. deface writes through imageio, which rescales other sizes to a multiple of 16
    (480x270 -> 480x272); comparing such an output with the original would count every
    edge of the resampled frame as changed. Every tool gets this same aligned input."""
    info = probe(clip)
    w16, h16 = 16 * round(info.width / 16), 16 * round(info.height / 16)
    if (w16, h16) == (info.width, info.height):
        return clip, frames
    out = work / f"aligned_{clip.stem}.mp4"
    if not out.exists():
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-vf", f"scale={w16}:{h16}:flags=lanczos",
                        "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", str(out)], check=True)  # fmt: skip
    sx, sy = w16 / info.width, h16 / info.height
    return out, {k: [[x1 * sx, y1 * sy, x2 * sx, y2 * sy] for x1, y1, x2, y2 in v] for k, v in frames.items()}


def real_precision(clip: Path, output: Path, frames: dict[str, list], gain: float = 1.0) -> dict:
    """On the hand-labelled frames of a real clip: masked areas touching no head (false
    regions), the share of pixels outside every head that the output changed, the share of
    the whole frame it masked, and the heads with most of their box masked. ``gain``: both
    videos brightened this many times first (a clip made darker: its masks as they show
    once it is brightened back, which is also what a viewer can do)."""
    want = {int(k): np.asarray(v, np.float64).reshape(-1, 4) for k, v in frames.items()}
    regions = false_regions = 0
    changed = away_total = masked_px = frame_px = 0
    heads_total = heads_covered = 0
    per_frame = {}
    for t, (fin, fout) in enumerate(zip(FrameReader(probe(clip)), FrameReader(probe(output)))):
        if t not in want:
            continue
        if gain != 1.0:
            fin, fout = (np.clip(f * np.float32(gain), 0, 255).astype(np.uint8) for f in (fin, fout))
        h, w = fin.shape[:2]
        heads = np.zeros((h, w), bool)
        labels, n, diff = changed_regions(fin, fout)
        under = labels > 0
        for x1, y1, x2, y2 in want[t]:
            mx, my = 0.1 * (x2 - x1), 0.1 * (y2 - y1)  # labels drawn by eye: a little slack
            heads[max(0, int(y1 - my)) : int(y2 + my) + 1, max(0, int(x1 - mx)) : int(x2 + mx) + 1] = True
            box = under[max(0, int(y1)) : max(int(y2), int(y1) + 1), max(0, int(x1)) : max(int(x2), int(x1) + 1)]
            heads_total += 1
            heads_covered += int(box.size > 0 and box.mean() >= COVERED)
        false_here = sum(1 for k in range(1, n + 1) if not heads[labels == k].any())
        regions += n
        false_regions += false_here
        changed += int((diff & ~heads).sum())
        away_total += int((~heads).sum())
        masked_px += int(under.sum())
        frame_px += h * w
        per_frame[t] = (n, false_here)
    return {"frames": len(per_frame), "regions": regions, "false_regions": false_regions,
            "false_per_frame": false_regions / max(len(per_frame), 1),
            "non_head_masked_share": changed / max(away_total, 1), "masked_share": masked_px / max(frame_px, 1),
            "heads": heads_total, "heads_covered": heads_covered, "per_frame": per_frame}  # fmt: skip


def reencoded(clip: Path, out: Path, crf: int) -> None:
    """A plain re-encode of ``clip`` (x264 at ``crf``): the measure's noise floor."""
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-c:v", "libx264", "-crf", str(crf),
                    "-pix_fmt", "yuv420p", str(out)], check=True)  # fmt: skip


def run_deface(deface: str, clip: Path, out: Path) -> None:
    subprocess.run([deface, str(clip), "-o", str(out)], check=True, capture_output=True)


def run_vidanon(video: Path, out: Path, *extra: str) -> None:
    cmd = [sys.executable, "-m", "vidanon", str(video), str(out), "-y", "-q", *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"vidanon failed on {video}: {proc.stderr.strip()}")


def _cell(r: dict) -> str:
    return (f"{r['false_per_frame']:5.2f} {r['non_head_masked_share'] * 100:6.3f}% {r['masked_share'] * 100:5.2f}% "
            f"{r['heads_covered']:3d}/{r['heads']:<3d}")  # fmt: skip


def real_report(labels, work: Path, deface: str | None, clips: list[str] | None = None, reuse: bool = False) -> None:
    """Run every labelled clip (or those named in ``clips``) through each of ``labels``
    ((name, vidanon arguments) pairs; "deface" runs ``deface``), plus a plain re-encode (the
    measure's noise), and print one line per clip with the tools side by side, then totals.
    ``reuse``: keep outputs already in ``work`` (e.g. deface's, between runs of vidanon)."""
    heads = json.loads(HEADS.read_text())["clips"]
    names = [n for c in clips for n in heads if c in (n, Path(n).stem)] if clips else list(heads)
    runs = [("identity", ())] + [(lab, extra) for lab, extra in labels
                                 if not lab.startswith("segments") and lab != "--no-track"]  # fmt: skip
    totals: dict[str, dict] = {}
    print(f"\nreal clips, hand-labelled heads ({sum(len(heads[n]) for n in names)} frames, "
          f"{sum(len(b) for n in names for b in heads[n].values())} heads); per tool: false regions a frame, "
          f"non-head pixels masked, masked share of the frame, heads covered")  # fmt: skip
    print(f"{'clip':24s} {'frames':>6s}  " + "  ".join(f"{lab[:28]:28s}" for lab, _ in runs))
    for name in names:
        clip, frames = aligned_clip(steady_clip(readable_clip(SHARED / "videos" / name, work), work), heads[name], work)
        cells = []
        for label, extra in runs:
            out = work / f"real_{Path(name).stem}_{label.strip('-').replace('-', '_').replace(' ', '_')}.mp4"
            if not (reuse and out.exists()):
                if label == "identity":  # the measure's noise floor: a plain re-encode
                    reencoded(clip, out, 23)
                elif label == "deface":
                    run_deface(deface, clip, out)
                else:
                    run_vidanon(clip, out, "--save-tracks", str(out.with_suffix(".tracks.json")), *extra)
            r = real_precision(clip, out, frames)
            t = totals.setdefault(label, {"frames": 0, "false_regions": 0, "non_head": 0.0, "masked": 0.0,
                                          "heads": 0, "heads_covered": 0})  # fmt: skip
            t["frames"] += r["frames"]
            t["false_regions"] += r["false_regions"]
            t["non_head"] += r["non_head_masked_share"] * r["frames"]
            t["masked"] += r["masked_share"] * r["frames"]
            t["heads"] += r["heads"]
            t["heads_covered"] += r["heads_covered"]
            cells.append(_cell(r))
        print(f"{Path(name).stem[:24]:24s} {len(frames):6d}  " + "  ".join(cells), flush=True)
    for label, t in totals.items():
        f = max(t["frames"], 1)
        print(f"REAL  {label:11s} frames {t['frames']}  false {t['false_regions']} = {t['false_regions'] / f:.3f}/frame  "
              f"non-head masked {t['non_head'] / f * 100:.3f}%  masked {t['masked'] / f * 100:.2f}% of the frame  "
              f"heads covered {t['heads_covered']}/{t['heads']}")  # fmt: skip


NO_FACE_CLIPS = ("parking_no_people.mp4", "bottles_hand_no_face.mp4")


def no_face_report(videos: Path, work: Path) -> None:
    """``evaluate.py --no-face-clips``: vidanon on the clips without faces, the frames and
    boxes it masked there (every one a false mask)."""
    for name in NO_FACE_CLIPS:
        tracks = work / f"{Path(name).stem}_tracks.json"
        run_vidanon(videos / name, work / f"{Path(name).stem}_anon.mp4", "--save-tracks", str(tracks))
        frames = json.loads(tracks.read_text())["frames"]
        print(f"no-face clip {name:28s} frames {len(frames)}  frames with a mask {sum(1 for f in frames if f)}  "
              f"boxes {sum(len(f) for f in frames)}")
