"""Output paths: checked before any work is done, written through a temporary file beside
the target that replaces it only when complete (:class:`AtomicOutput`)."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import os
import re
import time
from pathlib import Path

from ..errors import OutputError
from .plan import container_of

NAME_MAX = 255  # bytes in a file name (ext4, XFS, Btrfs, APFS, NTFS: 255)
PATH_MAX = 4096  # bytes in a path given to the system, with its final NUL (Linux; macOS 1024)


URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+://")  # http://, https://, rtsp://, s3://, file://


def check_name(path, error: type, what: str) -> None:
    """Raise ``error`` (an :class:`~vidanon.errors.InputError` or :class:`OutputError`) when
    a name in ``path`` is longer than NAME_MAX bytes, which no file system takes, or the
    whole path longer than PATH_MAX (the OS would refuse either at the first look, as an
    OSError), or when ``path`` is empty (an unset shell variable: it would be taken as the
    current folder, whose videos a batch would take, or where an output would land)."""
    name = os.fspath(path)
    if name == "":
        raise error(f"{what} path is empty")
    if isinstance(name, str) and URL.match(name):  # (a Path would fold its "//")
        raise error(f"{what} {name} is a URL; vidanon works on files on this machine"
                    f"{' (download the video first)' if what == 'input' else ''}")  # fmt: skip
    size = len(os.fsencode(path))
    if size >= PATH_MAX:
        raise error(f"{what} {str(path)[:40]}...: the path is {size} bytes long, over the {PATH_MAX - 1} the "
                    "system takes (use a shorter or relative path)")  # fmt: skip
    for name in Path(path).parts:
        size = len(os.fsencode(name))
        if size > NAME_MAX:
            raise error(f"{what} {path}: the name {name[:24]}... is {size} bytes long, over the {NAME_MAX} "
                        "a file name can have")  # fmt: skip


def check_file_target(target: Path, what: str) -> None:
    """:class:`OutputError` if ``target`` exists and is not a regular file (nor a folder,
    which the callers refuse in their own words): a device such as /dev/null, a pipe or a
    socket, or a link to one, which the finished file's rename would replace."""
    import stat

    try:
        mode = os.stat(target).st_mode
    except OSError:  # missing, or a dangling link: the rename replaces only the link
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise OutputError(f"the {what} {target} is a device, pipe or socket, not a file; give a file name")


def temp_path_for(target: Path, tag: str = "partial", suffix: str | None = None) -> Path:
    """THE name of a temporary file beside ``target``: hidden, unique to this process and
    recognisable, ``.<stem>.vidanon-<pid>.<tag><suffix>`` (suffix: the target's), the stem
    shortened so that the name fits in NAME_MAX bytes whatever the target's length (and
    then marked with a hash of the whole stem, so that two long names keep apart)."""
    return _temp_name(target, os.getpid(), tag, target.suffix if suffix is None else suffix)


def _temp_name(target: Path, pid: int, tag: str, suffix: str) -> Path:
    """:func:`temp_path_for`'s name for the process ``pid``."""
    tail = f".vidanon-{pid}.{tag}{suffix}"
    room = max(NAME_MAX - 1 - len(tail.encode()), 0)
    # no line breaks: a segmented run's join lists its parts' names one a line
    target = target.with_name(target.name.replace("\n", "_").replace("\r", "_"))
    raw = os.fsencode(target.stem)  # a name's bytes, UTF-8 or not (those are kept as surrogates)
    if len(raw) <= room:
        return target.with_name(f".{target.stem}{tail}")
    # cut, and the whole stem's hash added: two long names that differ only past the cut
    # (parts of two videos in one folder) must not share a temporary file
    mark = "~" + hashlib.sha1(raw).hexdigest()[:10]
    stem = os.fsdecode(raw[: max(room - len(mark), 0)])
    stem = stem.rstrip("".join(map(chr, range(0xDC80, 0xDD00))))  # cut on a whole character, no stray byte
    return target.with_name(f".{stem}{mark}{tail}")


def part_path_for(target: Path, k: int) -> Path:
    """Where part ``k`` of a segmented run (``--segments``) of ``target`` is written."""
    return temp_path_for(target, f"part{k}")


