"""Command line: ``vidanon INPUT OUTPUT [options]``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback

from . import __version__
from .effects import EFFECTS
from .errors import VidanonError


class Interrupted(BaseException):
    """Raised in the main thread by SIGINT / SIGTERM; the exit code is 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.exit_code = 128 + signum


def _on_signal(signum, _frame):
    raise Interrupted(signum)


def _number_in(cast, lo, hi, name: str):
    """An argparse type: ``cast(text)`` within ``[lo, hi]``, with a one-line message otherwise."""
    kind = "a whole number" if cast is int else "a number"

    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be {kind}, not {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{name} must be between {lo} and {hi}, not {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    from .detect import DEFAULT_THRESHOLD
    from .pipeline import DEFAULT_DETECT_SIZE

    p = argparse.ArgumentParser(
        prog="vidanon",
        description="Hide every face in a video. The output keeps the input's frames, size, "
        "frame rate and audio; only the faces change. The input file is never modified.",
        epilog="example: vidanon holiday.mp4 holiday_anon.mp4 --effect pixelate",
    )
    p.add_argument("input", help="video to anonymize (mp4, mov, mkv, webm, avi, ...)")
    p.add_argument("output", help="where to write the result; the extension picks the container "
                   "(.mp4, .m4v, .mov, .mkv, .webm, .avi)")
    p.add_argument("-e", "--effect", choices=EFFECTS, default="blur",
                   help="how faces are hidden: a strong Gaussian blur scaled to each face (default), "
                   "coarse pixelation, or a solid black fill; 'splash' keeps people in colour and "
                   "turns everything else grey (a look, not anonymization: faces stay visible)")
    p.add_argument("--target", choices=("faces", "people"), default="faces",
                   help="what blur/pixelate/fill hide: faces (default) or whole people, "
                   "following each person's outline")
    p.add_argument("-t", "--threshold", type=_number_in(float, 0.01, 0.99, "threshold"), default=None,
                   help=f"detector score above which a face is hidden (default {DEFAULT_THRESHOLD}; "
                   "people: 0.5); lower hides more (and more false alarms)")
    p.add_argument("-s", "--mask-scale", type=_number_in(float, 0.5, 5.0, "mask scale"), default=1.3,
                   help="grow each face box by this factor before masking (default 1.3)")
    p.add_argument("--detect-size", type=_number_in(int, 0, 8192, "detect size"), default=None,
                   help=f"longest side of the frames the detector sees (default {DEFAULT_DETECT_SIZE}; "
                   "0 = native resolution, slower but finds the smallest faces in large frames)")
    p.add_argument("-b", "--batch-size", type=_number_in(int, 1, 256, "batch size"), default=None,
                   help="frames per detector call (default: chosen from the frame size and the device)")
    p.add_argument("--no-track", dest="track", action="store_false",
                   help="hide only what the detector finds in each frame, without the tracker "
                   "that covers the frames where it blinks (for comparison)")
    p.add_argument("--save-tracks", metavar="JSON", default=None,
                   help="also write the boxes hidden in every frame (track id, box, score, source) to JSON")
    p.add_argument("--tracks", metavar="JSON", default=None,
                   help="re-render from a --save-tracks file instead of detecting again (e.g. another effect)")
    p.add_argument("--crf", type=_number_in(int, 0, 51, "crf"), default=18,
                   help="encoder quality, 0 (lossless) to 51 (worst); default 18 (visually lossless)")
    p.add_argument("--codec", default=None,
                   help="ffmpeg video encoder (default libx264; libvpx-vp9 for .webm)")
    p.add_argument("--preset", default="veryfast", help="x264 preset (default veryfast; slower presets such as medium give smaller files)")
    p.add_argument("--no-audio", dest="audio", action="store_false", help="drop the audio track")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    p.add_argument("--version", action="version", version=f"vidanon {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.debug:  # TensorFlow's C++ start-up logs (CUDA probing etc.) are not for users
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        from .pipeline import anonymize

        summary = anonymize(
            args.input, args.output, effect=args.effect, threshold=args.threshold,
            mask_scale=args.mask_scale, batch_size=args.batch_size, detect_size=args.detect_size,
            crf=args.crf, codec=args.codec, preset=args.preset, audio=args.audio,
            overwrite=args.overwrite, track=args.track, save_tracks=args.save_tracks,
            tracks=args.tracks, progress=not args.quiet, target=args.target,
        )  # fmt: skip
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
        print(
            f"{summary.output}: {summary.frames} frames {summary.width}x{summary.height} "
            f"@ {summary.fps:.3f} fps, {summary.faces} {'person' if summary.target == 'people' else 'face'} boxes "
            f"masked in {summary.frames_with_faces} frames "
            f"({summary.tracks} tracks), {summary.seconds:.1f} s ({summary.frames_per_second:.1f} frames/s) "
            f"on {summary.device}"
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
