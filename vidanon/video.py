"""Stage 0 and 4: reading frames and writing the anonymized video.

Probing uses moviepy 2.x's ffmpeg parser; frames stream through imageio-ffmpeg's
bundled ffmpeg binary (no system ffmpeg needed), in constant memory:

* the reader decodes the first video stream to raw RGB with ``-fps_mode passthrough``,
  so every decoded frame comes out exactly once (no frame duplicated or dropped to
  force a constant rate), rotated upright when the file carries rotation metadata;
* the writer encodes raw RGB from a pipe at the input's exact frame rate (a rational
  such as 30000/1001, never rounded), keeps the size (odd sizes are encoded 4:4:4
  rather than padded), and muxes every audio stream of the input, copied when the
  container accepts its codec and re-encoded otherwise;
* the output goes to a hidden temporary file beside the target that is renamed
  over the target only after ffmpeg has finished successfully.

moviepy's own ``FFMPEG_VideoReader`` repeats the last frame at the end of a stream
instead of reporting it, and its writer rounds the frame rate to two decimals; both
would break "same frames, same rate", which is why the streams are driven here.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import EncodeError, InputError, OutputError

CONTAINERS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
}
# Audio codecs each container takes as they are; anything else is re-encoded.
_AUDIO_COPY = {
    "mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
    "mov": {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le"},
    "matroska": None,  # anything
    "webm": {"opus", "vorbis"},
    "avi": {"mp3", "ac3", "pcm_s16le"},
}
_AUDIO_ENCODER = {"mp4": "aac", "mov": "aac", "matroska": "aac", "webm": "libopus", "avi": "libmp3lame"}
DEFAULT_CODEC = {"webm": "libvpx-vp9"}


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    """What the input holds, as far as the container tells before decoding."""

    path: Path
    width: int  # after rotation, as displayed
    height: int
    fps: Fraction
    duration: float
    n_frames: int  # an estimate from the duration; the decoder has the last word
    rotation: int
    has_audio: bool
    audio_codec: str | None
    video_codec: str | None
    variable_rate: bool = False  # the average rate differs from the stream's base rate

    @property
    def fps_float(self) -> float:
        return float(self.fps)


def rational_fps(fps: float) -> Fraction:
    """The exact rate behind a printed one: 29.97 -> 30000/1001, 25 -> 25."""
    if fps <= 0 or not np.isfinite(fps):
        raise ValueError("frame rate must be positive")
    ntsc = fps * 1.001
    if abs(ntsc - round(ntsc)) < 0.005 and abs(fps - round(fps)) > 0.005:
        return Fraction(round(ntsc) * 1000, 1001)
    return Fraction(fps).limit_denominator(1000)


def check_input(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"input {path} does not exist")
    if path.is_dir():
        raise InputError(f"input {path} is a directory, not a video file")
    if not os.access(path, os.R_OK):
        raise InputError(f"input {path} cannot be read (check its permissions)")
    if path.stat().st_size == 0:
        raise InputError(f"input {path} is empty")
    return path


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read the container's description of ``path`` (raises :class:`InputError`).

    ffmpeg prints the header once; moviepy's parser reads the streams from that text, and
    the rotation is taken from it too (ffmpeg 6+ prints it as a display matrix, which
    moviepy 2.2 does not parse).
    """
    from moviepy.video.io.ffmpeg_reader import FFmpegInfosParser

    path = check_input(path)
    try:
        proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                              capture_output=True, timeout=120)  # fmt: skip
        header = proc.stderr.decode("utf8", errors="replace")
        _refuse_still_image(path, header)
        infos = FFmpegInfosParser(header, str(path), check_duration=True).parse()
    except InputError:
        raise
    except Exception as exc:
        detail = (header if "header" in locals() else str(exc)).strip().splitlines()
        last = [line for line in detail if line.strip()][-1:] or ["unknown error"]
        raise InputError(f"input {path} is not a readable video ({last[0].strip()[:160]})") from None
    if not infos.get("video_found") or not infos.get("video_size"):
        what = "an audio-only file" if infos.get("audio_found") else "not a video"
        raise InputError(f"input {path} has no video stream ({what})")
    width, height = (int(v) for v in infos["video_size"])
    rotation = int(infos.get("video_rotation", 0) or 0) % 360 or _display_rotation(header)
    if rotation in (90, 270):
        width, height = height, width
    if width < 2 or height < 2:
        raise InputError(f"input {path} is {width}x{height}: frames must be at least 2x2 pixels")
    fps_value = infos.get("video_fps") or 0.0
    try:
        fps = rational_fps(float(fps_value))
    except (TypeError, ValueError):
        raise InputError(f"input {path} has no usable frame rate") from None
    duration = float(infos.get("video_duration") or infos.get("duration") or 0.0)
    variable = _variable_rate(header)
    n_frames = int(infos.get("video_n_frames") or round(duration * float(fps)))
    return VideoInfo(
        path=path,
        width=width,
        height=height,
        fps=fps,
        duration=duration,
        n_frames=max(n_frames, 0),
        rotation=rotation,
        has_audio=bool(infos.get("audio_found")),
        audio_codec=_stream_codec(infos, "audio"),
        video_codec=infos.get("video_codec_name"),
        variable_rate=variable,
    )