# A temporary file's name holds its writer's pid and its kind (partial, partK, parts); a
# temporary file of a temporary file (a --segments part's own partial file, the join's list
# named after the joined file's) holds two.
_TEMP_TAG = re.compile(r"\.vidanon-([0-9]{1,9})\.(partial|part[0-9]+|parts)")

# A temporary file is stale only when untouched this long too: a run on another machine
# writing the same output into a shared folder has a pid this machine does not know, and
# its encoder writes its file all the time.
STALE_AFTER = 60.0  # seconds


def stale_temp_files(target: Path) -> list[Path]:
    """The temporary files of ``target`` (:func:`temp_path_for`: its partial file, a
    segmented run's parts, their own partial files and the join's list) whose processes no
    longer run on this machine and that were not written for STALE_AFTER seconds: left by a
    run killed with SIGKILL, by the out-of-memory killer or a power cut, which nothing could
    remove. A file of a process still running here (this one, another run), or of another
    output, is never listed."""
    now = time.time()
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return []
    stale = []
    for entry in entries:
        pids = _temp_file_pids(target, entry.name)
        if not pids or any(pid == os.getpid() or _running(pid) for pid in pids):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER:
                stale.append(Path(entry.path))
        except OSError:
            continue
    return sorted(stale)


def _temp_file_pids(target: Path, name: str) -> list[int]:
    """The pids in ``name`` when it is a temporary file of ``target`` (or of one of its
    temporary files), else none."""
    tags = list(_TEMP_TAG.finditer(name)) if name.startswith(".") else []
    if not tags:
        return []
    pid, tag = int(tags[-1].group(1)), tags[-1].group(2)
    suffix = name[tags[-1].end():]
    if suffix != (".txt" if tag == "parts" else target.suffix):
        return []
    if name == _temp_name(target, pid, tag, suffix).name:
        return [pid]
    if len(tags) > 1 and tags[-2].group(2) != "parts":
        inner = _temp_name(target, int(tags[-2].group(1)), tags[-2].group(2), target.suffix)
        if name == _temp_name(inner, pid, tag, suffix).name:
            return [int(tags[-2].group(1)), pid]
    return []


def _running(pid: int) -> bool:
    """Whether a process ``pid`` may run on this machine (one of another user counts; on
    Windows, where ``os.kill`` would end it, every process is taken as running)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as another user
        return True
    return True


def clear_stale_temp_files(target: Path) -> str | None:
    """Remove :func:`stale_temp_files` of ``target``; a line saying what was removed, for
    the run's warnings (None: nothing was there). One that cannot be removed is left."""
    removed, size = [], 0
    for path in stale_temp_files(target):
        try:
            size += path.stat().st_size
            path.unlink()
        except OSError:
            continue
        removed.append(path.name)
    if not removed:
        return None
    what = f"{len(removed)} temporary files" if len(removed) > 1 else "a temporary file"
    return (f"removed {what} of an earlier run on {target.name} that was killed before it finished "
            f"({', '.join(removed)}; {size / 1e6:.1f} MB)")


class AtomicOutput:
    """Write ``target`` through a hidden temporary file beside it (:func:`temp_path_for`),
    so that nothing incomplete ever shows at ``target``: :meth:`commit` renames the file
    over the target, :meth:`abort` removes it. As a context manager it gives the
    temporary path, commits when the block succeeds and aborts when it raises::

        with AtomicOutput(target) as tmp:
            write(tmp)
    """

    def __init__(self, target: str | os.PathLike) -> None:
        self.target = Path(target)
        self.tmp = temp_path_for(self.target)

    def commit(self) -> None:
        os.replace(self.tmp, self.target)

    def abort(self) -> None:
        try:
            self.tmp.unlink(missing_ok=True)
        except OSError:
            pass

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.abort()
                raise
        else:
            self.abort()


class OutputClaim:
    """The output name taken for one run: an empty file created exclusively at the target
    (``O_EXCL``: of two runs, exactly one gets it), replaced by the finished output, or
    removed by :meth:`release` if the run fails. A second run without ``--overwrite`` is
    refused, even while the first one is still working."""

    def __init__(self, target: Path) -> None:
        self.target = target
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raise already_exists(target) from None
        except OSError as exc:
            raise OutputError(f"cannot create the output {target}: {exc.strerror or exc}") from None
        stat = os.fstat(fd)
        os.close(fd)
        self._ident = (stat.st_dev, stat.st_ino)

    def release(self) -> None:
        """Remove the placeholder, if it is still the empty file this run created."""
        try:
            stat = os.stat(self.target)
            if (stat.st_dev, stat.st_ino) == self._ident and stat.st_size == 0:
                os.unlink(self.target)
        except OSError:
            pass


