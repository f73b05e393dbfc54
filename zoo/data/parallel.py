"""Run a function over many inputs in worker processes, one input at a time per worker.

Every input ends as ``(index, result, None)`` or ``(index, None, reason)``: an exception, a time
limit (``signal.setitimer`` in the worker) or a worker that dies (a crash in C code, the OOM
killer) costs that one input, never the others' results. Workers are started with 'spawn' so
that a parent holding threads (JAX, grain) is safe; ``workers=0`` runs inline, for tests.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import multiprocessing as mp
import pickle
import signal
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import wait

from zoo.errors import SkipPiece, ZooError

Outcome = tuple[int, object, str | None]
_START_FAILED = ("worker processes exit while starting (exit code {}); a script that prepares "
                 "data needs `if __name__ == '__main__':`, or run with 0 workers to see the error")
_GRACE_S = 30.0  # a worker stuck in C code past its limit + this is killed from outside


class _TimeLimit(BaseException):
    """A BaseException, so that the ``except Exception`` around each tune or piece of a file
    cannot swallow it: the limit is per file."""


class Reason(str):
    """A skip's reason: the short line that is counted and shown (this str), with ``raw``, the
    library's own message where it says more (kept in skipped.jsonl)."""

    raw: str

    def __new__(cls, text: str, raw: str = ""):
        self = super().__new__(cls, text)
        self.raw = raw
        return self

    def __reduce__(self):
        return Reason, (str(self), self.raw)


def reason_of(e: BaseException) -> Reason:
    """One short line for a skip: the SkipPiece reason, or ``Class: first line of message``;
    ``raw``: an exception's ``raw`` attribute, or its whole message when the line cuts it."""
    if isinstance(e, SkipPiece):
        return Reason(e.reason, getattr(e, "raw", "") or getattr(e.reason, "raw", ""))
    message = str(e).strip()
    lines = message.splitlines()
    first = lines[0][:160] if lines else ""
    text = f"{type(e).__name__}: {first}" if first else type(e).__name__
    return Reason(text, "" if first == message else f"{type(e).__name__}: {message}")


@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Raise _TimeLimit in this (main) thread after ``seconds``; no limit off the main thread."""
    if (not seconds or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return

    def alarm(signum, frame):
        raise _TimeLimit

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def call(fn: Callable, item, seconds: float | None) -> tuple[object, str | None]:
    """(fn(item), None), or (None, reason) when it raises or runs past ``seconds``."""
    try:
        with time_limit(seconds):
            return fn(item), None
    except _TimeLimit:
        return None, f"timed out after {seconds:g} s"
    except Exception as e:  # noqa: BLE001 - any failure of one input is that input's skip
        return None, reason_of(e)


def _quiet() -> None:
    import warnings

    warnings.filterwarnings("ignore")  # pydub's "Couldn't find ffmpeg" on importing note_seq
    with contextlib.suppress(ImportError):
        from absl import logging

        logging.set_verbosity(logging.ERROR)  # note-seq's per-tune parser warnings


def _without_notebook_utils() -> None:
    """note-seq's package imports its notebook helpers (bokeh, pandas, IPython: about 0.7 s of
    the 2 s a worker takes to start); a worker never plots or plays a sequence, so in a worker
    that module is a stub whose functions say so."""
    if "note_seq" in sys.modules:
        return
    stub = types.ModuleType("note_seq.notebook_utils")

    def unavailable(*args, **kwargs):
        raise RuntimeError("note_seq.notebook_utils is not loaded in zoo's worker processes")

    stub.play_sequence = stub.plot_sequence = unavailable
    sys.modules[stub.__name__] = stub


def _worker(conn, fn_pickle: bytes, seconds: float | None) -> None:
    _without_notebook_utils()
    _quiet()  # before unpickling fn, which imports note_seq
    fn = pickle.loads(fn_pickle)
    conn.send("ready")
    while (message := conn.recv()) is not None:
        index, item = message
        conn.send((index, *call(fn, item, seconds)))


@dataclasses.dataclass
class _Slot:
    proc: mp.process.BaseProcess
    ready: bool = False  # imports done; the time limit starts with the task, not before
    task: tuple[int, object] | None = None
    started: float = 0.0


def run(fn: Callable, items: Sequence, workers: int, seconds: float | None = None
        ) -> Iterator[Outcome]:
    """Yield one outcome per item, in completion order. ``fn`` must be picklable by reference
    (a module-level function or a functools.partial of one)."""
    if workers <= 0:
        for index, item in enumerate(items):
            yield (index, *call(fn, item, seconds))
        return
    ctx = mp.get_context("spawn")
    fn_pickle = pickle.dumps(fn)
    todo = collections.deque(enumerate(items))
    slots: dict = {}  # connection to the worker -> _Slot
    failed_starts = 0

    def start():
        parent_end, child_end = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child_end, fn_pickle, seconds), daemon=True)
        proc.start()
        child_end.close()
        slots[parent_end] = _Slot(proc)

    def stop(conn):
        proc = slots.pop(conn).proc
        conn.close()
        proc.kill()
        proc.join()
        if todo:
            start()

    for _ in range(min(workers, len(items))):
        start()
    try:
        while todo or any(slot.task for slot in slots.values()):
            for conn in [c for c, slot in slots.items() if slot.ready and slot.task is None]:
                if not todo:
                    break
                task = todo.popleft()
                try:
                    conn.send(task)
                except OSError:  # died while idle: the item was never started
                    todo.appendleft(task)
                    stop(conn)
                    continue
                slots[conn].task, slots[conn].started = task, time.monotonic()
            by_sentinel = {slot.proc.sentinel: c for c, slot in slots.items()}
            for conn in {by_sentinel.get(x, x) for x in wait([*slots, *by_sentinel], 1.0)}:
                slot = slots[conn]
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    slot.proc.join(1.0)
                    code = slot.proc.exitcode
                    if slot.task is not None:
                        yield slot.task[0], None, f"worker process died (exit code {code})"
                    elif not slot.ready and (failed_starts := failed_starts + 1) >= 3:
                        raise ZooError(_START_FAILED.format(code)) from None
                    stop(conn)
                    continue
                if message == "ready":
                    slot.ready = True
                else:
                    slot.task = None
                    yield message
            if seconds:
                for conn in [c for c, slot in slots.items() if _overdue(slot, seconds)]:
                    reason = f"timed out after {seconds:g} s (worker killed)"
                    yield slots[conn].task[0], None, reason
                    stop(conn)
    finally:  # every result is in: the workers are told to stop, then killed where they
        for conn in slots:  # still tear their interpreter down (note-seq's modules: 0.5 s)
            with contextlib.suppress(OSError):
                conn.send(None)
        deadline = time.monotonic() + 0.2
        for slot in slots.values():
            slot.proc.join(max(0.0, deadline - time.monotonic()))
            if slot.proc.is_alive():
                slot.proc.kill()
                slot.proc.join()


def _overdue(slot: _Slot, seconds: float) -> bool:
    return slot.task is not None and time.monotonic() - slot.started > seconds + _GRACE_S
