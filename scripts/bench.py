#!/usr/bin/env python3
"""Throughput benchmark: vidanon against deface and the ffmpeg ceiling, same clip, same machine.

For each clip it runs, one after the other:

* **ceiling**: one ffmpeg process (imageio-ffmpeg's binary) decoding the clip and encoding
  it with vidanon's encoder settings (x264, preset veryfast, CRF 18, audio copied): no
  anonymizer can be faster than this;
* **deface** 1.5.0 from PyPI, installed by this script into throw-away virtual
  environments (cached under ``--work``), run with ``--keep-audio`` and its defaults: once
  with onnxruntime installed (deface picks it up by itself: its fastest set-up on a CPU,
  the figure every ratio is taken against) and once without (its OpenCV back-end);
* **vidanon** with each effect in ``--effects`` (default blur, and splash when available),
  and the same from other checkouts of vidanon (``--checkout before=../main``: a before and
  after in one run);

(``--repeat N``: every one of them N times, in turns, each keeping its fastest run: on a
shared machine a single run of either tool was seen taking up to 4x its usual time), and
prints frames per second, each as a ratio to the ceiling and to deface, and the peak
resident memory of each run (the largest process of the run, from ``wait4``) and its CPU time
(user + system, its child processes included: on a machine others share, the steadier
measure of the work done), with the CPU
and GPU it ran on, then one summary table (a row per clip). Timings are end to end, model
loading included. The default clips are real footage with people at several sizes from
``../shared/eval/videos``: the marathon crowd (960x540), the hikers (640x480), the vertical
selfie, the square from above (960x366, a raw H.264 stream: remuxed into MP4 first, the
same file for every tool), the opera crowd (1920x1080), the opera crowd scaled to 960x540
and to 640x360, and the hikers scaled to 480x360.

    python scripts/bench.py --frames 100                 # the default clips, 100 frames each
    python scripts/bench.py --frames 100 --repeat 3      # each tool's fastest of 3 runs
    python scripts/bench.py --frames 100 --checkout before=/path/to/older/vidanon
    python scripts/bench.py --clips ../shared/eval/videos/opera_crowd_1080p.mp4 --no-deface
    python scripts/bench.py --batch                      # --jobs 1 vs 2, --segments 1 vs 2
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidanon.media.ffmpeg import ffmpeg_exe
from vidanon.media.probe import probe
from vidanon.media.reader import FrameReader  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval" / "videos"
OPERA = SHARED / "opera_crowd_1080p.mp4"
# Clips derived from the opera crowd (scaled with ffmpeg into --work): the same faces at
# 960x540, 640x360 and 3840x2160 (its first 30 frames: deface takes seconds per 4K frame);
# and the hikers at 480x360 (a CCTV size, the same 4:3 shape).
DERIVED = {"opera_crowd_540p": (OPERA, 960, 540, None), "opera_crowd_360p": (OPERA, 640, 360, None),
           "opera_crowd_2160p": (OPERA, 3840, 2160, 30), "hikers_trail_360p": (SHARED / "hikers_trail.mp4", 480, 360, None)}
DEFAULT_CLIPS = [SHARED / "marathon_street.mkv", SHARED / "hikers_trail.mp4", SHARED / "selfie_vertical.mp4",
                 SHARED / "mot20_08_square.h264", OPERA, Path("opera_crowd_540p"), Path("opera_crowd_360p"),
                 Path("hikers_trail_360p")]
RAW_STREAMS = {".h264": "h264", ".264": "h264", ".h265": "hevc", ".265": "hevc"}  # suffix -> ffmpeg demuxer
DEFACE = "deface==1.5.0"
DEFACE_SETUPS = {"deface 1.5.0 (onnxruntime)": ["onnxruntime"], "deface 1.5.0 (OpenCV)": []}


@dataclass
class Run:
    tool: str
    seconds: float
    peak_mb: float
    ok: bool
    detail: str = ""
    cpu_seconds: float = 0.0  # user + system time of the run and the processes it waited for


def timed(cmd: list[str], env: dict | None = None, cwd: Path = ROOT) -> Run:
    """Run ``cmd``; wall time and the peak RSS of its largest process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    tail = err.decode("utf8", "replace").strip().splitlines()[-1:] or [""]
    return Run(Path(cmd[0]).name, seconds, usage.ru_maxrss / 1024, proc.returncode == 0, tail[0][:200],
               usage.ru_utime + usage.ru_stime)  # fmt: skip