def _refuse_still_image(path: Path, header: str) -> None:
    demuxer = re.search(r"Input #0, (.+?), from ", header)
    if demuxer and (demuxer.group(1).endswith("_pipe") or demuxer.group(1) == "image2"):
        kind = demuxer.group(1).replace("_pipe", "").replace("image2", "image")
        raise InputError(f"input {path} is a still image ({kind}), not a video")


_ROTATION = re.compile(r"(?:rotation of|rotate\s*:)\s*(-?\d+(?:\.\d+)?)")


def _display_rotation(header: str) -> int:
    """Rotation of the first video stream from ffmpeg's header text."""
    video = header.split("Video:", 1)[-1]  # first video stream and what follows it
    match = _ROTATION.search(video)
    return int(round(float(match.group(1)))) % 360 if match else 0


_RATES = re.compile(r"(\d+(?:\.\d+)?) fps, (\d+(?:\.\d+)?)(k?) tbr")


def _variable_rate(header: str) -> bool:
    """True when ffmpeg reports an average rate ("fps") unlike the base rate ("tbr").

    Phones and screen recorders write variable-rate video; ffmpeg then prints the
    average over the file next to the rate its timestamps are counted in.
    """
    match = _RATES.search(header.split("Video:", 1)[-1])
    if not match:
        return False
    avg = float(match.group(1))
    base = float(match.group(2)) * (1000 if match.group(3) else 1)
    return avg > 0 and abs(base - avg) / avg > 0.01


def _stream_codec(infos: dict, kind: str) -> str | None:
    for inp in infos.get("inputs", []):
        for stream in inp.get("streams", []):
            if stream.get("stream_type") == kind:
                return stream.get("codec_name") or _codec_from_line(stream)
    return None


def _codec_from_line(stream: dict) -> str | None:
    line = stream.get("line") or ""
    return line.split(":")[0].strip() or None


