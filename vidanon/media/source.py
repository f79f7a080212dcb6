"""Stage 0: frames in. A source is an iterable of ``(H, W, 3)`` uint8 RGB frames, in order.

* :class:`FileSource`: a video file, decoded by imageio-ffmpeg's ffmpeg (every frame once,
  exact count; see :mod:`vidanon.media.reader`), optionally only frames ``[skip, skip + limit)``;
  its frames are :class:`~vidanon.media.reader.Frame` arrays: 8-bit RGB for the detector, the
  tracker and the effects, carrying their presentation time and, for inputs of more than
  8 bits, the decoded 16-bit samples, for the sink;
* :class:`ClipSource`: a moviepy clip sampled at ``fps``: frame ``i`` is
  ``clip.get_frame(i / fps)``, for the ``int(duration * fps)`` frames that moviepy's own
  ``iter_frames`` / ``write_videofile`` produce, each with its :func:`fingerprint`.

:func:`batched` groups a source's frames for the detector.
"""

from __future__ import annotations

import zlib
from typing import Iterable, Iterator

import numpy as np

from .probe import VideoInfo
from .reader import Frame, FrameReader


class FileSource:
    """The frames of a video file (see :class:`~vidanon.media.reader.FrameReader`)."""

    def __init__(self, info: VideoInfo, skip: int = 0, limit: int | None = None) -> None:
        self.info = info
        self.skip = skip
        self._reader = FrameReader(info, skip=skip, limit=limit)

    def __iter__(self) -> Iterator[Frame]:
        return iter(self._reader)

    @property
    def frames_read(self) -> int:
        return self._reader.frames_read

    @property
    def decode_warning(self) -> str | None:
        return self._reader.decode_warning

    def close(self) -> None:
        self._reader.close()


class SizeGrew(Exception):
    """A frame of a :class:`ClipSource` larger than the size its frames are looked at at."""


class ClipSource:
    """The frames of a moviepy clip at ``fps`` (frame ``i`` at time ``i / fps``), all brought to
    ``size`` (height, width; default: the first frame's) for the detector: the boxes are
    fractions of the frame, so they fit each frame at its own size. A clip whose size changes
    (a zoom: ``resized(lambda t: ...)``) is never shrunk below a frame's own size: a larger
    frame raises :class:`SizeGrew`, and the pass is run again at :meth:`largest` size.
    :attr:`prints` holds the :func:`fingerprint` of every frame read, as the clip gave it."""

    def __init__(self, clip, fps: float, n_frames: int | None = None, size: tuple[int, int] | None = None) -> None:
        self.clip = clip
        self.fps = float(fps)
        self.n_frames = frame_count(clip.duration, self.fps) if n_frames is None else n_frames
        self.size = size
        self.frames_read = 0
        self.prints: list[int] = []

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(self.n_frames):
            frame = as_rgb8(self.clip.get_frame(i / self.fps))
            self.size = self.size or frame.shape[:2]
            self.prints.append(fingerprint(frame))
            if frame.shape[:2] != self.size:  # a clip whose size changes (a zoom: resized(lambda t: ...))
                if frame.shape[0] > self.size[0] or frame.shape[1] > self.size[1]:
                    raise SizeGrew(f"frame {i} is {frame.shape[1]}x{frame.shape[0]}")
                frame = resized(frame, self.size)  # the boxes are fractions of the frame
            self.frames_read += 1
            yield frame

    def largest(self) -> tuple[int, int]:
        """The largest height and width of the clip's frames at the pass's times (a zoom's)."""
        shapes = [np.shape(self.clip.get_frame(i / self.fps))[:2] for i in range(self.n_frames)]
        return max(h for h, _ in shapes), max(w for _, w in shapes)

    def close(self) -> None:
        pass


def fingerprint(frame: np.ndarray) -> int:
    """A checksum of ``frame``'s pixels and size (CRC-32: 1.5 ms for 1080p): which of the
    pictures a pass looked at a clip shows at a time (a slideshow's photos)."""
    return zlib.crc32(np.ascontiguousarray(frame), zlib.crc32(repr(frame.shape).encode()))


def frame_count(duration: float, fps: float) -> int:
    """Frames of a clip of ``duration`` seconds at ``fps``, as moviepy's ``iter_frames`` counts them."""
    return max(1, int(duration * fps))


def as_rgb8(frame) -> np.ndarray:
    """A moviepy frame as ``(H, W, 3)`` uint8 RGB (moviepy also allows float pixels, and grey:
    ``(H, W)``, ``(H, W, 1)`` or, from a grey PNG with alpha, ``(H, W, 2)``)."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = frame[:, :, None]
    if frame.shape[2] < 3:  # grey (and its alpha, left out as RGBA's is)
        frame = np.repeat(frame[:, :, :1], 3, axis=2)
    if frame.shape[2] > 3:
        frame = frame[:, :, :3]
    if frame.dtype != np.uint8:
        frame = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(frame)


def resized(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` brought to ``size`` (height, width) for the detector (bilinear, Pillow's)."""
    from PIL import Image

    return np.asarray(Image.fromarray(frame).resize((size[1], size[0]), Image.BILINEAR))


def batched(frames: Iterable[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    """Lists of ``size`` consecutive frames (the last one shorter)."""
    chunk: list[np.ndarray] = []
    for frame in frames:
        chunk.append(frame)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
