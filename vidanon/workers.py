"""Where the tasks of a batch run (:mod:`vidanon.batch`): one after the other in this
process, in ``--jobs N`` worker processes sharing the cores, or as Ray tasks. Every
executor takes :class:`Task` objects and gives back :class:`Result` ones."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Callable

from .env import THREADS_ENV
from .errors import VidanonError

CONTEXT = 30  # frames tracked on each side of a part without being written (> the tracker's look-ahead)

_progress_queue = None  # set in worker processes: frames written go back to the coordinator


@dataclass(frozen=True)
class Task:
    """One unit of work: a whole job, or frames [start, stop) of it."""

    job: int
    input: str
    output: str  # the job's output, or a part file
    options: dict
    part: int | None = None
    frame_range: tuple[int, int | None] | None = None


@dataclass
class Result:
    task: Task
    summary: dict | None = None
    error: str | None = None
    exit_code: int = 0


STOP_GRACE = 10.0  # seconds a stopped worker has to clean up (kill its ffmpeg, remove its temporary files)


class WorkerStopped(BaseException):
    """Raised in a worker's main thread when the coordinator stops it (SIGTERM) or dies: the
    task's own clean-up runs (ffmpeg killed, temporary files removed), then the worker exits."""


_busy = False  # a task is running in this worker process


def _init_worker(threads: int, progress_queue, parent: int | None = None) -> None:
    """Worker process start: share the cores, stay quiet, leave Ctrl-C to the coordinator,
    stop cleanly on SIGTERM, and stop when the coordinator (pid ``parent``) dies."""
    global _progress_queue
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_stop)
    os.environ[THREADS_ENV] = str(threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _progress_queue = progress_queue
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())  # not a semaphore, which a stopped worker would leak
    if parent is not None:
        threading.Thread(target=_watch_parent, args=(parent,), name="vidanon-parent", daemon=True).start()


def _watch_parent(parent: int) -> None:
    """Stop this worker when its coordinator is gone (killed, even by SIGKILL): an orphan
    would go on with every queued file and hold the caller's stdout and stderr open."""
    while os.getppid() == parent:
        time.sleep(0.2)
    os.kill(os.getpid(), signal.SIGTERM)