class _StderrTail:
    """Drain a subprocess's stderr in a thread, keeping its last lines."""

    def __init__(self, stream, keep: int = 30) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()

    def _run(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf8", errors="replace").strip()
            if line:
                self.lines.append(line)
        stream.close()

    def join(self) -> None:
        self._thread.join(timeout=5)

    def summary(self) -> str:
        return self.lines[-1] if self.lines else ""


class FrameReader:
    """Every decoded frame of the first video stream, as ``(H, W, 3)`` uint8 RGB arrays."""

    def __init__(self, info: VideoInfo, skip: int = 0, limit: int | None = None) -> None:
        """``skip``: frames dropped inside ffmpeg (decoded, never converted or piped);
        ``limit``: at most this many frames are read after them."""
        self.info = info
        self.frames_read = 0
        self.skip = skip
        self.limit = limit
        select = ["-vf", f"select=gte(n\\,{int(skip)})"] if skip else []
        cmd = [
            ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", *_threads(),
            "-i", str(info.path),
            "-map", "0:v:0", "-an", "-sn", "-dn", *select,
            "-fps_mode", "passthrough",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
        ]  # fmt: skip
        self._frame_bytes = info.width * info.height * 3
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            bufsize=max(self._frame_bytes, 1 << 16),
        )  # fmt: skip
        self._stderr = _StderrTail(self._proc.stderr)
        self.decode_warning: str | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        h, w = self.info.height, self.info.width
        stdout = self._proc.stdout
        while self.limit is None or self.frames_read < self.limit:
            buf = stdout.read(self._frame_bytes)
            if len(buf) < self._frame_bytes:
                break
            self.frames_read += 1
            yield np.frombuffer(buf, np.uint8).reshape(h, w, 3)
        if self.limit is not None and self.frames_read == self.limit:
            self.close()  # the rest of the stream is not needed
            return
        code = self._proc.wait()
        self._stderr.join()
        if self.frames_read == 0:
            detail = self._stderr.summary() or "no frame could be decoded"
            raise InputError(f"input {self.info.path} has no decodable video frame ({detail[:160]})")
        if code != 0 or self._stderr.lines:
            self.decode_warning = self._stderr.summary()[:200] or f"ffmpeg exited with code {code}"

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()


def container_of(path: Path) -> str:
    fmt = CONTAINERS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(CONTAINERS))
        raise OutputError(f"output {path} has an unknown container extension; use one of {known}")
    return fmt


