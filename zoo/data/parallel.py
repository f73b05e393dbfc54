"""Run a function over many inputs in worker processes, one input at a time per worker.

Every input ends as ``(index, result, None)`` or ``(index, None, reason)``: an exception, a time
limit (``signal.setitimer`` in the worker) or a worker that dies (a crash in C code, the OOM
killer) costs that one input, never the others' results. Workers are started with 'spawn' so
that a parent holding threads (JAX, grain) is safe; ``workers=0`` runs inline, for tests.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing as mp
import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import wait

from zoo.errors import SkipPiece

Outcome = tuple[int, object, str | None]
_GRACE_S = 30.0  # a worker stuck in C code past its limit + this is killed from outside


class _TimeLimit(Exception):
    pass


def reason_of(e: BaseException) -> str:
    """One short line for a skip: the SkipPiece reason, or ``Class: first line of message``."""
    if isinstance(e, SkipPiece):
        return e.reason
    lines = str(e).strip().splitlines()
    first = lines[0][:160] if lines else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Raise _TimeLimit in this (main) thread after ``seconds``; no limit off the main thread."""
    if not seconds or threading.current_thread() is not threading.main_thread():
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


def _worker(conn, fn_pickle: bytes, seconds: float | None) -> None:
    _quiet()  # before unpickling fn, which imports note_seq
    fn = pickle.loads(fn_pickle)
    while (message := conn.recv()) is not None:
        index, item = message
        conn.send((index, *call(fn, item, seconds)))


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
    idle, busy = [], {}  # busy: conn -> (process, index, item, started)

    def start():
        parent_end, child_end = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child_end, fn_pickle, seconds), daemon=True)
        proc.start()
        child_end.close()
        idle.append((parent_end, proc))

    def retire(conn, proc):
        conn.close()
        proc.kill()
        proc.join()
        if todo:
            start()

    for _ in range(min(workers, len(items))):
        start()
    try:
        while todo or busy:
            while idle and todo:
                (conn, proc), (index, item) = idle.pop(), todo.popleft()
                try:
                    conn.send((index, item))
                except OSError:  # died while idle: the item was never started
                    todo.appendleft((index, item))
                    retire(conn, proc)
                    continue
                busy[conn] = (proc, index, item, time.monotonic())
            sentinels = {proc.sentinel: conn for conn, (proc, *_) in busy.items()}
            ready = set(wait([*busy, *sentinels], timeout=5.0))
            for conn in [c for c in busy if c in ready or sentinels.get(c) in ready]:
                proc, index, *_ = busy.pop(conn)
                try:
                    result = conn.recv()
                except (EOFError, OSError):
                    proc.join(1.0)
                    yield index, None, f"worker process died (exit code {proc.exitcode})"
                    retire(conn, proc)
                    continue
                yield result
                idle.append((conn, proc))
            if seconds:
                for conn in [c for c, (*_, t) in busy.items() if _overdue(t, seconds)]:
                    proc, index, *_ = busy.pop(conn)
                    yield index, None, f"timed out after {seconds:g} s (worker killed)"
                    retire(conn, proc)
    finally:
        for conn, proc in idle + [(c, p) for c, (p, *_) in busy.items()]:
            with contextlib.suppress(OSError):
                conn.send(None)
            proc.join(0.5)
            if proc.is_alive():
                proc.kill()
                proc.join()


def _overdue(started: float, seconds: float) -> bool:
    return time.monotonic() - started > seconds + _GRACE_S
