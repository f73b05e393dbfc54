"""Wall-clock timing of blocking calls: warm-up first, then the median of N runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def time_calls(fn: Callable[[], object], iters: int, warmup: int = 1) -> list[float]:
    """Seconds of each of ``iters`` calls of ``fn`` after ``warmup`` untimed ones. ``fn`` must
    block until its work is done (``jax.block_until_ready``)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def summary(times: list[float]) -> dict[str, float]:
    """Median and spread (min, max, interquartile range) of ``times``, seconds."""
    ordered = sorted(times)
    q = statistics.quantiles(ordered, n=4) if len(ordered) >= 2 else [ordered[0]] * 3
    return {"median_s": statistics.median(ordered), "min_s": ordered[0], "max_s": ordered[-1],
            "iqr_s": q[2] - q[0], "n": len(ordered)}


def taking_turns(runs: dict[str, Callable[[], object]], calls: int) -> dict[str, list[float]]:
    """Seconds of ``calls`` calls of each blocking function, after one untimed call each, the
    functions taking turns call by call so that all of them see the same machine load."""
    for fn in runs.values():
        fn()
    times = {name: [] for name in runs}
    for _ in range(calls):
        for name, fn in runs.items():
            times[name] += time_calls(fn, 1, warmup=0)
    return times
