"""Data preparation speed: ``zoo prepare`` end to end (the CLI in a fresh process, imports and
worker start-up included) and through ``zoo.data.prepare.prepare`` in this process, as pieces/s
and events/s of the prepared output (every split; skipped inputs cost time but count nothing).

The other data figure, the share of a training step spent waiting for the next batch, comes from
``benchmarks.train_throughput.input_wait`` (the real loop's prefetching iterator).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from zoo.data.prepare import prepare


def _counts(out: Path) -> dict:
    manifest = json.loads((out / "manifest.json").read_text())
    splits = manifest["splits"].values()
    return {"pieces": sum(s["pieces"] for s in splits), "events": sum(s["events"] for s in splits),
            "inputs": manifest["inputs"], "skipped": sum(manifest["skipped"].values())}


def _rates(kind: str, source: str, codec: str, seconds: float, counts: dict,
           workers: int) -> dict:
    return {"kind": kind, "source": source, "codec": codec, "workers": workers,
            "seconds": seconds, **counts, "pieces_per_s": counts["pieces"] / seconds,
            "events_per_s": counts["events"] / seconds,
            "inputs_per_s": counts["inputs"] / seconds}


def _workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def prepare_cli(source: str, path: str | None, codec: str, out: Path) -> dict:
    """Time ``zoo prepare SOURCE [PATH] --codec CODEC --force --out OUT`` in a new process."""
    cmd = [sys.executable, "-m", "zoo", "prepare", source, *([str(path)] if path else []),
           "--codec", codec, "--force", "--out", str(out)]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()[-500:]}")
    record = _rates("prepare_cli", source, codec, seconds, _counts(out), _workers())
    record["command"] = (f"`zoo prepare {source}{' PATH' if path else ''} --codec {codec} "
                         "--force --out <tmp>`")
    return record


def prepare_function(source: str, path: str | None, codec: str, out: Path,
                     workers: int | None = None) -> dict:
    """Time ``prepare(source, path, codec, out=out, force=True)`` in this process."""
    start = time.perf_counter()
    prepare(source, path, codec, out=out, workers=workers, force=True, echo=lambda s: None)
    seconds = time.perf_counter() - start
    return _rates("prepare_function", source, codec, seconds, _counts(out),
                  _workers() if workers is None else workers)


def prepare_midi_scale(files: int, tmp: Path, codec: str = "melody", workers: int = 2) -> dict:
    """`zoo prepare midi-dir` on ``files`` generated pop-song MIDI files (benchmarks/
    prepare_scale.py's generator, written under ``tmp``): the note-seq path (old) and the fast
    path (new) back to back in fresh processes, files/s, events/s, CPU seconds and peak memory
    of each process tree, and whether both wrote the same arrays."""
    from benchmarks import prepare_scale

    folder = prepare_scale.write_folder(tmp / "midi", files)
    new = prepare_scale.run_prepare(folder, tmp / "new", codec, workers, "auto")
    old = prepare_scale.run_prepare(folder, tmp / "old", codec, workers, "note-seq")
    return {"kind": "prepare_midi", "files": files, "codec": codec, "workers": workers,
            "new": new, "old": old, "speedup": old["seconds"] / new["seconds"],
            "cpu_speedup": old["cpu_s"] / new["cpu_s"],
            "same_arrays": prepare_scale.same_arrays(tmp / "old", tmp / "new")}
