"""A progress watchdog for the train loop: an unknown future hang must not eat a night.

The loop calls ``beat()`` whenever it makes progress (a step's metrics arrived, an evaluation
batch ran). A daemon thread checks that the last beat is younger than a bound: the larger of a
floor (``train.stall_seconds``, long enough to cover compilation, evaluation and checkpointing)
and ``train.stall_factor`` times the median step time so far. Past it, the thread writes every
thread's Python stack to ``WORKDIR/stall-<time>.txt``, prints one line naming that file, and ends
the process with exit code ``STALL_EXIT_CODE`` (75, "temporary failure": ``zoo train`` with the
same workdir resumes from the last checkpoint).
"""

from __future__ import annotations

import collections
import faulthandler
import os
import statistics
import sys
import threading
import time
from pathlib import Path

STALL_EXIT_CODE = 75


class Watchdog:
    def __init__(self, workdir: Path, floor_s: float, factor: float, what: str = "training"):
        self.workdir, self.floor_s, self.factor, self.what = Path(workdir), floor_s, factor, what
        self._last = time.monotonic()
        self._durations: collections.deque[float] = collections.deque(maxlen=256)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="zoo-watchdog", daemon=True)

    def start(self) -> Watchdog:
        if self.floor_s > 0:
            self._thread.start()
        return self

    def beat(self, step: bool = False) -> None:
        """Progress now; ``step``: a training step finished (its duration counts)."""
        now = time.monotonic()
        if step:
            self._durations.append(now - self._last)
        self._last = now

    def bound(self) -> float:
        median = statistics.median(self._durations) if len(self._durations) >= 5 else 0.0
        return max(self.floor_s, self.factor * median)

    def _watch(self) -> None:
        while not self._stop.wait(min(5.0, max(self.floor_s / 10, 0.2))):
            idle = time.monotonic() - self._last
            if idle > self.bound():
                self._fire(idle)

    def _fire(self, idle: float) -> None:
        path = self.workdir / time.strftime("stall-%Y%m%d-%H%M%S.txt")
        try:
            with open(path, "w") as f:
                f.write(f"no progress in {self.what} for {idle:.0f} s (bound {self.bound():.0f} s);"
                        f" every thread's stack, pid {os.getpid()}:\n\n")
                f.flush()
                faulthandler.dump_traceback(f, all_threads=True)
            where = str(path)
        except OSError as e:
            where = f"(could not write {path}: {e.strerror})"
            faulthandler.dump_traceback(sys.stderr, all_threads=True)
        print(f"zoo train: error: no progress for {idle:.0f} s; thread stacks in {where}; "
              f"run the same `zoo train` again to resume from the last checkpoint",
              file=sys.__stderr__, flush=True)
        os._exit(STALL_EXIT_CODE)

    def stop(self) -> None:
        self._stop.set()
