"""What goes into the output besides the video: the stream plan per container.

Audio is copied bit for bit when the container takes its codec (else re-encoded);
subtitles, fonts and chapters are carried where the container takes them; metadata
follows the policy of :func:`vidanon.media.streams.split_metadata`; whatever is left
out is reported."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OutputError
from . import METADATA_POLICIES
from .ffmpeg import decodable, input_args
from .layouts import audio_layout, channel_count, remix_layout
from .probe import VideoInfo
from .streams import TEXT_SUBS, split_metadata

CONTAINERS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
    ".gif": "gif",
}


# Audio codecs each container takes as they are; anything else is re-encoded.
_AUDIO_COPY = {
    "mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
    "mov": {"aac", "mp3", "alac", "ac3", "eac3", "adpcm_ima_qt", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be",
            "pcm_s32le", "pcm_s32be", "pcm_f32le", "pcm_f32be", "pcm_f64le", "pcm_f64be", "pcm_u8", "pcm_s8",
            "pcm_alaw", "pcm_mulaw", "apple_apac", "amr_nb", "amr_wb"},  # AMR: 3GP phone and call recordings
    "matroska": None,  # anything with a Matroska or a WAV tag: all but _MATROSKA_REFUSES
    "webm": {"opus", "vorbis"},
    "avi": {"mp3", "mp2", "ac3", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_f64le", "pcm_u8", "pcm_alaw",
            "pcm_mulaw", "adpcm_ima_wav", "adpcm_ms"},
}


# Audio codecs with neither a Matroska nor a usable WAV tag (ffmpeg refuses them): QuickTime's
# own (Apple's APAC too), Flash Video's, the PCM of Blu-ray (and AVCHD), DVD, D-Cinema and
# broadcast (SMPTE 302M) streams, and codecs ffmpeg does not know ("none").
_MATROSKA_REFUSES = {"adpcm_ima_qt", "pcm_s8", "pcm_f32be", "pcm_f64be", "mace3", "mace6", "gsm", "apple_apac",
                     "nellymoser", "adpcm_swf", "adpcm_argo", "comfortnoise", "pcm_s16le_planar", "pcm_bluray",
                     "pcm_dvd", "pcm_s24daud", "s302m", "none"}  # fmt: skip


_AUDIO_ENCODER = {"mp4": "aac", "mov": "aac", "matroska": "aac", "webm": "libopus", "avi": "libmp3lame"}
_ENCODED_AS = {"aac": "AAC", "libopus": "Opus", "libmp3lame": "MP3"}  # as the warning names them


# PCM a container does not take in its byte order (or signedness) is written as this PCM of
# the same samples, where the container takes it, instead of a lossy encoder; the PCM of discs
# and broadcast streams (_STREAM_PCM), which only they hold, as the little-endian PCM of its
# depth ("s32 (24 bit)" in ffmpeg's line: pcm_s24le).
_SAME_PCM = {"pcm_s16be": "pcm_s16le", "pcm_s24be": "pcm_s24le", "pcm_s32be": "pcm_s32le", "pcm_f32be": "pcm_f32le",
             "pcm_f64be": "pcm_f64le", "pcm_s8": "pcm_u8", "pcm_s16le_planar": "pcm_s16le"}  # fmt: skip
_STREAM_PCM = {"pcm_bluray", "pcm_dvd", "s302m"}


# Audio starting this many seconds before or after the first frame is trimmed or padded to
# start with it in AVI (copied audio starts with the first frame there, whatever its time).
_AVI_SYNC = 0.02


def takes_audio(container: str, codec: str | None) -> bool:
    """``container`` holds audio of ``codec`` as it is."""
    copyable = _AUDIO_COPY[container]
    return codec not in _MATROSKA_REFUSES if copyable is None else codec in copyable


def audio_codec(container: str, codec: str | None, line: str = "") -> str:
    """How an audio stream of ``codec`` (``line``: ffmpeg's line of it) goes into ``container``:
    "copy", or the encoder it is re-encoded with (the same samples as another PCM where the
    container takes one)."""
    if takes_audio(container, codec):
        return "copy"
    same = _SAME_PCM.get(codec or "")
    if codec in _STREAM_PCM:
        bits = re.search(r"\((\d+) bit\)", line)
        depth = int(bits.group(1)) if bits else 32 if ", s32" in line else 16
        same = "pcm_s16le" if depth <= 16 else "pcm_s24le" if depth <= 24 else "pcm_s32le"
    return same if same and takes_audio(container, same) else _AUDIO_ENCODER[container]


DEFAULT_CODEC = {"webm": "libvpx-vp9", "gif": "gif"}


# MOV stores a language as a Macintosh language code, which ffmpeg finds by one spelling of
# each language only: the others of ISO 639-2 (bibliographic or terminology) are lost unless
# given as that one.
_MOV_LANGUAGE = {"deu": "ger", "fre": "fra", "nld": "dut", "swe": "sve", "zho": "chi", "ell": "gre", "isl": "ice",
                 "sqi": "alb", "rum": "ron", "cze": "ces", "slo": "slk", "mkd": "mac", "hye": "arm", "kat": "geo",
                 "bod": "tib", "mya": "bur", "msa": "may", "cym": "wel", "eus": "baq", "gle": "iri", "fas": "per",
                 "nob": "nor", "nno": "nor"}  # fmt: skip


# Subtitles: text formats (TEXT_SUBS) are converted to the one the container takes; pictures
# (DVD, Blu-ray, DVB) are copied into Matroska only.
_SUB_CODEC = {"mp4": "mov_text", "mov": "mov_text", "webm": "webvtt", "matroska": None, "avi": False, "gif": False}


_CHAPTERS = {"mp4", "mov", "matroska", "webm"}


# Encoders that store odd sizes in 4:2:0 (H.264 and HEVC cannot: their chroma is cropped in pairs).
ODD_420 = {"libvpx-vp9", "libvpx", "libaom-av1", "libsvtav1", "librav1e"}


# Encoders that write 10-bit 4:2:0 (what a 10-bit input keeps).
DEEP_420 = {"libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1", "librav1e", "libkvazaar"}


# ffmpeg's names for colour matrices in the scale filter.
SCALE_MATRIX = {"bt709": "bt709", "bt2020nc": "bt2020", "bt2020c": "bt2020", "bt2020": "bt2020",
                 "smpte170m": "smpte170m", "bt470bg": "bt470", "fcc": "fcc", "smpte240m": "smpte240m"}


# Colour matrices swscale cannot convert ("Impossible to convert between the formats": such a
# file had no decodable frame) and zimg can: the reader converts their frames to RGB with zscale,
# and the writer, whose conversion back is swscale's, writes the matrix beside each (the same
# primaries and transfer: the same colours, other numbers); a chroma-derived matrix is the
# BT.2020 one under BT.2020 primaries, else BT.709's.
ZIMG_MATRICES = {"ycgco": "bt709", "bt2020c": "bt2020nc", "ictcp": "bt2020nc", "chroma-derived-nc": "bt709",
                 "chroma-derived-c": "bt709"}  # fmt: skip


# An MPEG-TS joined end to end (`cat a.ts b.ts`, a dashcam's minutes) restarts its clock: copied
# with the file's own times (-copyts), its audio stopped at the first restart. Each copied audio
# packet is put after the one before it by their difference, or by its own duration where the
# clock went back (a restart): the audio continues as ffmpeg continues the video there.
CONTINUED = "setts=ts=if(eq(N\\,0)\\,PTS\\,PREV_OUTPTS+if(lt(PTS\\,PREV_INPTS)\\,DURATION\\,PTS-PREV_INPTS))"


def zimg_reading(space: str | None, primaries: str | None, transfer: str | None) -> str:
    """zscale's options reading frames of one of :data:`ZIMG_MATRICES`: zimg needs their
    primaries and transfer, which many files leave unsaid ("invalid colorspace definition"):
    BT.2020's primaries for BT.2020c and ICtCp, else BT.709's; PQ for ICtCp, else BT.709's
    transfer (the same curve as BT.2020's); kept as they are through the conversion."""
    p = primaries and "input" or ("2020" if space in ("bt2020c", "ictcp") else "709")
    t = transfer and "input" or ("smpte2084" if space == "ictcp" else "709")
    said = "" if p == "input" else f"primariesin={p}:"
    said += "" if t == "input" else f"transferin={t}:"
    return f"{said}primaries={p}:transfer={t}"


def written_matrix(space: str | None, primaries: str | None) -> str | None:
    """The matrix an output of an input in ``space`` is written in (:data:`ZIMG_MATRICES`)."""
    if space in ("chroma-derived-nc", "chroma-derived-c") and primaries == "bt2020":
        return "bt2020nc"
    return ZIMG_MATRICES.get(space or "", space)


def container_of(path: Path) -> str:
    fmt = CONTAINERS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(CONTAINERS))
        raise OutputError(f"output {path} has an unknown container extension; use one of {known}")
    return fmt


@dataclass
class StreamPlan:
    """What besides the video goes into an output: ffmpeg arguments and what is left out."""

    inputs: list[str] = field(default_factory=list)  # "-i" and its options
    args: list[str] = field(default_factory=list)  # maps, codecs, metadata (after the video's map)
    left_out: list[str] = field(default_factory=list)  # one phrase per kind of thing
    other_videos: list[str] = field(default_factory=list)  # the input's video streams but the one anonymized
    main_video: str = ""  # the one anonymized, as other_videos names them
    covers: int = 0  # cover pictures (attached pictures), never written: they are not anonymized
    silent: list[str] = field(default_factory=list)  # audio streams of no channels (no packets: a dashcam's muted TS)
    data: list[str] = field(default_factory=list)  # data streams (telemetry), never copied
    telemetry: list[str] = field(default_factory=list)  # subtitle streams that are a GPS log, left out unless kept
    other_programmes: list[str] = field(default_factory=list)  # an MPEG-TS's streams of other channels than the video's
    # a kept tag of the file is a QuickTime key (com.apple.quicktime.title as iPhones write it,
    # com.android.capture.fps as Android phones do): MOV/MP4 write such keys only as QuickTime
    # metadata (use_metadata_tags), else drop them; every tag of the file is then written so
    mdta: bool = False
    metadata_removed: list[str] = field(default_factory=list)
    audio: int = 0
    reencoded: list[tuple[str, str]] = field(default_factory=list)  # (input codec, encoder) of each audio re-encoded

    def warning(self, suffix: str) -> str | None:
        """The one line saying what the output (its extension ``suffix``) could not hold as
        it is: what was left out, what was re-encoded; None when everything was kept as it is."""
        said = [f"left out: {'; '.join(self.left_out)}"] if self.left_out else []
        targets = dict.fromkeys(encoder for _, encoder in self.reencoded)
        coded = []
        for target in targets:
            codecs = [codec for codec, encoder in self.reencoded if encoder == target]
            name = _ENCODED_AS.get(target) or f"{target}, the same samples"
            coded.append(f"{len(codecs)} audio stream{'s' if len(codecs) > 1 else ''} "
                         f"({', '.join(dict.fromkeys(codecs))} to {name})")  # fmt: skip
        said += [f"re-encoded: {'; '.join(coded)}"] if coded else []
        parts = []  # what is not the container's doing first: one video stream is anonymized and written
        if self.other_videos:
            n = len(self.other_videos)
            parts.append(f"one video stream was anonymized ({self.main_video}); the input's other video "
                         f"stream{'s' if n > 1 else ''} ({', '.join(self.other_videos)}) {'are' if n > 1 else 'is'} "
                         "left out")  # fmt: skip
        if self.covers:
            parts.append(f"{'the cover picture is' if self.covers == 1 else f'{self.covers} cover pictures are'} "
                         "left out (vidanon does not anonymize pictures attached to a video)")  # fmt: skip
        if self.other_programmes:
            parts.append(f"the input's other programmes (broadcast channels) are left out: "
                         f"{', '.join(self.other_programmes)}")
        if self.data:
            parts.append(f"{_streams('the', 'data', self.data, 'is', 'are')} left out (vidanon copies no data "
                         "streams: a camera's telemetry may hold where it was)")  # fmt: skip
        if self.telemetry:  # (the option as the caller spells it)
            from ..options import spell

            parts.append(f"{_streams('the', 'subtitle', self.telemetry, 'is', 'are')} GPS telemetry (where it was "
                         f"shot): left out, as the place tags are ({spell('{metadata=keep}')} keeps it)")  # fmt: skip
        if self.silent:
            parts.append(f"{_streams('an', 'audio', self.silent, 'holds', 'hold')} no sound (0 channels): left out")
        if said:
            parts.append(f"{suffix} cannot hold everything of the input as it is; {'; '.join(said)}")
        return "; ".join(parts) or None


# The file's tags the MP4 and MOV muxers write in their own boxes (read back by ffmpeg as they
# were); any other (a camera's or an editor's own: "note", and "description" in a MOV) they drop
# unless told to write QuickTime metadata, which then holds every tag, the title too (players
# that read the title's own box, iTunes-style, no longer find it): done where the file has
# QuickTime keys (_QUICKTIME_KEYS: a phone's own title is one) or with --keep-metadata, else the
# tags dropped are said.
_QUICKTIME_KEYS = ("com.apple.quicktime.", "com.android.")
_MUXER_TAGS = {
    "mp4": {"title", "artist", "album_artist", "album", "composer", "date", "genre", "comment", "copyright",
            "description", "synopsis", "show", "episode_id", "network", "lyrics", "grouping", "keywords", "track",
            "disc", "compilation", "media_type", "hd_video", "gapless_playback", "creation_time", "encoder"},
    "mov": {"title", "artist", "album", "comment", "copyright", "date", "genre", "creation_time", "encoder"},
}


def _streams(article: str, kind: str, names: list[str], one: str, many: str) -> str:
    """"the data stream of the input (gpmd) is", "2 audio streams of the input (aac, aac) hold"."""
    n = len(names)
    return (f"{article if n == 1 else n} {kind} stream{'s' if n > 1 else ''} of the input ({', '.join(names)}) "
            f"{one if n == 1 else many}")


_NO_CHANNELS = re.compile(r"\b0 channels\b")


def plan_streams(container: str, source: VideoInfo | None, audio: bool, metadata: str, index: int = 1,
                 shift: float = 0.0) -> StreamPlan:  # fmt: skip
    """Arguments that take audio, subtitles, fonts, chapters and metadata of ``source``
    (input ``index`` of the ffmpeg command; input 0 gives the video) into ``container``."""
    plan = StreamPlan()
    if metadata not in METADATA_POLICIES:
        raise ValueError(f"unknown metadata policy {metadata!r}")
    chapters = "-1"
    if source is None:
        plan.args = ["-map_metadata:g", "-1", "-map_metadata:s", "-1", "-map_chapters", "-1"]
        return plan
    header = source.header
    if header is None:  # not probed by this module: audio only, as it is
        if audio and source.has_audio and container == "gif":  # a GIF holds pictures only
            plan.left_out.append(f"1 audio stream ({source.audio_codec or '?'})")
        elif audio and source.has_audio:
            codec = audio_codec(container, source.audio_codec)
            plan.inputs = input_args(source.path)
            plan.args = ["-map", f"{index}:a?", "-c:a", codec]
            plan.audio = 1
            plan.reencoded = [] if codec == "copy" else [(source.audio_codec or "?", codec)]
        plan.args += ["-map_metadata:g", "-1", "-map_metadata:s", "-1", "-map_chapters", "-1"]
        return plan
    inputs = ["-itsoffset", f"{-shift:.9f}"] if shift else []
    inputs += input_args(source.path)
    maps: list[str] = []
    out_kind = {"audio": 0, "subtitle": 0, "attachment": 0}
    removed: list[str] = []
    left = {"audio": [], "subtitle": [], "attachment": [], "data": [], "surround": [], "downmix": [],
            "early audio": []}  # fmt: skip

    def keep_tags(spec: str, tags: dict[str, str], language: str | None) -> None:
        kept, gone = split_metadata(tags, metadata)
        removed.extend(gone)
        if "name" in kept and "title" not in kept:  # an MP4/MOV track's title, as ffmpeg reads it and not writes it
            kept["title"] = kept.pop("name")
        for key, value in kept.items():
            maps.extend([f"-metadata:s:{spec}", f"{key}={value}"])
        if language and language != "und" and metadata != "strip":
            language = _MOV_LANGUAGE.get(language, language) if container == "mov" else language
            maps.extend([f"-metadata:s:{spec}", f"language={language}"])

    channel = set(header.video.programs) if header.video is not None else set()  # the video's programmes
    for s in header.streams:
        if s.kind in ("audio", "subtitle") and channel and s.programs and not channel & set(s.programs):
            plan.other_programmes.append(f"{s.kind} ({s.codec or '?'})")  # another broadcast channel's
            continue
        if s.kind == "audio":
            if not audio:
                continue
            if container == "gif":  # a GIF holds pictures only
                left["audio"].append(s.codec or "?")
                continue
            if _NO_CHANNELS.search(s.line):  # declared, never filled: no muxer takes it ("sample rate not set")
                plan.silent.append(s.codec or "?")
                continue
            k = out_kind["audio"]
            codec = audio_codec(container, s.codec, s.line)
            if codec != "copy" and not decodable(s.codec):  # nothing to re-encode it from
                tag = re.match(r"none \((\S+) /", s.line)  # "none (zzzz / 0x7A7A7A7A)": a codec ffmpeg does not know
                left["audio"].append(f"{s.codec}, which ffmpeg cannot decode" if s.codec not in (None, "none") else
                                     f"'{tag.group(1) if tag else '?'}', a codec ffmpeg does not know")  # fmt: skip
                continue
            lead = (s.start or 0.0) - shift  # after the first frame (ffmpeg prints no start of 0)
            if container == "avi" and abs(lead) > _AVI_SYNC and decodable(s.codec):  # AVI starts every stream together
                codec = s.codec if codec == "copy" and (s.codec or "").startswith("pcm_") else codec
                codec = _AUDIO_ENCODER[container] if codec == "copy" else codec
                if lead < 0:
                    left["early audio"].append(f"{-lead:.2f} s")
            maps += ["-map", f"{index}:{s.index}", f"-c:a:{k}", codec]
            if codec != "copy":
                plan.reencoded.append((s.codec or "?", codec))
            remix = remix_layout(codec, s.line)
            steps = [f"aformat=channel_layouts={remix}"] if remix else []
            if remix and channel_count(s.line) > 8:
                left["downmix"].append((audio_layout(s.line), _ENCODED_AS[codec]))
            if container == "avi" and codec != "copy":  # padded or trimmed to start with the first frame
                steps.append("aresample=first_pts=0")
            if source.clock_restarts:  # see CONTINUED: copied, its packets; re-encoded, its samples
                steps[:0] = [] if codec == "copy" else ["asetpts=if(eq(N\\,0)\\,PTS\\,STARTPTS+N/SR/TB)"]
                maps += [f"-bsf:a:{k}", CONTINUED] if codec == "copy" else []
            if steps:
                maps += [f"-filter:a:{k}", ",".join(steps)]
            if codec == "libmp3lame" and channel_count(s.line) > 2:  # AVI: MP3 holds two channels at most
                left["surround"].append(audio_layout(s.line) or "surround")
            keep_tags(f"a:{k}", s.metadata, s.language)
            out_kind["audio"] += 1
        elif s.kind == "subtitle":
            if s.index in source.telemetry and metadata != "keep":  # a drone's flight log: where it was
                plan.telemetry.append(s.codec or "?")
                continue
            target = _SUB_CODEC[container]
            text = s.codec in TEXT_SUBS
            if target is False or (target is not None and not text):
                left["subtitle"].append(s.codec or "?")
                continue
            if target is None:  # Matroska: as it is (mov_text is MP4's own: to SubRip)
                codec = "srt" if s.codec == "mov_text" else "copy"
            else:
                codec = "copy" if s.codec == target else target
            k = out_kind["subtitle"]
            maps += ["-map", f"{index}:{s.index}", f"-c:s:{k}", codec]
            keep_tags(f"s:{k}", s.metadata, s.language)
            out_kind["subtitle"] += 1
        elif s.kind == "attachment":
            if container != "matroska":
                left["attachment"].append(s.metadata.get("filename") or s.codec or "?")
                continue
            maps += ["-map", f"{index}:{s.index}"]
            k = out_kind["attachment"]
            for key in ("filename", "mimetype"):
                if key in s.metadata:
                    maps += [f"-metadata:s:t:{k}", f"{key}={s.metadata[key]}"]
            out_kind["attachment"] += 1
        elif s.kind == "video":
            if s.attached_pic:
                plan.covers += 1
            else:
                size = f" {s.size[0]}x{s.size[1]}" if s.size else ""
                if s is header.video:
                    plan.main_video = f"{s.codec or 'video'}{size}"
                else:
                    plan.other_videos.append(f"{s.codec or 'video'}{size}")
        elif header.chapters and "(text /" in s.line:
            continue  # QuickTime's chapter track: the chapters are carried by -map_chapters
        elif "(tmcd /" in s.line:
            # a MOV/MP4 timecode track: carried by the video's timecode tag (MOV and MP4 make
            # a timecode track of it again, Matroska and WebM keep it as a tag), or reported
            # with the metadata removed (--strip-metadata)
            if header.video is None or "timecode" not in header.video.metadata or container == "avi":
                left["data"].append("timecode")  # AVI has no timecode
        else:  # telemetry (GoPro's gpmd, an iPhone's mebx), a camera's own: never copied
            tag = re.search(r"\((\w{4}) / 0x", s.line)
            plan.data.append(tag.group(1) if tag and s.codec in (None, "none", "bin_data") else s.codec or s.kind)
    if out_kind["attachment"]:
        maps += ["-c:t", "copy"]
    video = header.video
    if video is not None:
        keep_tags("v:0", video.metadata, video.language)
        if "default" in video.disposition:
            maps += ["-disposition:v:0", "default"]
    kept, gone = split_metadata(header.metadata, metadata)
    removed.extend(gone)
    for key, value in kept.items():
        maps += ["-metadata", f"{key}={value}"]
        plan.mdta |= key.lower().startswith(_QUICKTIME_KEYS)
    if container in _MUXER_TAGS and not plan.mdta and metadata != "keep":  # (else all are written so)
        left["tags"] = [key for key in kept if key.lower() not in _MUXER_TAGS[container]]
    if header.chapters:
        if container in _CHAPTERS and metadata != "strip":
            chapters = str(index)
        elif metadata != "strip":
            left["chapters"] = [f"{header.chapters} chapters"]
    names = {"audio": "audio stream", "subtitle": "subtitle stream", "attachment": "attachment", "data": "data stream"}
    for kind, items in left.items():
        if items:
            if kind == "chapters":
                plan.left_out.append(f"{items[0]} ({container} has none)")
                continue
            if kind == "tags":
                from ..options import spell  # the option as the caller spells it

                plan.left_out.append(spell(f"{len(items)} tag{'s' if len(items) > 1 else ''} ({', '.join(items)}: "
                                           f"{container} keeps them only as QuickTime metadata, which "
                                           "{metadata=keep} writes)"))  # fmt: skip
                continue
            if kind == "downmix":
                for layout, name in items:
                    plan.left_out.append(f"the channels beyond 7.1 of {layout} audio ({name} holds 8: downmixed to 7.1)")
                continue
            if kind == "early audio":
                plan.left_out.append(f"the audio before the first frame ({', '.join(items)}: {container} starts "
                                     "every stream together)")  # fmt: skip
                continue
            if kind == "surround":
                plan.left_out.append(f"the surround channels of {', '.join(items)} audio (MP3 holds two: downmixed "
                                     "to stereo)")  # fmt: skip
                continue
            noun = names[kind] + ("s" if len(items) > 1 else "")
            plan.left_out.append(f"{len(items)} {noun} ({', '.join(items)})")
    plan.inputs = inputs
    plan.args = maps + ["-map_metadata:g", "-1", "-map_metadata:s", "-1", "-map_chapters", chapters]
    plan.metadata_removed = sorted(set(removed), key=str.lower)
    plan.audio = out_kind["audio"]
    return plan


def muxer_args(container: str, metadata: str, mdta: bool = False) -> list[str]:
    """The output muxer's options, for a run and a --segments join alike; ``mdta``: the
    kept tags include QuickTime keys (:attr:`StreamPlan.mdta`)."""
    if container in ("mp4", "mov"):
        return ["-movflags", "+faststart" + ("+use_metadata_tags" if metadata == "keep" or mdta else "")]
    if container == "avi":
        # AVI stores each frame's slot, no time: shifting every stream by the negative time of
        # the audio's first packet (MP3's encoder delay), as ffmpeg would, put every frame but
        # the first one or two slots late
        return ["-avoid_negative_ts", "disabled"]
    return []


def default_codec(container: str, source: VideoInfo | None = None) -> str:
    """libx264 (libvpx-vp9 for WebM, gif for a GIF); for a 10-bit input, the input's own family where
    the container takes it (HEVC stays HEVC, AV1 stays AV1), at 10 bits."""
    if source is not None and source.deep:
        family = {"hevc": "libx265", "vp9": "libvpx-vp9", "av1": "libsvtav1"}.get(source.video_codec or "")
        if family and not (container == "webm" and family == "libx265") and container not in ("avi", "gif"):
            return family
    return DEFAULT_CODEC.get(container, "libx264")