def best_of(jobs: list[tuple[str, list[str], dict | None, Path, Path]], repeat: int, frames: int) -> list[Run]:
    """Run each job ``repeat`` times, in turns (a slow spell of the machine then falls on
    every tool alike), and keep each one's fastest run; a vidanon output must hold every
    frame."""
    best: dict[str, Run] = {}
    for _ in range(repeat):
        for tool, cmd, env, cwd, out in jobs:
            run = timed(cmd, env=env, cwd=cwd)
            run.tool = tool
            if run.ok and tool.startswith("vidanon"):
                written = count_frames(out)
                if written != frames:
                    run.ok, run.detail = False, f"frame count {written} != {frames}"
            kept = best.get(tool)
            if kept is None or (run.ok and (not kept.ok or run.seconds < kept.seconds)):
                best[tool] = run
    return [best[tool] for tool, *_ in jobs]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def gpu_name() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20)  # fmt: skip
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    return "none"


def deface_command(work: Path, extra: list[str]) -> list[str] | None:
    """deface in its own virtual environment (created once, reused from ``work``), with the
    packages ``extra`` beside it (onnxruntime: deface then runs its network through it)."""
    venv = work / ("deface-venv" + "".join(f"-{e}" for e in extra))
    exe = venv / "bin" / "deface"
    if not exe.exists():
        print(f"installing {DEFACE} {' '.join(extra)} into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        proc = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", DEFACE, *extra], capture_output=True,
                              text=True)  # fmt: skip
        if proc.returncode != 0:
            print(f"could not install deface: {proc.stderr.strip()[-300:]}")
            return None
    return [str(exe)]


def derived(name: str, work: Path) -> Path:
    """A clip of DERIVED, made once in ``work``."""
    source, width, height, frames = DERIVED[name]
    out = work / f"{name}.mp4"
    if not out.exists():
        cap = ["-frames:v", str(frames)] if frames else []
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(source), "-vf", f"scale={width}:{height}",
                        *cap, "-c:v", "libx264", "-crf", "16", "-preset", "veryfast", str(out)], check=True)  # fmt: skip
    return out


def remuxed(clip: Path, work: Path) -> Path:
    """A raw elementary stream (no container: no frame rate, no timestamps) copied into MP4
    once, so that every tool reads the same file; other clips as they are."""
    demuxer = RAW_STREAMS.get(clip.suffix.lower())
    if demuxer is None:
        return clip
    out = work / f"{clip.stem}.mp4"
    if not out.exists():
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", demuxer, "-i", str(clip), "-c", "copy", str(out)],
                       check=True)  # fmt: skip
    return out


def capped(clip: Path, frames: int | None, work: Path) -> Path:
    """The clip itself, or its first ``frames`` frames (stream copy, audio cut to match)."""
    if not frames:
        return clip
    info = probe(clip)
    if info.n_frames and frames >= info.n_frames:
        return clip
    out = work / f"{clip.stem}_{frames}f{clip.suffix}"
    if not out.exists():
        seconds = frames / float(info.fps)
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-map", "0:v:0", "-map", "0:a?",
                        "-frames:v", str(frames), "-t", f"{seconds:.3f}", "-c", "copy", str(out)],
                       check=True)  # fmt: skip
    return out


def count_frames(path: Path) -> int:
    return sum(1 for _ in FrameReader(probe(path)))


def splash_available() -> bool:
    from vidanon.render.effects import EFFECTS

    return "splash" in EFFECTS


BATCH_CLIPS = ["walking_to_camera.mp4", "classroom.mp4", "signer_thanks.mkv", "head_pose_two_people.mp4",
               "store_aisle.mp4", "signer_school.mkv", "carphone_closeup_qcif.mp4", "bikes_street.mp4"]
LONG_CLIP = "one_by_one_person.mp4"


def batch_bench(work: Path, extra: list[str]) -> None:
    """--jobs 1 against --jobs 2 on a folder of 8 short clips; --segments 1 against 2 on a long clip."""
    import shutil

    src = work / "batch_in"
    src.mkdir(exist_ok=True)
    for name in BATCH_CLIPS:
        if not (src / name).exists():
            shutil.copy(SHARED / name, src / name)
    frames = sum(count_frames(src / name) for name in BATCH_CLIPS)
    vidanon = [sys.executable, "-m", "vidanon"]
    print(f"\nbatch: {len(BATCH_CLIPS)} clips, {frames} frames ({', '.join(BATCH_CLIPS)})")
    _series(frames, "x jobs 1", [
        (f"--jobs {j}", vidanon + [str(src), str(work / f"batch_out_j{j}"), "-y", "-q", "--jobs", str(j), *extra], None)
        for j in (1, 2)
    ])  # fmt: skip
    clip = SHARED / LONG_CLIP
    n = count_frames(clip)
    print(f"\nsegments: {LONG_CLIP}, {n} frames")
    _series(n, "x 1 part", [
        (f"--segments {k}", vidanon + [str(clip), str(out), "-y", "-q", "--segments", str(k), *extra], out)
        for k in (1, 2) for out in [work / f"segments_{k}_{clip.stem}.mp4"]
    ])  # fmt: skip