def already_exists(target: Path) -> OutputError:
    """The error for an output that exists (run without overwrite); an empty file is most
    likely another run's placeholder (see :class:`OutputClaim`), or one left by a killed run."""
    from ..options import ask

    try:
        empty = os.path.getsize(target) == 0
    except OSError:
        empty = False
    note = " (an empty file: another run may be writing it, or one was killed)" if empty else ""
    return OutputError(f"output {target} already exists{note}; pass {ask('overwrite', True)} to replace it")


def prepare_output(target: str | os.PathLike, input_path: Path, overwrite: bool, mkdir: bool = True,
                   container: bool = True) -> Path:  # fmt: skip
    """Check the output path before any work is done; create its folder if it is
    missing and ``mkdir`` (else that is an error). ``container``: the extension must name
    a container vidanon writes (False: the caller checks it, as for a photo)."""
    check_name(target, OutputError, "output")
    target = Path(target)
    if target.exists() and target.is_dir():  # before the extension, which a folder's name lacks
        raise OutputError(f"output {target} is a directory; give a file name such as {target / 'out.mp4'}")
    if container:
        container_of(target)
    check_file_target(target, "output")
    if target.resolve() == input_path.resolve() or (target.exists() and os.path.samefile(target, input_path)):
        raise OutputError("output and input are the same file; vidanon never overwrites its input")
    if target.exists() and not overwrite:
        raise already_exists(target)
    prepare_folder(target.parent, mkdir)
    return target


def prepare_folder(folder: Path, mkdir: bool = True) -> None:
    """Create the output ``folder`` if it is missing and ``mkdir`` (else that is an error),
    and check it can be written to: an :class:`OutputError` otherwise."""
    from ..options import ask

    if folder.exists() and not folder.is_dir():  # "cannot create ...: File exists" said nothing of which file
        raise OutputError(f"the output folder {folder} is a file, not a folder")
    if not folder.exists() and not mkdir:
        raise OutputError(f"the output folder {folder} does not exist; create it or pass {ask('mkdir', True)}")
    missing = [parent for parent in (folder, *folder.parents) if not parent.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {folder}: {exc.strerror or exc}") from None
    made = _MADE.get()
    if made is not None:
        made.extend(reversed(missing))  # outermost first
    if not os.access(folder, os.W_OK | os.X_OK):
        why = "it is on a read-only file system" if _read_only_mount(folder) else "check its permissions"
        raise OutputError(f"cannot write to the output folder {folder} ({why})")


# The folders prepare_folder makes (--mkdir), outermost first, in the run that asked (made_folders):
# one list a run, a thread's own (two runs in two threads never undo each other's).
_MADE: contextvars.ContextVar[list[Path] | None] = contextvars.ContextVar("vidanon_made_folders", default=None)


@contextlib.contextmanager
def made_folders(always: bool = False):
    """Inside the block, the output folders prepare_folder makes are noted; those left empty
    are removed again when the block fails or is stopped (a run refused after ``--mkdir`` made
    its folder left it), or, ``always``, when it ends (a batch whose files all failed)."""
    made: list[Path] = []
    token = _MADE.set(made)
    done = False
    try:
        yield made
        done = True
    finally:
        _MADE.reset(token)
        if always or not done:
            for folder in reversed(made):
                try:
                    folder.rmdir()  # only an empty one
                except OSError:
                    pass


def undo_folders(always: bool = False):
    """A decorator: the function (an anonymizing run) inside :func:`made_folders` (``always``)."""

    def decorate(run):
        @functools.wraps(run)
        def wrapper(*args, **kwargs):
            with made_folders(always):
                return run(*args, **kwargs)

        return wrapper

    return decorate


def _read_only_mount(folder: Path) -> bool:
    """Whether ``folder`` lies on a file system mounted read-only (a camera's card, an ISO)."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows)
        return False
