"""The bundled ffmpeg: where it is, how a command that writes a file starts, how many threads
it may use, and what it said when it failed."""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import threading
from collections import deque
from typing import TYPE_CHECKING

from ..env import DEBUG_ENV, worker_threads

if TYPE_CHECKING:
    from .probe import VideoInfo


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_command(input_offset: float = 0.0, overwrite: bool = True) -> list[str]:
    """The start of an ffmpeg command: quiet (errors only, read from its stderr), never
    reading the terminal, overwriting its output file (``overwrite``); with ``input_offset``
    (seconds, when not 0) added to the times of the input that follows."""
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error"] + (["-y"] if overwrite else [])
    if input_offset:
        cmd += ["-itsoffset", f"{float(input_offset):.9f}"]
    return cmd


def start_times(source: VideoInfo | None, container: str | None = None) -> tuple[float, float | None]:
    """Where the input's video starts, to put the output's video back there against the
    streams copied from the input: ``(shift, first)``, ``shift`` the file's start time (the
    copied streams are moved back by it, or on by it when negative: an MPEG-TS whose clock
    wrapped starts before 0, its frames before the wrap too), ``first`` the time of the
    first video packet (None when the packets' times are unknown). AVI stores no start times
    and starts every stream together: ``shift`` is then the first frame's time in the file."""
    shift = source.file_start if source is not None else 0.0
    first = source.packets.times[0] if source is not None and source.packets else None
    if container == "avi" and first is not None:
        shift = first + source.file_start
    return shift, first


# The lines ffmpeg prints after the error itself, whatever it was.
_AFTERMATH = re.compile(r"Conversion failed|Nothing was written into output file|Task finished with error code|"
                        r"Terminating thread with return code|Error (?:closing file|writing trailer|while filtering|"
                        r"while processing|submitting|muxing a packet|sending frames|initializing output)|"
                        r"Last message repeated|Could not open encoder before EOF|Error while opening encoder|"
                        r"Could not write header")  # fmt: skip
# The words of a line that says what went wrong (the encoder's or the muxer's own message).
_CAUSE = re.compile(r"[Ii]nvalid|[Uu]nsupported|not supported|[Cc]annot|[Cc]ould not|No such|incompatible|"
                    r"not found|[Ff]ailed|[Ee]rror|[Tt]oo (?:large|small|many)|No space|[Pp]ermission denied")  # fmt: skip


def ffmpeg_cause(lines: list[str]) -> str:
    """Of ffmpeg's last lines, the one that says why it failed: the last naming a cause
    (:data:`_CAUSE`) that is not one of the lines every failure ends with, else the last of
    those, else the last line."""
    told = [line for line in lines if not _AFTERMATH.search(line) and not line.startswith(("frame=", "size="))]
    causes = [line for line in told if _CAUSE.search(line)]
    return re.sub(r" @ 0x[0-9a-f]+", "", (causes or told or lines or [""])[-1])  # "[mp4 @ 0x55f0...]" as "[mp4]"


class StderrTail:
    """Drain a subprocess's stderr in a thread, keeping its last lines."""

    def __init__(self, stream, keep: int = 30, ignore: re.Pattern | None = None) -> None:
        """``ignore``: lines not kept (nor the "Last message repeated" line after one), as
        they arrive: a stream of them never pushes out the lines that matter."""
        self.lines: deque[str] = deque(maxlen=keep)
        self._ignore = ignore
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()

    def _run(self, stream) -> None:
        ignored = False
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf8", errors="replace").strip()
            if line:
                if os.environ.get(DEBUG_ENV):  # --debug: ffmpeg's own messages too
                    print(f"ffmpeg: {line}", file=sys.stderr, flush=True)
                if self._ignore is not None and (self._ignore.search(line)
                                                 or (ignored and line.startswith("Last message repeated"))):  # fmt: skip
                    ignored = True
                    continue
                ignored = False
                self.lines.append(line)
        stream.close()

    def join(self) -> None:
        self._thread.join(timeout=5)

    def summary(self) -> str:
        """The line that says why ffmpeg failed: the last one that is not one of the lines
        every failure ends with ("Conversion failed!", "Nothing was written into output
        file ...", the threads' and muxer's closing errors), else the last line."""
        return ffmpeg_cause(list(self.lines))


