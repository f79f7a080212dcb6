"""Many videos, and long ones: batch mode, worker processes, time segments, Ray.

The unit of work is a :class:`Task`: one whole file, or one part (a range of frames) of
a long file. Tasks are independent, so they run anywhere: one after the other in this
process (the models load once), in ``--jobs N`` worker processes on this machine, or as
Ray tasks on a cluster. A segmented file is planned as K part tasks that each write a
part file; once all its parts are done the parts are joined without re-encoding
(ffmpeg's concat demuxer) and the input's audio is muxed in, into a temporary file that
is renamed over the target only when complete.

Parts are cut at frame numbers, not timestamps, so the output has exactly the input's
frames: each part decodes the input from its start and lets ffmpeg drop the frames
before the part (they are decoded but never converted or piped), then tracks
``CONTEXT`` frames before and after the part without writing them. The tracker of each
part is therefore warm at its first frame and its look-ahead reaches past its last, so
a face crossing a seam is hidden on both sides of it.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

from .console import count
from .errors import InputError, OutputError, VidanonError
from .media.paths import undo_folders
from .media.plan import CONTAINERS, container_of
from .photo import VIDEO_ONLY, is_photo, is_still
from .progress import FrameBar
from .workers import CONTEXT, Executor, InProcess, Processes, RayExecutor, Result, Task

# Extensions picked up when a folder is given (anything ffmpeg reads may still be named).
VIDEO_EXTENSIONS = {
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
    ".wmv", ".flv", ".3gp", ".ogv", ".gif",
    ".mxf", ".vob", ".dv", ".asf", ".f4v", ".3g2", ".mod", ".tod", ".y4m", ".divx", ".rm", ".rmvb", ".mjpeg",
    ".m2v", ".h264", ".264", ".hevc", ".h265", ".265", ".ivf", ".nut",  # camcorders', studios', raw streams
}  # fmt: skip
# Names other files share (a Go project's go.mod, a tracker's music .mod): taken as videos only when
# they start as an MPEG program stream (a JVC or Panasonic camcorder's SD .MOD) or a transport
# stream (JVC's HD .TOD: 188-byte packets, or 192 with a 4-byte time code first).
SNIFFED = {".mod", ".tod"}
# Pictures a folder may hold that vidanon does not read: left out of a folder's batch with a
# warning (a single one given by name is refused in one line).
UNREAD_PHOTOS = {".tif", ".tiff", ".bmp", ".heic", ".heif", ".avif", ".jxl", ".psd", ".dng", ".cr2", ".cr3",
                 ".nef", ".arw", ".raf", ".orf", ".rw2"}  # fmt: skip


MIN_PART = 2 * CONTEXT  # shorter parts are not worth a process


@dataclass(frozen=True)
class Job:
    """One input file and the output it becomes."""

    input: Path
    output: Path


class Failure(NamedTuple):
    """A file that failed: why, and the exit code a run of that file alone gives."""

    job: Job
    reason: str
    code: int = 1


@dataclass
class BatchSummary:
    done: list[tuple[Job, dict]] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    skipped: list[Job] = field(default_factory=list)
    seconds: float = 0.0

    def fail(self, job: Job, reason: str, code: int = 1) -> None:
        self.failed.append(Failure(job, reason, code))

    @property
    def frames(self) -> int:
        return sum(s["frames"] for _, s in self.done)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def plan_jobs(inputs: Iterable[str], output_dir: str, recursive: bool = False,
              missing: list[Path] | None = None, clashes: list[tuple[Job, str]] | None = None,
              left_out: list[Path] | None = None) -> list[Job]:  # fmt: skip
    """Map input files and folders to outputs under ``output_dir``.

    A folder contributes its video files (with ``recursive``, those of its sub-folders
    too, keeping their relative paths); a file given by name keeps its name. The
    output keeps the input's extension when vidanon can write that container, else
    becomes ``.mp4``. Raises :class:`VidanonError` when nothing is to be done or two
    inputs would write the same output. An input that does not exist is an error too,
    unless ``missing`` is given: it is then added to that list and the others planned;
    so are two inputs that would write the same output when ``clashes`` is given: both
    are added to it, with the reason, and the others planned. A folder's photos that vidanon
    does not read (:data:`UNREAD_PHOTOS`) are added to ``left_out`` when it is given.
    """
    inputs = list(inputs)
    out_root = Path(output_dir)
    if out_root.exists() and not out_root.is_dir():
        raise OutputError(f"output {out_root} is a file; give a folder for several inputs")
    suffix = out_root.suffix.lower()
    if not out_root.exists() and (suffix in VIDEO_EXTENSIONS or suffix in CONTAINERS or is_photo(out_root)):
        kind = "a photo" if is_photo(out_root) else "a video"
        raise OutputError(f"output {out_root} is named like {kind}, but the anonymized copies go into a "
                          "folder; give a folder name (it is created)")  # fmt: skip
    jobs: list[Job] = []
    for name in inputs:
        src = Path(name)
        if src.is_dir():
            if out_root.exists() and out_root.resolve() == src.resolve():
                raise OutputError(f"output folder {out_root} is the input folder: the anonymized copies would sit "
                                  "beside the originals under the same names; give another folder")  # fmt: skip
            found = sorted(p for p in (src.rglob("*") if recursive else src.iterdir()) if not _hidden_below(p, src))
            files = [p for p in found if _is_video(p)]
            if left_out is not None:
                left_out += [p for p in found if p.suffix.lower() in UNREAD_PHOTOS and not is_photo(p) and p.is_file()]
            if _inside(out_root, src):  # never pick up what an earlier run wrote into an output folder inside the input
                files = [p for p in files if not _inside(p, out_root)]
            jobs += [Job(p, output_name(out_root / p.relative_to(src), p)) for p in files]
        elif src.exists():
            jobs.append(Job(src, output_name(out_root / src.name, src)))
        elif missing is not None and len(inputs) > 1:
            missing.append(src)
        else:
            raise InputError(f"input {src} does not exist")
    if not jobs and missing:
        raise InputError(f"none of the inputs exist ({', '.join(map(str, missing))})")
    if not jobs and left_out:
        raise InputError(f"no file vidanon reads in {', '.join(map(str, inputs))}: {unread_note(left_out)}")
    if not jobs:
        raise InputError(f"no video or photo files found in {', '.join(map(str, inputs))}"
                         + ("" if recursive else " (use --recursive for sub-folders)"))  # fmt: skip
    seen: dict[Path, Path] = {}
    kept: list[Job] = []
    clashed: dict[Path, list[Job]] = {}  # output -> the inputs that would all write it
    read = {job.input.resolve(): job.input for job in jobs}
    for job in jobs:
        key = job.output.resolve()
        if key == job.input.resolve():
            raise OutputError(f"{job.input} would be written over itself in {out_root}; give another folder")
        if key in read:  # (an input folder inside the output folder: clips/clips/x.mp4 -> clips/x.mp4)
            reason = f"{job.input} would be written over the input {read[key]}; give another folder"
            if clashes is None:
                raise OutputError(reason)
            clashes.append((job, reason))
            continue
        if key in seen and os.path.samefile(seen[key], job.input):
            continue  # the same file named twice (a.mp4 a.mp4, or a file and its folder): done once
        if key in seen:
            if clashes is None:
                raise OutputError(f"{seen[key]} and {job.input} would both be written to {job.output}")
            clashed.setdefault(key, [next(j for j in kept if j.output.resolve() == key)]).append(job)
            continue
        seen[key] = job.input
        kept.append(job)
    for key, same in clashed.items():  # (clip.mp4 and clip.flv: both .mp4) neither is written, the others are
        names = " and ".join(str(j.input) for j in same)
        clashes += [(j, f"{names} would {'both' if len(same) == 2 else 'all'} be written to {j.output}; rename one")
                    for j in same]  # fmt: skip
        kept = [j for j in kept if j.output.resolve() != key]
    return kept  # (every input in a clash: each reported as failed by the caller)


def unread_note(paths: list[Path]) -> str:
    """What a batch says of a folder's photos it does not read (:data:`UNREAD_PHOTOS`)."""
    from .photo_io import photos_read

    kinds = sorted({p.suffix.lower() for p in paths})
    shown = ", ".join(map(str, paths[:3])) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    heic = any(p.suffix.lower() in (".heic", ".heif") for p in paths)
    return (f"{len(paths)} {'photo' if len(paths) == 1 else 'photos'} left out ({shown}): {photos_read(heic)}, "
            f"not {', '.join(kinds)}")  # fmt: skip