def _on_stop(signum, _frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once
    if not _busy:
        os._exit(128 + signum)  # idle: nothing to clean up
    timer = threading.Timer(STOP_GRACE, os._exit, (128 + signum,))  # a clean-up that hangs ends here
    timer.daemon = True
    timer.start()
    raise WorkerStopped(signum)


class _Ticker:
    """Report frames written every few frames (a queue put per frame would be wasteful)."""

    def __init__(self, sink: Callable[[int], None], every: int = 8) -> None:
        self.sink, self.every, self.pending = sink, every, 0

    def __call__(self, n: int) -> None:
        self.pending += n
        if self.pending >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.sink(self.pending)
            self.pending = 0


def run_task(task: Task, on_frames: Callable[[int], None] | None = None) -> Result:
    """Run one task in this process; every failure comes back as a Result, never raised.
    In a worker process stopped by :func:`_on_stop`, the task's clean-up runs and the
    process exits."""
    from .photo import anonymize_photo, is_still
    from .pipeline import anonymize

    global _busy
    _busy = True
    if on_frames is None and _progress_queue is not None:
        on_frames = _progress_queue.put
    ticker = _Ticker(on_frames) if on_frames is not None else None
    try:
        summary = (anonymize_photo if is_still(task.input) else anonymize)(
            task.input, task.output, frame_range=task.frame_range, context=CONTEXT, progress=False,
            on_frames=ticker, **task.options,
        )  # fmt: skip
        return Result(task, summary=summary.to_dict())
    except VidanonError as exc:
        return Result(task, error=str(exc), exit_code=exc.exit_code)
    except Exception as exc:  # a bug: reported for this file, the batch goes on
        return Result(task, error=f"internal error: {type(exc).__name__}: {exc}", exit_code=70)
    except WorkerStopped as exc:  # anonymize has cleaned up on the way out
        os._exit(128 + exc.args[0])
    finally:
        _busy = False
        if ticker is not None:
            ticker.flush()


def _run_task_remote(task: Task, threads: int) -> Result:
    """Entry point of a Ray task (a Ray worker process may run many)."""
    os.environ.setdefault(THREADS_ENV, str(threads))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return run_task(task)


class Executor:
    """Submit tasks, collect results as they finish."""

    capacity = 1  # tasks handed over at once (the rest wait in run_batch)

    def submit(self, task: Task) -> Future: ...

    def poll(self, timeout: float) -> None:
        """Move finished work into its futures (only Ray needs this; the others do it themselves)."""

    def close(self, cancel: bool = False) -> None: ...


class InProcess(Executor):
    """One task after another in this process (--jobs 1): the models load once."""

    def __init__(self, on_frames: Callable[[int], None]) -> None:
        self.on_frames = on_frames

    def submit(self, task: Task) -> Future:
        future: Future = Future()
        future.set_result(run_task(task, self.on_frames))
        return future

    def close(self, cancel: bool = False) -> None:
        pass


class Processes(Executor):
    """``jobs`` worker processes on this machine, each with its share of the cores."""

    def __init__(self, jobs: int, on_frames: Callable[[int], None]) -> None:
        ctx = multiprocessing.get_context("spawn")  # TensorFlow does not survive fork
        self._queue = ctx.Queue()
        threads = max(1, (os.cpu_count() or 1) // jobs)
        self.capacity = 2 * jobs
        self._pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker,
                                         initargs=(threads, self._queue, os.getpid()))  # fmt: skip
        self._stop = threading.Event()
        self._drain = threading.Thread(target=self._pump, args=(on_frames,), daemon=True)
        self._drain.start()

    def _pump(self, on_frames) -> None:
        while not self._stop.is_set():
            try:
                on_frames(self._queue.get(timeout=0.2))
            except queue.Empty:
                continue
            except (EOFError, OSError):
                return

    def submit(self, task: Task) -> Future:
        return self._pool.submit(run_task, task)

    def close(self, cancel: bool = False) -> None:
        if cancel:
            _stop_processes(list((getattr(self._pool, "_processes", None) or {}).values()))
        self._pool.shutdown(wait=True, cancel_futures=cancel)
        self._stop.set()
        self._drain.join(timeout=1)


def _stop_processes(procs: list) -> None:
    """SIGTERM each worker (it aborts its task: ffmpeg killed, temporary files removed) and
    wait for them, killing those still there after the grace time. Ctrl-C and SIGTERM are
    held off meanwhile, so that a second one does not leave the clean-up half done."""
    from multiprocessing.connection import wait as wait_for

    main = threading.current_thread() is threading.main_thread()
    held = [(sig, signal.signal(sig, signal.SIG_IGN)) for sig in (signal.SIGINT, signal.SIGTERM)] if main else []
    try:
        for proc in procs:
            proc.terminate()
        deadline = time.monotonic() + STOP_GRACE + 2
        waiting = {proc.sentinel: proc for proc in procs}
        while waiting and time.monotonic() < deadline:
            for sentinel in wait_for(list(waiting), timeout=max(0.0, deadline - time.monotonic())):
                waiting.pop(sentinel)
        for proc in waiting.values():
            proc.kill()
    finally:
        for sig, handler in held:
            signal.signal(sig, handler)


def require_ray() -> None:
    """A :class:`VidanonError` if Ray is not installed (found without importing it: that
    takes seconds), so that ``--ray`` fails before any file is probed."""
    import importlib.util

    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # a broken installation, or sys.modules["ray"] = None
        found = False
    if not found:
        from .options import OptionError

        raise OptionError("--ray needs Ray: pip install 'vidanon[ray]'")  # a usage error (exit 2)


class RayExecutor(Executor):
    """Tasks on a Ray cluster (``address``), or on a local one started here."""

    def __init__(self, address: str | None, jobs: int | None, on_frames: Callable[[int], None]) -> None:
        require_ray()
        import ray
        self._ray = ray
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            try:
                if address:
                    ray.init(address=address, **kwargs)
                else:
                    ray.init(**kwargs)
            except Exception as exc:  # connection refused, bad address, ...
                raise VidanonError(f"cannot start or reach the Ray cluster {address or '(local)'}: {exc}") from None
        resources = ray.cluster_resources()
        gpus = float(resources.get("GPU", 0))
        cpus = float(resources.get("CPU", os.cpu_count() or 1))
        # On a GPU cluster each task holds a whole GPU (the detector and effects live on
        # it); on CPUs, tasks share the cores as --jobs would (default: 2 cores a task).
        self.threads = max(1, int(cpus // jobs)) if jobs else min(2, int(cpus) or 1)
        remote = ray.remote(num_cpus=self.threads, num_gpus=1 if gpus >= 1 else 0, max_retries=0)
        self._remote = remote(_run_task_remote)
        self._pending: dict = {}
        self._on_frames = on_frames  # Ray tasks report their frames when they finish
        self.capacity = 10_000  # Ray queues and schedules them itself

    def submit(self, task: Task) -> Future:
        future: Future = Future()
        ref = self._remote.remote(task, self.threads)
        self._pending[ref] = future
        return future

    def poll(self, timeout: float) -> None:
        if not self._pending:
            return
        ready, _ = self._ray.wait(list(self._pending), num_returns=1, timeout=timeout)
        for ref in ready:
            future = self._pending.pop(ref)
            try:
                res = self._ray.get(ref)
            except Exception as exc:  # the worker died (out of memory, node lost)
                future.set_exception(exc)
                continue
            if res.summary is not None:
                self._on_frames(res.summary["frames"])
            future.set_result(res)

    def close(self, cancel: bool = False) -> None:
        if cancel:
            for ref in self._pending:
                self._ray.cancel(ref, force=True)