def failure_message(name: str, detail: str, code: int | None, doing: str, summary: str) -> str:
    """One line saying why ffmpeg failed ``doing`` (writing, decoding) ``name``."""
    if "No space left" in detail:
        return f"no space left on the device while writing {name}: free some space and retry"
    if "File too large" in detail or code == -signal.SIGXFSZ:
        return f"{name} grew past the file size limit of this system or shell (ulimit -f)"
    if code is not None and code < 0:
        oom = " (by the system, most likely for lack of memory)" if code == -signal.SIGKILL else ""
        return f"ffmpeg was killed by signal {-code}{oom} while {doing} {name}"
    return f"ffmpeg failed while {doing} {name}: {summary[:200] or 'unknown error'}"


def pipe_for_child() -> tuple[int, int]:
    """``os.pipe()`` whose two ends are above the standard streams (3 and up), for a pipe
    handed to ffmpeg by number (``pipe:N`` with ``pass_fds``): a process started with
    stdin or stdout closed gets 0 or 1 from ``os.pipe()``, which in ffmpeg would name its
    own stdin or stdout (the frames' pipe) and mix the two streams."""
    return tuple(_above_standard(fd) for fd in os.pipe())  # type: ignore[return-value]


def _above_standard(fd: int) -> int:
    if fd > 2:
        return fd
    import fcntl

    try:
        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    finally:
        os.close(fd)


def thread_args() -> list[str]:
    """ffmpeg's thread count: a worker's share of the cores, else ffmpeg's default (all)."""
    n = worker_threads()
    return ["-threads", str(n)] if n else []


# Demuxers that open what an input names (other files, URLs, scripts): playlists (HLS, DASH),
# file lists (ffconcat), compositions (IMF), session descriptions (SDP, RTP, RTSP, SAP),
# scripts (AviSynth, VapourSynth), disc structures. A video file never needs them.
REFERENCING_DEMUXERS = frozenset({"hls", "dash", "concat", "imf", "sdp", "rtp", "rtsp", "sap", "avisynth",
                                  "vapoursynth", "dvdvideo", "bluray"})  # fmt: skip


def _listing(option: str) -> list[str]:
    """The lines of the bundled ffmpeg's table ``option`` (``-demuxers``, ``-codecs``) under its
    header's dashes: each a flags column, then a name."""
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", option], capture_output=True, text=True,
                         timeout=30).stdout  # fmt: skip
    return out.split("---", 1)[-1].splitlines()


@functools.lru_cache(maxsize=1)
def file_demuxers() -> str:
    """The bundled ffmpeg's demuxers, less devices and :data:`REFERENCING_DEMUXERS`, as
    ``-format_whitelist`` takes them."""
    names = []
    for line in _listing("-demuxers"):  # " D d lavfi   Libavfilter ...": flags, names
        flags, rest = line[1:4], line[4:].split()
        if flags.startswith("D") and "d" not in flags and rest:
            names += [name for name in rest[0].split(",") if name not in REFERENCING_DEMUXERS]
    return ",".join(names)


@functools.lru_cache(maxsize=1)
def _decodable_codecs() -> frozenset[str]:
    fields = (line.split() for line in _listing("-codecs"))  # " DEA.L. aac  AAC ...": flags, name
    return frozenset(f[1] for f in fields if len(f) > 1 and f[0].startswith("D"))


def decodable(codec: str | None) -> bool:
    """The bundled ffmpeg can decode ``codec`` (ffmpeg knows some it cannot: Apple's APAC)."""
    return codec in _decodable_codecs()


def read_header(path: str | os.PathLike, timeout: float = 120) -> str:
    """What ``ffmpeg -i`` prints of a user's file (or a part vidanon wrote): its header, the
    streams' lines, as :func:`vidanon.media.streams.parse_header` reads them."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", *input_args(path)], capture_output=True,
                          timeout=timeout)  # fmt: skip
    return proc.stderr.decode("utf8", errors="replace")


def input_args(path: str | os.PathLike) -> list[str]:
    """``-i`` for a user's file: named as a local file (``file:``, so that ``pipe:0.mp4``, ``-``
    or ``concat:a|b`` are file names, not URLs), read through the file protocol only and by
    a demuxer that does not follow references to other files (a playlist is refused)."""
    return ["-protocol_whitelist", "file", "-format_whitelist", file_demuxers(), "-i", file_url(path)]


def file_url(path: str | os.PathLike) -> str:
    """A local path as ffmpeg must read it: never as a URL or a protocol."""
    return f"file:{os.fspath(path)}"
