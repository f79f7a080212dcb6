"""How :mod:`vidanon.pipeline`'s stages run at once: :func:`run_stages` and its threads,
joined by bounded queues so that memory stays flat whatever the clip's length."""

from __future__ import annotations

import functools
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from .detect.tf_setup import cpu_threads, network_threads
from .detections import Detections
from .interrupt import raise_pending
from .media.source import batched

if TYPE_CHECKING:
    from .pipeline import Stages

_END = object()
# Batches the detect stage may hand over ahead of the tracker (each being decoded, or
# decoded and waiting), at least: one more than the decode threads, so that none waits for
# work while the tracker takes the oldest.
DETECT_AHEAD = 3
# Batches prepared for the network (see Stages.prepare) at once: the one it runs on and the
# next. Each holds its float network inputs (20 MB for 5 frames of 640x360 enlarged to
# 960x540): with the reading queue's three more, a run took 110 MB more memory.
PREPARED = 2
# Seconds a stopped run waits for the detect stage to finish its current batch.
STAGE_GRACE = 2.0


class _Stage(threading.Thread):
    """A daemon thread whose exception is re-raised in the caller by :meth:`check`.

    A failure also sets ``stop``, so that a thread blocked handing work to this one
    (its queue full, nobody taking from it any more) gives up instead of waiting forever.
    """

    def __init__(self, target: Callable[[], None], name: str, stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self._stop_all = stop
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.error = exc
            self._stop_all.set()

    def check(self) -> None:
        if self.error is not None:
            raise self.error


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _acquire(slots: threading.Semaphore, stop: threading.Event) -> bool:
    while not stop.is_set():
        if slots.acquire(timeout=0.1):
            return True
    return False


def _get(q: queue.Queue, stages: list[_Stage], stop: threading.Event | None = None):
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            for stage in stages:  # a producer's failure first: it may be why everything stops
                stage.check()
            if stop is not None and stop.is_set():
                return _END
            for stage in stages:
                if not stage.is_alive() and stage.error is None and q.empty():
                    # the producer ended without its end marker: it was stopped
                    return _END


Finish = Callable[[], list[Detections]]  # the last step of a detection: decoding (see Stages.prepare)
Run = Callable[[], Finish]  # the middle one: the networks


def decode_workers() -> int:
    """Threads decoding the networks' output (and looking again at weak boxes): two on two
    cores, where in a crowd one was the slowest stage (the marathon: 26-32 second looks a
    frame, 9 of 16 seconds), up to four with more cores."""
    return min(4, max(2, cpu_threads() // 2))


def network_lanes() -> int:
    """Batches whose networks run at once on a CPU: two where each network runs on one
    thread (:func:`vidanon.detect.tf_setup.network_threads`: 2 cores), so that the second
    core works on the next batch instead of waiting for the one network thread; else one
    (the network's threads already span the cores). A batch's passes alternate between a
    full and a half-size one, each with its one interpreter
    (:class:`~vidanon.detect.lite.LiteNet`), so the two threads mostly run different passes
    side by side. The output is the same; on 2 cores 480x360 is about 15% faster, 1080p
    4-5%, the crowds about the same (docs/speed.md, round thirteen)."""
    return 2 if cpu_threads() >= 2 and network_threads() == 1 else 1


def at_once(detect: Callable[..., list[Detections]], *args) -> Finish:
    """``detect(*args)`` now, as the networks' step of :attr:`~vidanon.pipeline.Stages.prepare`
    (a detector without steps of its own)."""
    found = detect(*args)
    return lambda: found


def run_stages(
    source: Iterable[np.ndarray],
    stages: Stages,
    consume: Callable[[int, Any, Detections], None],
    keep_frames: bool = True,
) -> None:
    """Run ``source`` through detect and track, and hand every frame's result to ``consume``
    as ``(index, frame, Detections)`` in order (``frame`` None unless ``keep_frames``).

    Threads joined by bounded queues, so that decoding, resizing, the networks, tracking
    and rendering overlap: the source is read, and the networks' inputs made
    (:attr:`Stages.prepare`), in one; the networks run in a second; their output is decoded
    into boxes, and the weak ones looked at again (small network calls on crops), by
    :func:`decode_workers` threads, a batch each; the calling thread tracks; ``consume``
    runs in the last. Where ``stages.lanes`` is two, the detect thread hands each batch's
    networks to one of two threads (:func:`network_lanes`) and goes on to the next batch.
    On a 640x360 clip on 2 cores, the network alone took half the calling thread's time,
    the resizing a fifth, both waited for by the tracker; in a crowd (the
    marathon, 960x540) the second looks were the slowest stage, so two batches are decoded
    at once. The network threads hold the GIL little (the interpreter releases it), so the
    Python stages are not slowed by them. The full passes see the batches one after the
    other in the video's order, a batch's second looks depend on its frames alone, and the
    tracker gets the detections in the video's order, so the result is the same as in one
    thread. An exception in any of them stops the others and is raised here.
    """
    stop = threading.Event()
    batches: queue.Queue = queue.Queue(maxsize=3)
    workers = decode_workers()
    detected: queue.Queue = queue.Queue(maxsize=max(DETECT_AHEAD, workers + 1))
    decoders = ThreadPoolExecutor(workers, thread_name_prefix="vidanon-decode")
    ready: queue.Queue = queue.Queue(maxsize=max(2 * stages.batch_size, 8))

    prepare = stages.prepare or (lambda chunk: functools.partial(at_once, stages.detect, chunk))

    slots = threading.Semaphore(PREPARED)
    networks = ThreadPoolExecutor(stages.lanes, thread_name_prefix="vidanon-net") if stages.lanes > 1 else None

    def read_stage() -> None:
        for chunk in batched(source, stages.batch_size):
            if not _acquire(slots, stop) or not _put(batches, (chunk, prepare(chunk)), stop):
                return
        _put(batches, _END, stop)

    def detect_stage() -> None:
        while True:
            item = _get(batches, [read_thread], stop)
            if item is _END:
                _put(detected, _END, stop)
                return
            chunk, run = item
            del item
            if networks is None:
                finish = run()
                del run  # its network inputs: freed before the next batch is prepared
                slots.release()
                decoded = decoders.submit(finish)
            else:
                ran = networks.submit(run)
                del run
                ran.add_done_callback(lambda _: slots.release())
                decoded = decoders.submit(_after, ran)
            if not _put(detected, (chunk, decoded), stop):
                return

    def consume_stage() -> None:
        while True:
            item = _get(ready, [], stop)
            if item is _END:
                return
            consume(*item)

    read_thread = _Stage(read_stage, "vidanon-read", stop)
    detect_thread = _Stage(detect_stage, "vidanon-detect", stop)
    consume_thread = _Stage(consume_stage, "vidanon-write", stop)
    try:
        for thread in (read_thread, detect_thread, consume_thread):
            thread.start()

        def emit(items) -> None:
            for item in items:
                if not _put(ready, item, stop):
                    return
                consume_thread.check()

        while True:
            item = _get(detected, [detect_thread])
            if item is _END:
                break
            raise_pending()  # a Ctrl-C that Python swallowed during an import
            consume_thread.check()
            chunk, decoded = item
            payloads = chunk if keep_frames else [None] * len(chunk)
            emit(stages.track.push(chunk, decoded.result(), payloads))
        for thread in (consume_thread, read_thread, detect_thread):  # a stage that failed stopped the frames:
            thread.check()  # its error, not the tracker's at the end (a replay's "the video has N frames")
        emit(stages.track.flush())
        _put(ready, _END, stop)
        while consume_thread.is_alive():
            consume_thread.join(timeout=0.1)
        consume_thread.check()
    except BaseException:
        stop.set()
        close = getattr(source, "close", None)
        if close is not None:
            close()  # unblocks a reader waiting on ffmpeg
        _wind_down(detect_thread)
        raise
    finally:
        decoders.shutdown(wait=False, cancel_futures=True)
        if networks is not None:
            networks.shutdown(wait=False, cancel_futures=True)


def _after(ran: Future) -> list[Detections]:
    """The detections of a batch whose networks ``ran`` in a network thread."""
    return ran.result()()


def _wind_down(thread: threading.Thread, seconds: float = STAGE_GRACE) -> None:
    """Give a stopped stage the time to leave the call it is in (the detector's current
    batch), so that the caller's clean-up and the interpreter's exit do not run under a
    network still computing in the background. Bounded: a stage that hangs is left to die
    with the process (it is a daemon)."""
    if thread.is_alive() and thread is not threading.current_thread():
        thread.join(timeout=seconds)