def _is_video(path: Path) -> bool:
    """A video or a photo that a folder contributes."""
    suffix = path.suffix.lower()
    if not path.is_file() or path.name.startswith(".") or not (suffix in VIDEO_EXTENSIONS or is_photo(path)):
        return False
    if suffix not in SNIFFED:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(200)  # a transport stream's sync byte starts two packets in a row
        return head[:4] == b"\x00\x00\x01\xba" or any(head[k:k + 1] == head[k + 188:k + 189] == b"G" for k in (0, 4))
    except OSError:
        return True  # said when it is read


def _hidden_below(path: Path, folder: Path) -> bool:
    """``path`` lies in a hidden folder (".cache", ".thumbnails") below ``folder``."""
    return any(part.startswith(".") for part in path.relative_to(folder).parts[:-1])


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def output_name(path: Path, source: Path) -> Path:
    """``path`` (named after the input ``source``) if vidanon writes its container, or its photo
    format for a photo, else as .mp4 (an animated WebP or PNG too: it is read as a video)."""
    if path.suffix.lower() in CONTAINERS or (is_photo(path) and is_still(source)):
        return path
    return path.with_suffix(".mp4")


def split_frames(n_frames: int, parts: int) -> list[tuple[int, int | None]]:
    """Cut ``n_frames`` into at most ``parts`` ranges of at least MIN_PART frames; the last
    range is open (it runs to whatever the decoder finds at the end)."""
    parts = max(1, min(parts, n_frames // MIN_PART))
    bounds = [round(i * n_frames / parts) for i in range(parts)]
    return [(a, b) for a, b in zip(bounds, bounds[1:])] + [(bounds[-1], None)]


@undo_folders(always=True)  # the output folders it made and left empty (its files refused or failed) go
def run_batch(
    jobs: list[Job],
    options: dict,
    workers: int = 1,
    segments: int = 1,
    overwrite: bool = False,
    ray_address: str | None = None,
    use_ray: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    mkdir: bool = True,
) -> BatchSummary:
    """Anonymize every job; one failing file never stops the others. Missing output
    folders are created (``mkdir``; else they are errors)."""
    from .media.paths import part_path_for, prepare_folder, prepare_output
    from .media.probe import check_input, probe
    from .pipeline import OptionError, Options, ask, check_encoding

    checked = Options(**options)
    checked.validate()  # a bad option fails once, before any work
    for output in {job.output.suffix.lower(): job.output for job in jobs if not is_still(job.input)}.values():
        check_encoding(checked, output)  # --codec / --preset against each container written
    whole = next((name for name in ("tracks", "save_tracks", "review") if options.get(name)), None)
    if segments > 1 and whole:  # a part would fail late (tracks) or write no side file at all
        raise OptionError(f"{ask(whole)} covers the whole video in one pass: it cannot be used with segments")
    if use_ray:
        from .workers import require_ray

        require_ray()
    folders, refused = {job.output.parent for job in jobs}, []
    for folder in folders:  # where no output can be written: one error for the batch, not one a file
        try:
            prepare_folder(folder, mkdir)
        except OutputError as exc:
            refused.append(exc)
    if refused and len(refused) == len(folders):
        raise refused[0]
    started = time.perf_counter()
    result = BatchSummary()
    todo: list[tuple[int, Job]] = []
    for i, job in enumerate(jobs):
        if job.output.exists() and not overwrite:
            # a finished output is skipped (a batch run again goes on where it stopped); a
            # folder, or the empty placeholder of a run that is writing it or was killed, is not one
            unfinished = _not_finished(job.output)
            if unfinished is None:
                result.skipped.append(job)
            else:
                result.fail(job, str(unfinished), unfinished.exit_code)
                if log is not None:
                    log(f"FAILED  {job.input}: {unfinished}")
        else:
            todo.append((i, job))

    # Plan the tasks; a file that cannot be read fails here, alone.
    tasks: list[Task] = []
    parts_of: dict[int, list[Path]] = {}
    infos = {}
    notes: dict[int, list[str]] = {}  # warnings of the plan, per job: given with its summary
    total_frames = 0
    for i, job in todo:
        photo = is_still(job.input)
        try:
            if photo:  # one frame: no probe, no parts
                prepare_output(job.output, check_input(job.input), overwrite=True, mkdir=mkdir, container=False)
            else:
                info = infos[i] = probe(job.input)
                prepare_output(job.output, info.path, overwrite=True, mkdir=mkdir)  # the single-file run's checks
        except VidanonError as exc:
            result.fail(job, str(exc), exc.exit_code)
            if log is not None:
                log(f"FAILED  {job.input}: {exc}")
            continue
        total_frames += 1 if photo else info.n_frames
        opts = dict(options, overwrite=True, mkdir=True)  # the folder was checked (or made) above
        if photo:  # a folder's photos with its videos' --start, --end or --max-face-size: written, with a warning
            unused = [name for name in VIDEO_ONLY if options.get(name) not in (None, "", ())]
            if unused:
                opts.update((name, None) for name in unused)
                notes[i] = [f"{', '.join(map(ask, unused))} appl{'ies' if len(unused) == 1 else 'y'} to videos: "
                            f"not used for the photo {job.input.name}"]  # fmt: skip
            tasks.append(Task(i, str(job.input), str(job.output), opts))
            continue
        gif = container_of(job.output) == "gif"  # written in one go: its parts are not joined
        n = info.packets.count if segments > 1 and info.packets is not None and not gif else None  # probe counted them
        ranges = split_frames(n, segments) if n else [None]
        if len(ranges) < segments:
            notes[i] = [f"{job.output.name}: a GIF is written in one part (its frames are not cut into segments)"
                        if gif else _fewer_parts(job.input, n, segments, len(ranges))]  # fmt: skip
        if len(ranges) == 1:
            tasks.append(Task(i, str(job.input), str(job.output), opts))
            continue
        parts = [part_path_for(job.output, k) for k in range(len(ranges))]
        parts_of[i] = parts
        part_opts = dict(opts, audio=False, save_tracks=None)
        tasks += [Task(i, str(job.input), str(p), part_opts, k, r) for k, (p, r) in enumerate(zip(parts, ranges))]

    bar = FrameBar(total=total_frames or None, unit="frame", desc=count(len(todo), "file"), disable=not progress,
               dynamic_ncols=True, leave=False)  # fmt: skip
    lock = threading.Lock()

    def tick(n: int) -> None:
        with lock:
            bar.update(n)

    def say(line: str) -> None:
        if log is not None:
            with lock:
                bar.clear()
                log(line)
                bar.refresh()

    if use_ray:
        executor: Executor = RayExecutor(ray_address, workers if workers > 1 else None, tick)
    elif workers > 1 and len(tasks) > 1:
        executor = Processes(min(workers, len(tasks)), tick)
    else:
        executor = InProcess(tick)
    by_job = {i: job for i, job in todo}
    pending_parts: dict[int, list[Result]] = {i: [] for i in parts_of}
    futures: dict[Future, Task] = {}
    waiting = list(tasks)
    try:
        while waiting or futures:
            while waiting and len(futures) < executor.capacity:
                task = waiting.pop(0)
                futures[executor.submit(task)] = task
            executor.poll(0.5)
            finished, _ = wait(list(futures), timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                task = futures.pop(future)
                try:
                    res = future.result()
                except Exception as exc:  # a worker process died
                    res = Result(task, error=f"worker failed: {type(exc).__name__}: {exc}", exit_code=70)
                job = by_job[task.job]
                if task.part is None:
                    _record(result, job, res, say, notes.get(task.job, []))
                    continue
                pending_parts[task.job].append(res)
                if len(pending_parts[task.job]) == len(parts_of[task.job]):
                    _finish_segmented(result, job, infos[task.job], pending_parts.pop(task.job),
                                      parts_of[task.job], options.get("audio", True), say,
                                      options.get("metadata", "private"), notes.get(task.job, []))  # fmt: skip
    except BaseException:
        executor.close(cancel=True)
        for parts in parts_of.values():
            for part in parts:
                part.unlink(missing_ok=True)
        bar.close()
        raise
    executor.close()
    bar.close()
    result.seconds = time.perf_counter() - started
    return result


def _fewer_parts(path: Path, frames: int | None, asked: int, parts: int) -> str:
    """The warning of a file cut into fewer parts than ``--segments`` asked."""
    if frames is None:
        return f"{path.name}: its frames cannot be counted without decoding, so it is not cut: run as 1 part"
    return (f"{path.name} is too short for {asked} parts ({frames} frames; a part needs at least {MIN_PART}): run "
            f"as {parts} part{'s' if parts > 1 else ''}")  # fmt: skip


def _record(result: BatchSummary, job: Job, res: Result, say, notes: list[str] = ()) -> None:
    if res.error is None:
        s = dict(res.summary, warnings=[*notes, *res.summary.get("warnings", [])])
        result.done.append((job, s))
        removed = f", metadata removed: {', '.join(s['metadata_removed'])}" if s.get("metadata_removed") else ""
        say(f"done    {job.input} -> {job.output}: {count(s['frames'], 'frame')}, {boxes(s)}, "
            f"{s['seconds']:.1f} s{removed}")  # fmt: skip
        for warning in s.get("warnings", []):
            say(f"warning {job.input}: {warning}")
    else:
        result.fail(job, res.error, res.exit_code or 1)
        say(f"FAILED  {job.input}: {res.error}")


def noun(summary: dict) -> str:
    """What a summary's boxes hide."""
    nouns = {"people": "person", "plates": "plate", "faces,plates": "face and plate", "people,plates": "person and plate",
             "faces,people": "face and person", "faces,people,plates": "face, person and plate"}
    return nouns.get(summary.get("target"), "face")


def boxes(summary: dict) -> str:
    """``1 face box``, ``16 face boxes``: a summary's boxes, counted."""
    n = summary["faces"]
    return f"{n} {noun(summary)} box{'' if n == 1 else 'es'}"


def _finish_segmented(result, job, info, results, parts, audio: bool, say, metadata: str = "private",
                      notes: list[str] = ()) -> None:  # fmt: skip
    """Join the parts of one segmented job (in frame order) and rename over the target."""
    from .media.join import join_parts
    from .media.paths import AtomicOutput, clear_stale_temp_files, prepare_output
    from .media.plan import container_of

    results.sort(key=lambda r: r.task.part)
    failed = [r for r in results if r.error is not None]
    try:
        if failed:  # the first failed part's error and exit code, as a single pass would give them, naming
            bad = failed[0]  # the output, not the part's hidden file (a full disk: "while writing .o.vidanon-...")
            _record(result, job, Result(bad.task, error=bad.error.replace(bad.task.output, str(job.output)),
                                        exit_code=bad.exit_code), say)  # fmt: skip
            return
        target = prepare_output(job.output, info.path, overwrite=True)
        with AtomicOutput(target) as tmp:
            plan = join_parts(parts, tmp, container_of(target), info if audio else None, source=info,
                              metadata=metadata, name=str(target))  # fmt: skip
        summaries = [r.summary for r in results]
        merged = dict(summaries[0])
        for key in ("frames", "faces", "frames_with_faces"):
            merged[key] = sum(s[key] for s in summaries)
        merged["tracks"] = sum(s["tracks"] for s in summaries)  # an upper bound: seams may split a track
        merged["seconds"] = max(s["seconds"] for s in summaries)
        merged["output"] = str(target)
        merged["parts"] = len(parts)
        merged["metadata_removed"] = plan.metadata_removed
        merged["warnings"] = part_warnings(summaries) + ([said] if (said := plan.warning(target.suffix)) else [])
        if cleared := clear_stale_temp_files(target):
            merged["warnings"].append(cleared)
        _record(result, job, Result(results[0].task, summary=merged), say, notes)
    except VidanonError as exc:
        _record(result, job, Result(results[0].task, error=str(exc), exit_code=exc.exit_code), say)
    finally:
        for part in parts:
            part.unlink(missing_ok=True)


def _not_finished(output: Path) -> VidanonError | None:
    """Why an existing ``output`` is not a finished one (None: it is): a folder, or an empty
    file (:class:`~vidanon.media.paths.OutputClaim`'s placeholder: the single run's message)."""
    from .media.paths import already_exists

    if output.is_dir():
        return OutputError(f"output {output} is a directory")
    try:
        empty = output.stat().st_size == 0
    except OSError:
        return None
    return already_exists(output) if empty else None


def part_warnings(summaries: list[dict]) -> list[str]:
    """The warnings of a segmented file's parts, each once: one every part gave as it is, one
    only some parts gave (decoding errors in the input's second half, a part's own counts)
    as ``part K of N: ...`` for each of them, but for a --start/--end span without a frame
    in some parts' shares (the others had frames in it)."""
    from .pipeline import NO_FRAME_IN_SPAN

    each = [list(dict.fromkeys(s.get("warnings", []))) for s in summaries]
    common = [w for w in each[0] if all(w in ws for ws in each[1:])]
    return common + [f"part {k} of {len(each)}: {w}" for k, ws in enumerate(each, start=1) for w in ws
                     if w not in common and not w.startswith(NO_FRAME_IN_SPAN)]  # fmt: skip


def describe(summary: BatchSummary) -> list[str]:
    """The closing lines of a batch: counts, throughput, each failure with its reason."""
    n = len(summary.done) + len(summary.failed) + len(summary.skipped)
    rate = summary.frames / summary.seconds if summary.seconds > 0 else 0.0
    skipped = f", {len(summary.skipped)} skipped (output exists; --overwrite to redo)" if summary.skipped else ""
    lines = [
        f"{count(n, 'file')}: {len(summary.done)} done, {len(summary.failed)} failed{skipped}; "
        f"{count(summary.frames, 'frame')} in {summary.seconds:.1f} s ({rate:.1f} frames/s)"
    ]
    lines += [f"failed: {f.job.input}: {f.reason}" for f in summary.failed]
    return lines