def _series(frames: int, ratio: str, runs: list[tuple[str, list[str], Path | None]]) -> None:
    """Time each command; print seconds, frames/s, time relative to the first, peak RSS,
    and the frames in the output when one is named."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    print(f"{'run':28s} {'seconds':>8s} {'frames/s':>9s} {ratio:>9s} {'peak RSS':>10s} {'frames out':>10s}")
    base = None
    for label, cmd, out in runs:
        run = timed(cmd, env=env)
        if not run.ok:
            print(f"{label:28s} failed: {run.detail}")
            continue
        base = base or run.seconds
        written = f"{count_frames(out):10d}" if out else ""
        print(f"{label:28s} {run.seconds:8.1f} {frames / run.seconds:9.2f} {run.seconds / base:9.2f} "
              f"{run.peak_mb:8.0f} MB {written}", flush=True)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", nargs="+", type=Path, default=DEFAULT_CLIPS)
    p.add_argument("--frames", type=int, default=None, help="cap each clip at N frames")
    p.add_argument("--effects", default="blur", help="vidanon effects to time, e.g. blur,splash (default blur)")
    p.add_argument("--setting", action="append", default=[], metavar="LABEL=ARGS",
                   help="also time vidanon blur with these arguments, e.g. --setting 'fast=--detect-size 960'")
    p.add_argument("--no-deface", action="store_true", help="skip deface")
    p.add_argument("--no-deface-opencv", action="store_true", help="time deface with onnxruntime only")
    p.add_argument("--deface", metavar="COMMAND",
                   help="an installed deface to time instead of installing it (a machine without a package "
                   "registry), e.g. --deface 'python3 -m deface.deface' or --deface /path/to/bin/deface; "
                   "deface picks onnxruntime up by itself where it is installed")
    p.add_argument("--checkout", action="append", default=[], metavar="LABEL=PATH",
                   help="also time vidanon blur from another source tree (run there with PATH first on "
                   "PYTHONPATH), e.g. --checkout before=../main")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vidanon-bench",
                   help="folder for outputs and deface's virtual environment")  # fmt: skip
    p.add_argument("--repeat", type=int, default=1,
                   help="run every tool N times, in turns, and keep each one's fastest run (a shared or noisy "
                   "machine: one slow spell can double a single run's time)")
    p.add_argument("--vidanon-args", default="", help="extra arguments for vidanon, e.g. '--batch-size 8'")
    p.add_argument("--batch", action="store_true",
                   help="instead: a folder of 8 short clips with --jobs 1 and 2, and one_by_one_person.mp4 with "
                   "--segments 1 and 2")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.batch:
        if not SHARED.is_dir():
            raise SystemExit(f"{SHARED} not found: --batch needs ../shared/eval/videos")
        print(f"CPU: {cpu_name()}\nGPU: {gpu_name()}")
        batch_bench(args.work, args.vidanon_args.split())
        return
    args.clips = [derived(c.name, args.work) if c.name in DERIVED and not c.exists() else c for c in args.clips]
    missing = [c for c in args.clips if not c.exists()]
    if missing:
        raise SystemExit(f"clip not found: {missing[0]} (the default clips live in ../shared/eval/videos)")

    from vidanon.detect.tf_setup import compute_device

    print(f"CPU: {cpu_name()}")
    print(f"GPU: {gpu_name()} (vidanon runs on: {compute_device()})")
    if args.repeat > 1:
        print(f"each tool's fastest of {args.repeat} runs, taken in turns")
    setups = {k: v for k, v in DEFACE_SETUPS.items() if v or not args.no_deface_opencv}
    if args.no_deface:
        defaces = {}
    elif args.deface:
        defaces = {"deface 1.5.0 (as given)": shlex.split(args.deface)}
    else:
        defaces = {name: deface_command(args.work, extra) for name, extra in setups.items()}
    summary: list[str] = []
    effects = [e for e in args.effects.split(",") if e]
    if "splash" in effects and not splash_available():
        print("(splash is not available in this version of vidanon; skipped)")
        effects.remove("splash")

    for clip in args.clips:
        src = capped(remuxed(clip, args.work), args.frames, args.work)
        info = probe(src)
        frames = count_frames(src)
        print(f"\n{clip.name}: {frames} frames {info.width}x{info.height} @ {float(info.fps):.3f} fps"
              f"{', audio' if info.has_audio else ''}")  # fmt: skip
        jobs: list[tuple[str, list[str], dict | None, Path, Path]] = []  # tool, command, env, cwd, output
        out = args.work / f"ceiling_{clip.stem}.mp4"
        jobs.append(("ffmpeg re-encode (ceiling)",
                     [ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), "-map", "0:v:0", "-map", "0:a?", "-c:v",
                      "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "copy", str(out)],
                     None, ROOT, out))  # fmt: skip
        for name, deface in defaces.items():
            if deface:
                out = args.work / f"deface_{clip.stem}.mp4"
                jobs.append((name, deface + [str(src), "-o", str(out), "--keep-audio"], None, ROOT, out))
        quiet_tf = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        for effect in effects:
            out = args.work / f"vidanon_{effect}_{clip.stem}.mp4"
            cmd = [sys.executable, "-m", "vidanon", str(src), str(out), "-y", "-q", "--effect", effect,
                   *args.vidanon_args.split()]  # fmt: skip
            jobs.append((f"vidanon --effect {effect}", cmd, quiet_tf, ROOT, out))
        for item in args.setting:
            label, _, extra = item.partition("=")
            out = args.work / f"vidanon_{label}_{clip.stem}.mp4"
            cmd = [sys.executable, "-m", "vidanon", str(src), str(out), "-y", "-q", *extra.split(),
                   *args.vidanon_args.split()]  # fmt: skip
            jobs.append((f"vidanon {label}", cmd, quiet_tf, ROOT, out))
        for item in args.checkout:
            label, _, tree = item.partition("=")
            out = args.work / f"vidanon_{label}_{clip.stem}.mp4"
            cmd = [sys.executable, "-m", "vidanon", str(src.resolve()), str(out.resolve()), "-y", "-q",
                   *args.vidanon_args.split()]  # fmt: skip
            env = {**quiet_tf, "PYTHONPATH": str(Path(tree).resolve())}
            jobs.append((f"vidanon ({label})", cmd, env, Path(tree).resolve(), out))
        runs = best_of(jobs, args.repeat, frames)
        ceiling = frames / runs[0].seconds if runs[0].ok else None
        base = next((frames / r.seconds for r in runs if r.tool.startswith("deface") and r.ok), None)  # onnxruntime
        print(f"{'tool':28s} {'seconds':>8s} {'frames/s':>9s} {'x ceiling':>10s} {'x deface':>9s} {'peak RSS':>10s} "
              f"{'CPU s':>7s}")  # fmt: skip
        for r in runs:
            if not r.ok:
                print(f"{r.tool:28s} failed: {r.detail}")
                continue
            fps = frames / r.seconds
            print(f"{r.tool:28s} {r.seconds:8.1f} {fps:9.2f} {fps / ceiling if ceiling else 0:10.2f} "
                  f"{fps / base if base else float('nan'):9.2f} {r.peak_mb:8.0f} MB {r.cpu_seconds:7.1f}",
                  flush=True)  # fmt: skip
        summary.append(_summary_row(clip.name, f"{info.width}x{info.height}", frames, runs, base))
    print("\n| clip | size | frames | " + " | ".join(_summary_tools(runs)) + " |")
    print("|---|---|---:|" + "---:|" * len(_summary_tools(runs)))
    print("\n".join(summary))


def _summary_tools(runs: list[Run]) -> list[str]:
    return [r.tool for r in runs if not r.tool.startswith("ffmpeg")]


def _summary_row(name: str, size: str, frames: int, runs: list[Run], base: float | None) -> str:
    """One markdown row: each tool's frames/s, its ratio to deface (onnxruntime) and peak RSS."""
    cells = []
    for r in runs:
        if r.tool.startswith("ffmpeg"):
            continue
        if not r.ok:
            cells.append("failed")
            continue
        fps = frames / r.seconds
        ratio = f" ({fps / base:.2f}x)" if base and not r.tool.startswith("deface") else ""
        cells.append(f"{fps:.2f} fps{ratio}, {r.peak_mb / 1024:.1f} GB, CPU {r.cpu_seconds:.0f} s")
    return f"| {name} | {size} | {frames} | " + " | ".join(cells) + " |"


if __name__ == "__main__":
    main()
