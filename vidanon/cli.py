"""Command line.

``vidanon INPUT OUTPUT``: one video. ``vidanon INPUT_DIR OUTPUT_DIR`` or
``vidanon FILE... -o DIR``: a batch (see :mod:`vidanon.batch`), with ``--jobs``,
``--segments`` and ``--ray`` to spread the work.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback

from . import __version__
from .detect.tf_setup import quiet_logs
from .errors import VidanonError
from .options import CHOICES, TARGETS, Options, check, parse_number
from .render.effects import EFFECTS
from .render.masks import DEFAULT_MASK_SCALE


class Interrupted(BaseException):
    """Raised in the main thread by SIGINT / SIGTERM; the exit code is 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.exit_code = 128 + signum


def _on_signal(signum, _frame):
    raise Interrupted(signum)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the usage is one ``--help`` away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(name: str):
    """An argparse type: the text as a number, checked later by :func:`vidanon.options.check`
    (so the command line and the API give the same message for the same bad value)."""

    def parse(text: str):
        return parse_number(text)

    parse.__name__ = name
    return parse


def build_parser() -> argparse.ArgumentParser:
    from .detect.centerface import DEFAULT_THRESHOLD
    from .pipeline import SCAN_EVERY_CPU

    p = _Parser(
        prog="vidanon",
        usage="vidanon INPUT OUTPUT [options]\n       vidanon INPUT_DIR OUTPUT_DIR [options]\n"
        "       vidanon FILE [FILE ...] -o DIR [options]",
        description="Hide every face in a video. The output keeps the input's frames, size, "
        "frame rate and audio; only the faces change. The input file is never modified.",
        epilog="examples: vidanon holiday.mp4 holiday_anon.mp4 --effect pixelate | "
        "vidanon dashcam/ dashcam_anon/ --recursive --jobs 2 | vidanon a.mp4 b.mov -o anon/",
    )
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="INPUT OUTPUT: the video to anonymize (mp4, mov, mkv, webm, avi, ...) and where to "
                   "write it, the extension picking the container (.mp4, .m4v, .mov, .mkv, .webm, .avi); "
                   "INPUT_DIR OUTPUT_DIR: every video of a folder; FILE... -o DIR: several files")
    batch = p.add_argument_group("many or long videos")
    batch.add_argument("-o", "--output-dir", metavar="DIR", default=None,
                       help="write the anonymized copies of all INPUTs (files or folders) into DIR")
    batch.add_argument("-r", "--recursive", action="store_true",
                       help="also take the videos in sub-folders of an input folder, keeping their relative paths")
    batch.add_argument("-j", "--jobs", type=_number("jobs"), default=None,
                       help="worker processes, sharing the cores (default 1; with --segments, one per segment); "
                       "see README 'Many videos'")
    batch.add_argument("--segments", type=_number("segments"), default=1,
                       help="cut each video into this many parts processed in parallel and joined "
                       "(exact frames and audio; for long videos)")
    batch.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                       help="run the files and segments as Ray tasks: on the cluster at ADDRESS, or on a local "
                       "Ray started here (needs pip install 'vidanon[ray]')")
    p.add_argument("-e", "--effect", metavar="{" + ",".join(EFFECTS) + "}", default="blur",
                   help="how faces are hidden: a strong Gaussian blur scaled to each face (default), "
                   "coarse pixelation, or a solid black fill; 'splash' keeps people in colour and "
                   "turns everything else grey (a look, not anonymization: faces stay visible)")
    p.add_argument("--target", metavar="{" + ",".join(TARGETS) + "}", default="faces",
                   help="what blur/pixelate/fill hide: faces (default), whole people following each person's "
                   "outline, or licence plates (needs --plates-model); a comma list hides several: faces,plates")
    p.add_argument("--plates-model", metavar="PATH.onnx", default=None,
                   help="the plate detector for --target plates: a YOLOv5/v8/v9-style ONNX file (default: "
                   "$VIDANON_PLATES_MODEL; needs pip install 'vidanon[plates]'); see README 'Licence plates'")
    p.add_argument("--plates-threshold", type=_number("plates_threshold"), default=None,
                   help="plate detector score above which a plate is hidden (default 0.25)")
    p.add_argument("-t", "--threshold", type=_number("threshold"), default=None,
                   help=f"detector score above which a face is hidden (default {DEFAULT_THRESHOLD}; "
                   "people: 0.5); lower hides more (and more false alarms)")
    p.add_argument("-s", "--mask-scale", type=_number("mask_scale"), default=DEFAULT_MASK_SCALE,
                   help=f"grow the head around each face by this factor before masking (default {DEFAULT_MASK_SCALE})")
    p.add_argument("--detect-size", type=_number("detect_size"), default=None,
                   help="longest side of the frames the detector's full pass sees (default: the native "
                   "resolution, frames under 960 px enlarged towards 960; 0 = exactly native); smaller is "
                   "faster and misses small faces (see README 'Accuracy and speed')")
    p.add_argument("--scan-every", type=_number("scan_every"), default=None, metavar="K",
                   help=f"give every K-th frame the full-size pass and the others a half-size one, the tracker "
                   f"carrying small faces between (default {SCAN_EVERY_CPU} on a CPU, 1 on a GPU)")
    p.add_argument("-b", "--batch-size", type=_number("batch_size"), default=None,
                   help="frames per detector call (default: chosen from the frame size and the device)")
    p.add_argument("--no-track", dest="track", action="store_false",
                   help="hide only what the detector finds in each frame, without the tracker "
                   "that covers the frames where it blinks (for comparison)")
    p.add_argument("--save-tracks", metavar="JSON", default=None,
                   help="also write the boxes hidden in every frame (track id, box, score, source) to JSON")
    p.add_argument("--tracks", metavar="JSON", default=None,
                   help="re-render from a --save-tracks file instead of detecting again (e.g. another effect)")
    p.add_argument("--review", metavar="SHEET", default=None,
                   help="also write a review sheet (.png or .html): sampled frames with each mask's outline, "
                   "a timeline of the tracks and the frames most worth a look, with their time codes")
    p.add_argument("--crf", type=_number("crf"), default=18,
                   help="encoder quality, 0 (lossless) to 51 (worst); default 18 (visually lossless)")
    p.add_argument("--codec", default=None,
                   help="ffmpeg video encoder (default libx264; libvpx-vp9 for .webm)")
    p.add_argument("--preset", default="veryfast", help="x264 preset (default veryfast; slower presets such as medium give smaller files)")
    p.add_argument("--no-audio", dest="audio", action="store_false", help="drop the audio track")
    meta = p.add_mutually_exclusive_group()
    meta.add_argument("--keep-metadata", dest="metadata", action="store_const", const="keep", default="private",
                      help="keep every metadata tag (by default tags that identify a place or a device are "
                      "removed: GPS location, make, model, serial numbers, device names, comments, software)")
    meta.add_argument("--strip-metadata", dest="metadata", action="store_const", const="strip",
                      help="remove every metadata tag and the chapters")
    p.add_argument("--odd-size", metavar="{" + ",".join(CHOICES["odd_size"]) + "}", default="pad",
                   help="H.264/HEVC at an odd width or height: 'pad' (default) repeats the last row/column "
                   "to write 4:2:0, which plays everywhere; '444' keeps the exact size as 4:4:4, which many "
                   "players refuse")
    p.add_argument("--mkdir", action="store_true", help="create the output folder if it does not exist")
    p.add_argument("-y", "--overwrite", action="store_true",
                   help="replace OUTPUT if it exists (in a batch: redo files whose output exists, else skipped)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    p.add_argument("--version", action="version", version=f"vidanon {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_logs(debug=args.debug)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        options = dict(
            effect=args.effect, threshold=args.threshold, mask_scale=args.mask_scale, batch_size=args.batch_size,
            detect_size=args.detect_size, scan_every=args.scan_every, crf=args.crf, codec=args.codec, preset=args.preset, audio=args.audio,
            track=args.track, save_tracks=args.save_tracks, tracks=args.tracks, review=args.review, target=args.target,
            metadata=args.metadata, odd_size=args.odd_size, mkdir=args.mkdir,
            plates_model=args.plates_model, plates_threshold=args.plates_threshold,
        )  # fmt: skip
        # the one table of option ranges (vidanon.options): same message and exit code 2 as the API
        opts = Options(**options)
        opts.validate()
        args.jobs = None if args.jobs is None else check("jobs", args.jobs)
        args.segments = check("segments", args.segments)
        mode = _mode(parser, args)
        if mode != "single":
            return _run_batch(args, mode, options)
        if not args.quiet and sys.stderr.isatty():  # at once, for whoever watches: the load is the longest wait
            print(f"vidanon: {_loading(opts)}...", file=sys.stderr, flush=True)
        from .pipeline import anonymize

        summary = anonymize(args.paths[0], args.paths[1], overwrite=args.overwrite, progress=not args.quiet,
                            **options)  # fmt: skip
    except Interrupted as exc:
        print("vidanon: interrupted; no output was written", file=sys.stderr)
        return exc.exit_code
    except VidanonError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"vidanon: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # a bug: still one line unless --debug
        if args.debug:
            traceback.print_exc()
        print(f"vidanon: internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
              file=sys.stderr)  # fmt: skip
        return 70
    for warning in summary.warnings:
        print(f"vidanon: warning: {warning}", file=sys.stderr)
    if not args.quiet:
        print(_summary_line(summary.to_dict()))
    return 0


def _loading(opts: Options) -> str:
    """What the start is busy with, in words."""
    if opts.tracks:
        return f"reading the tracks of {opts.tracks}"
    kinds = [k for k, on in (("face", opts.faces and not opts.people), ("people", opts.people),
                             ("plate", opts.plates)) if on]  # fmt: skip
    return f"loading the {' and '.join(kinds)} detector{'s' if len(kinds) > 1 else ''}"


def _mode(parser: argparse.ArgumentParser, args) -> str:
    """"single" (one file, the plain pipeline), "split" (one file through the batch
    machinery: --segments or --ray) or "batch"."""
    from pathlib import Path

    if args.output_dir is None:
        if len(args.paths) != 2:
            parser.error("give INPUT OUTPUT, INPUT_DIR OUTPUT_DIR, or several inputs with -o DIR")
        if Path(args.paths[0]).is_dir():
            mode = "batch"
        else:
            _output_into_folder(args)
            mode = "split" if args.segments > 1 or args.ray is not None else "single"
    else:
        mode = "batch"
    if mode == "batch" and (args.save_tracks or args.tracks):
        parser.error("--save-tracks and --tracks take one video: give INPUT OUTPUT")
    if mode == "batch" and args.review:
        parser.error("--review takes one video: give INPUT OUTPUT")
    if mode == "split" and (args.save_tracks or args.review):
        parser.error(f"{'--save-tracks' if args.save_tracks else '--review'} needs the whole video in one process: "
                     "drop --segments/--ray")  # fmt: skip
    if mode == "single" and args.jobs and args.jobs > 1:
        print("vidanon: warning: --jobs applies to several files or --segments; one file runs in one process",
              file=sys.stderr)  # fmt: skip
    return mode


def _output_into_folder(args) -> None:
    """``vidanon FILE FOLDER`` writes FOLDER/FILE, as cp does (a name ending in / is a folder)."""
    from pathlib import Path

    from .batch import output_name

    out = args.paths[1]
    if Path(out).is_dir() or out.endswith(("/", os.sep)):
        args.paths[1] = str(output_name(Path(out) / Path(args.paths[0]).name))


def _run_batch(args, mode: str, options: dict) -> int:
    from pathlib import Path

    from .batch import Job, describe, plan_jobs, run_batch

    missing: list[Path] = []  # inputs among several that do not exist: reported, the others done

    if mode == "split":
        from .media.probe import check_input

        jobs = [Job(check_input(args.paths[0]), Path(args.paths[1]))]
    elif args.output_dir is not None:
        jobs = plan_jobs(args.paths, args.output_dir, args.recursive, missing=missing)
    else:
        jobs = plan_jobs(args.paths[:1], args.paths[1], args.recursive)
    workers = args.jobs or (args.segments if args.segments > 1 else 1)

    def log(line: str) -> None:
        failed = line.startswith("FAILED")
        if failed or not args.quiet:
            print(line, file=sys.stderr if failed else sys.stdout, flush=True)

    for path in missing:
        log(f"FAILED  {path}: input {path} does not exist")
    summary = run_batch(
        jobs, options, workers=workers, segments=args.segments, overwrite=args.overwrite,
        ray_address=args.ray or None, use_ray=args.ray is not None, progress=not args.quiet,
        log=log if mode == "batch" else None, mkdir=args.mkdir or mode == "batch",
    )  # fmt: skip
    # the missing inputs were reported before the others ran; they count as failed
    summary.failed[:0] = [(Job(path, Path(args.output_dir)), f"input {path} does not exist") for path in missing]
    if mode == "split":
        if summary.skipped:
            print(f"vidanon: error: output {jobs[0].output} already exists; pass --overwrite to replace it",
                  file=sys.stderr)  # fmt: skip
            return 3
        if summary.failed:
            print(f"vidanon: error: {summary.failed[0][1]}", file=sys.stderr)
            return 1
        if not args.quiet:
            print(_summary_line(summary.done[0][1]))
        return 0
    if not args.quiet:
        for line in describe(summary):
            print(f"vidanon: {line}", file=sys.stderr if line.startswith("failed") else sys.stdout)
    return summary.exit_code


def _summary_line(s: dict) -> str:
    from .batch import noun

    parts = f", {s['parts']} parts" if s.get("parts") else ""
    removed = s.get("metadata_removed") or []
    removed = f"; metadata removed: {', '.join(removed)}" if removed else ""
    if s.get("review"):
        removed += f"; review sheet {s['review']}: {s.get('flagged', 0)} frames worth a look"
    return (
        f"{s['output']}: {s['frames']} frames {s['width']}x{s['height']} @ {s['fps']:.3f} fps, {s['faces']} {noun(s)} "
        f"boxes masked in {s['frames_with_faces']} frames ({s['tracks']} tracks{parts}), {s['seconds']:.1f} s "
        f"({s['frames'] / s['seconds'] if s['seconds'] > 0 else 0.0:.1f} frames/s) on {s['device']}{removed}"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
