"""Helpers for the fidelity tests: generate small real-world-like inputs with the bundled
ffmpeg and measure what a file holds (packets, stream header, audio checksums)."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
from conftest import ffmpeg


def run_ffmpeg(*args) -> None:
    subprocess.run([ffmpeg(), "-v", "error", "-y", *map(str, args)], check=True)


def header(path: Path):
    from vidanon.media.streams import parse_header

    text = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    return parse_header(text)


def video_times(path: Path):
    """Presentation times (s) of the first video stream's packets, sorted, and its time base."""
    from vidanon.media.probe import probe

    packets = probe(Path(path)).packets  # from the file's start
    assert packets is not None, path
    return np.asarray(packets.times), packets.time_base


def stream_md5(path: Path, spec: str) -> str:
    """MD5 of the packets of stream ``spec`` (e.g. ``a:0``), copied: equal means bit for bit."""
    done = subprocess.run([ffmpeg(), "-v", "error", "-i", str(path), "-map", f"0:{spec}", "-c", "copy", "-f", "md5",
                           "-"], capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout.strip()


def stream_packets(path: Path, spec: str) -> list[str]:
    """Every packet of stream ``spec``, copied: timestamps, duration, size, checksum, flags
    (edit-list discards, skipped priming samples)."""
    done = subprocess.run([ffmpeg(), "-v", "error", "-i", str(path), "-map", f"0:{spec}", "-c", "copy", "-f",
                           "framecrc", "-"], capture_output=True, text=True, check=True)  # fmt: skip
    return [line for line in done.stdout.splitlines() if not line.startswith("#")]


def decoded_times(path: Path) -> list[float]:
    """Times of the frames the decoder produces (after edit lists)."""
    from vidanon.media.probe import probe
    from vidanon.media.reader import FrameReader

    return [float(f.pts) for f in FrameReader(probe(path))]


def assert_same_times(a, b, tick: float) -> None:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert len(a) == len(b), (len(a), len(b))
    worst = float(np.max(np.abs(a - b))) if len(a) else 0.0
    assert worst <= tick + 1e-9, f"timestamps differ by up to {worst:.6f} s (tick {tick:.6f} s)"


def tick_of(*time_bases: Fraction) -> float:
    return float(max(time_bases))


def round_trip(src: Path, dst: Path, **kwargs):
    """Decode ``src`` and encode every frame unchanged to ``dst`` (the video layer only)."""
    from vidanon.media.plan import container_of
    from vidanon.media.probe import probe
    from vidanon.media.reader import FrameReader
    from vidanon.media.writer import VideoWriter

    info = probe(src)
    writer = VideoWriter(dst, info.width, info.height, info.fps, container_of(dst), audio_from=info, source=info,
                         **kwargs)  # fmt: skip
    reader = FrameReader(info)
    try:
        for frame in reader:
            writer.write(frame)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return info, writer


def native_planes(path: Path, frame: int = 0) -> bytes:
    """The raw samples of one decoded frame in the stream's own pixel format (no conversion)."""
    return subprocess.run([ffmpeg(), "-v", "error", "-i", str(path), "-vf", f"select=eq(n\\,{frame})", "-frames:v", "1",
                           "-f", "rawvideo", "-"], capture_output=True, check=True).stdout  # fmt: skip


def plane_y10(path: Path, width: int, height: int) -> np.ndarray:
    """The first frame's luma as 10-bit samples."""
    raw = subprocess.run([ffmpeg(), "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt",
                          "yuv420p10le", "-"], capture_output=True, check=True).stdout  # fmt: skip
    return np.frombuffer(raw[: width * height * 2], "<u2").reshape(height, width)


def clip(path: Path, size="64x48", rate="25", frames=20, audio=True, vcodec="libx264", vf=None, pix_fmt="yuv420p",
         extra=(), pre=()) -> Path:  # fmt: skip
    """A test pattern (and a tone of the same length), encoded as asked."""
    seconds = frames / float(Fraction(rate))
    w, h = (int(v) for v in size.split("x"))
    source = "testsrc" if w % 2 or h % 2 else "testsrc2"
    cmd = [*pre, "-f", "lavfi", "-i", f"{source}=size={size}:rate={rate}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds:.4f}"]
    cmd += ["-frames:v", str(frames)]
    if vf:
        cmd += ["-vf", vf]
    cmd += ["-c:v", vcodec, "-pix_fmt", pix_fmt]
    if vcodec == "libx265":
        cmd += ["-x265-params", "log-level=error"]
    if vcodec == "libsvtav1":
        cmd += ["-preset", "12", "-svtav1-params", "log-level=0"]
    if vcodec == "libvpx-vp9":
        cmd += ["-cpu-used", "8", "-deadline", "realtime"]
    if audio:
        cmd += ["-c:a", "libopus" if path.suffix == ".webm" else "aac"]
    run_ffmpeg(*cmd, *extra, path)
    return path
