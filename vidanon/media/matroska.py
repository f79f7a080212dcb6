"""A minimal Matroska stream of raw frames (``V_UNCOMPRESSED``), each with its own time:
how the writer hands the encoder the input's timestamps (variable frame rates stay
variable, a video that starts after its audio still does)."""

from __future__ import annotations

import struct

NS = 1_000_000_000


def _vint(n: int) -> bytes:
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:
            return ((1 << (7 * length)) | n).to_bytes(length, "big")
    raise ValueError("EBML size too large")


def _el(ident: bytes, data: bytes) -> bytes:
    return ident + _vint(len(data)) + data


def _uint(v: int) -> bytes:
    return v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")


def mkv_header(width: int, height: int, deep: bool, frame_ns: int, equirectangular: bool = False) -> bytes:
    """A Matroska stream of uncompressed RGB frames (RGB24 or RGB48LE) timed in ns; each
    frame lasts ``frame_ns`` unless the next one starts earlier (the last one's duration:
    without it, MP4's edit list would end where the last frame starts, hiding it).
    ``equirectangular``: the frames are a 360-degree video's (a Projection element), which
    ffmpeg passes on, with the frames, to the encoder and the output's muxer."""
    ebml = _el(b"\x1a\x45\xdf\xa3", _el(b"\x42\x86", _uint(1)) + _el(b"\x42\xf7", _uint(1))
               + _el(b"\x42\xf2", _uint(4)) + _el(b"\x42\xf3", _uint(8)) + _el(b"\x42\x82", b"matroska")
               + _el(b"\x42\x87", _uint(4)) + _el(b"\x42\x85", _uint(2)))  # fmt: skip
    segment = b"\x18\x53\x80\x67" + b"\x01\xff\xff\xff\xff\xff\xff\xff"  # unknown size: a stream
    info = _el(b"\x15\x49\xa9\x66", _el(b"\x2a\xd7\xb1", _uint(1)))  # timestamps in nanoseconds
    video = _el(b"\xe0", _el(b"\xb0", _uint(width)) + _el(b"\xba", _uint(height))
                + _el(b"\x2e\xb5\x24", b"RGB0" if deep else b"RGB\x18")
                + (_el(b"\x76\x70", _el(b"\x76\x71", _uint(1))) if equirectangular else b""))  # fmt: skip
    track = _el(b"\xae", _el(b"\xd7", _uint(1)) + _el(b"\x73\xc5", _uint(1)) + _el(b"\x83", _uint(1))
                + _el(b"\x9c", _uint(0)) + _el(b"\x22\xb5\x9c", b"und") + _el(b"\x86", b"V_UNCOMPRESSED")
                + _el(b"\x23\xe3\x83", _uint(frame_ns)) + video)  # fmt: skip
    return ebml + segment + info + _el(b"\x16\x54\xae\x6b", track)


def mkv_frame_head(ns: int, size: int) -> bytes:
    """What precedes a frame of ``size`` bytes: a cluster of its own at ``ns`` (a cluster's
    time is unbounded, a block's only 16 bits) holding one block group: the frame's block,
    then its duration (:func:`mkv_frame_end`), sent once the next frame's time is known."""
    block_head = b"\x81" + struct.pack(">h", 0) + b"\x00"  # track 1, at the cluster's time; no lacing
    block = b"\xa1" + _vint(len(block_head) + size) + block_head
    group_size = len(block) + size + len(mkv_frame_end(0))
    group = b"\xa0" + _vint(group_size)
    body = _el(b"\xe7", _uint(ns)) + group
    return b"\x1f\x43\xb6\x75" + _vint(len(body) + group_size) + body + block


def mkv_frame_end(duration_ns: int) -> bytes:
    """What follows a frame: its block group's duration (always 8 bytes long, so that the
    group's size is known before the duration is: the time to the next frame, or the
    input's own last frame's duration; without it, the last frame lasted the track's
    default, one period of the average rate)."""
    return b"\x9b\x88" + int(duration_ns).to_bytes(8, "big")