class VideoWriter:
    """Encode frames to ``path`` with ffmpeg, muxing the audio of ``audio_from``."""

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        fps: Fraction,
        container: str,
        codec: str | None = None,
        crf: int = 18,
        preset: str = "medium",
        audio_from: VideoInfo | None = None,
    ) -> None:
        self.path = path
        self.frames_written = 0
        codec = codec or DEFAULT_CODEC.get(container, "libx264")
        even = width % 2 == 0 and height % 2 == 0
        pix_fmt = "yuv420p" if even else "yuv444p"
        cmd = [
            ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
            "-r", f"{fps.numerator}/{fps.denominator}", "-i", "pipe:0",
        ]  # fmt: skip
        cmd += _audio_args(container, audio_from)
        cmd += ["-c:v", codec, *_threads()]
        if codec in ("libx264", "libx265"):
            cmd += ["-crf", str(crf), "-preset", preset]
        elif codec in ("libvpx-vp9", "libvpx"):
            cmd += ["-crf", str(crf), "-b:v", "0", "-row-mt", "1"]
        cmd += ["-pix_fmt", pix_fmt if codec != "libvpx" else "yuv420p"]
        if container in ("mp4", "mov"):
            cmd += ["-movflags", "+faststart"]
        cmd += ["-f", container, str(path)]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        self._stderr = _StderrTail(self._proc.stderr)

    def write(self, frame: np.ndarray) -> None:
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).data)
        except (BrokenPipeError, OSError):
            self._proc.wait()
            self._stderr.join()
            raise EncodeError(self._failure()) from None
        self.frames_written += 1

    def _failure(self) -> str:
        return _ffmpeg_failure(self.path.name, " ".join(self._stderr.lines), self._proc.returncode, "encoding",
                               self._stderr.summary())  # fmt: skip

    def close(self) -> None:
        """Finish the file; raises :class:`EncodeError` if ffmpeg did not succeed."""
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        code = self._proc.wait()
        self._stderr.join()
        if code != 0:
            raise EncodeError(self._failure())

    def abort(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        self._proc.wait()


def _ffmpeg_failure(name: str, detail: str, code: int | None, doing: str, summary: str) -> str:
    """One line saying why ffmpeg could not write ``name``."""
    if "No space left" in detail:
        return f"no space left on the device while writing {name}: free some space and retry"
    if "File too large" in detail or code == -signal.SIGXFSZ:
        return f"{name} grew past the file size limit of this system or shell (ulimit -f)"
    if code is not None and code < 0:
        return f"ffmpeg was killed by signal {-code} while {doing} {name}"
    return f"ffmpeg failed while {doing} {name}: {summary[:200] or 'unknown error'}"


THREADS_ENV = "VIDANON_THREADS"  # set in each worker of --jobs and each Ray task


def worker_threads() -> int | None:
    """The threads this process may use when it is one of several (its share of the
    cores, from ``VIDANON_THREADS``); None when it has the machine to itself."""
    value = os.environ.get(THREADS_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def _threads() -> list[str]:
    """ffmpeg's thread count: a worker's share of the cores, else ffmpeg's default (all)."""
    n = worker_threads()
    return ["-threads", str(n)] if n else []


def _audio_args(container: str, audio_from: VideoInfo | None) -> list[str]:
    """Input 0 gives the video; every audio stream of ``audio_from`` becomes input 1."""
    if audio_from is None or not audio_from.has_audio:
        return ["-map", "0:v:0"]
    copyable = _AUDIO_COPY[container]
    acodec = "copy" if copyable is None or audio_from.audio_codec in copyable else _AUDIO_ENCODER[container]
    return ["-i", str(audio_from.path), "-map", "0:v:0", "-map", "1:a?", "-c:a", acodec]


def count_packets(path: Path) -> int | None:
    """The number of video packets (= frames for progressive video) without decoding."""
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"]
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
    except OSError:
        return None
    found = re.findall(r"frame=\s*(\d+)", done.stderr)
    return int(found[-1]) if done.returncode == 0 and found else None


def join_parts(parts: list[Path], path: Path, container: str, audio_from: VideoInfo | None) -> None:
    """Concatenate encoded parts (same codec and settings) into ``path`` without
    re-encoding them, muxing the audio of ``audio_from`` as :class:`VideoWriter` does."""
    listing = path.with_name(f".{path.name}.parts.txt")
    lines = []
    for part in parts:
        quoted = str(part.resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'\n")
    listing.write_text("".join(lines), encoding="utf8")
    cmd = [
        ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "concat", "-safe", "0", "-i", str(listing),
    ]  # fmt: skip
    cmd += _audio_args(container, audio_from)
    cmd += ["-c:v", "copy"]
    if container in ("mp4", "mov"):
        cmd += ["-movflags", "+faststart"]
    cmd += ["-f", container, str(path)]
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
    finally:
        listing.unlink(missing_ok=True)
    if done.returncode != 0:
        detail = " ".join(done.stderr.split())
        raise EncodeError(_ffmpeg_failure(path.name, detail, done.returncode, "joining the parts of", detail[-200:]))


def temp_path_for(target: Path) -> Path:
    return target.with_name(f".{target.stem}.vidanon-{os.getpid()}.partial{target.suffix}")


def prepare_output(target: str | os.PathLike, input_path: Path, overwrite: bool) -> Path:
    """Check the output path before any work is done; create its folder if needed."""
    target = Path(target)
    container_of(target)
    if target.exists() and target.is_dir():
        raise OutputError(f"output {target} is a directory; give a file name such as {target / 'out.mp4'}")
    if target.resolve() == input_path.resolve() or (target.exists() and os.path.samefile(target, input_path)):
        raise OutputError("output and input are the same file; vidanon never overwrites its input")
    if target.exists() and not overwrite:
        raise OutputError(f"output {target} already exists; pass --overwrite to replace it")
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {parent}: {exc.strerror or exc}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to the output folder {parent} (check its permissions)")
    return target
