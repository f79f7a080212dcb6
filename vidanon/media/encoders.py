"""The encoders: how a run's quality settings are given to each (:func:`quality_args`), and
the check, before a run, that the bundled ffmpeg can write what it asks for (:func:`check_encoder`)."""

from __future__ import annotations

import functools
import os
import subprocess

from .ffmpeg import ffmpeg_cause, ffmpeg_command
from .plan import DEEP_420, default_codec


def quality_args(codec: str, crf: int, preset: str) -> list[str]:
    """The encoder's quality arguments for ``--crf`` and ``--preset``. libx265's CRF 0 is not
    lossless (pixels changed by up to 5 levels, a 10-bit input's by 13: a QA sweep): it is
    given x265's own lossless mode, as libx264's CRF 0 is lossless."""
    if codec in ("libx264", "libx265"):
        return ["-crf", str(crf), "-preset", preset] + (["-x265-params", "lossless=1"] if codec == "libx265" and
                                                        crf == 0 else [])  # fmt: skip
    if codec in ("libvpx-vp9", "libvpx"):
        return ["-crf", str(crf), "-b:v", "0"]
    return []


def one_params(cmd: list[str]) -> list[str]:
    """``cmd`` with its ``-x265-params`` joined into one (ffmpeg keeps only the last one given:
    the HDR10 light levels' and the lossless mode's)."""
    values = [cmd[i + 1] for i, arg in enumerate(cmd[:-1]) if arg == "-x265-params"]
    if len(values) < 2:
        return cmd
    out, skip = [], False
    for i, arg in enumerate(cmd):
        if skip or arg == "-x265-params":
            skip = not skip and arg == "-x265-params"
            continue
        out.append(arg)
    return out + ["-x265-params", ":".join(values)]


# The encoders given --crf (the others encode at their own default quality).
CRF_CODECS = ("libx264", "libx265", "libvpx-vp9", "libvpx")


@functools.lru_cache(maxsize=16)
def check_encoder(container: str, codec: str | None, preset: str, crf: int, deep: bool = False,
                  name: str | None = None, named: bool = True) -> None:  # fmt: skip
    """Refuse, before a run, an encoder the bundled ffmpeg does not have, one ``container``
    cannot hold (libx264 in WebM), a preset it does not know or has none of (VP9, AV1): one second of a grey picture
    is encoded as the run would encode it (``deep``: a 10-bit input, written at 10 bits by the
    encoders that can). Raises :class:`~vidanon.options.OptionError` naming ffmpeg's reason
    (``name``: the output's extension, for it; ``named``: the codec was the user's, and is
    named); a run would otherwise fail only once every frame was processed."""
    import tempfile

    from ..options import OPTION, OptionError, spell

    given, codec = (codec if named else None), codec or default_codec(container)
    if (codec == "gif") != (container == "gif"):  # the writer draws a GIF's palettes for .gif only
        raise OptionError(spell(f"{{codec={codec}}} cannot write {name or container}: "
                                + ("a .gif is written with gif" if container == "gif" else "gif writes .gif only")))
    if preset != OPTION["preset"].default and codec not in ("libx264", "libx265"):  # it would be ignored
        raise OptionError(spell(f"{{preset={preset}}} has no effect: vidanon passes a preset to libx264 and libx265 "
                                f"only, and {name or container} is written with {codec}"))  # fmt: skip
    if crf != OPTION["crf"].default and codec not in CRF_CODECS:  # as ignored: the encoder's own quality
        raise OptionError(spell(f"{{crf={crf}}} has no effect: vidanon passes a quality to {', '.join(CRF_CODECS)} "
                                f"only, and {name or container} is written with {codec}"))  # fmt: skip
    cmd = ffmpeg_command() + ["-f", "lavfi", "-i", "color=c=gray:s=64x64:r=25:d=0.2", "-c:v", codec]
    cmd += quality_args(codec, crf, preset)
    if deep and codec in DEEP_420:
        cmd += ["-pix_fmt", "yuv420p10le"]
    try:
        with tempfile.TemporaryDirectory(prefix="vidanon-encoder-") as folder:
            done = subprocess.run(cmd + ["-f", container, os.path.join(folder, "check")], stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, errors="replace", timeout=60)  # fmt: skip
    except OSError:  # no usable temporary folder (the run itself needs none): unchecked, as the defaults
        return
    if done.returncode != 0:
        cause = ffmpeg_cause(done.stderr.strip().splitlines()) or "ffmpeg refused it"
        settings = ([f"{{codec={given}}}"] if given else []) + (
            [f"{{preset={preset}}}"] if preset != OPTION["preset"].default else [])  # fmt: skip
        raise OptionError(spell(f"{' with '.join(settings)} cannot write {name or container}: {cause.strip()[:200]}"))


