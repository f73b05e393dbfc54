"""`zoo prepare midi-dir` at scale: note-seq's reader (the old path) against the fast reader.

    python benchmarks/prepare_scale.py [--files 2000 20000] [--old-up-to 2000]
        [--codec performance] [--workers 2] [--out benchmarks/results]

Writes a folder of generated MIDI files of pop-song size (type 1 with a conductor track, 6-10
tracks, 1,500-4,000 notes, a drum track, sustain pedal, tempo changes; one in ten type 0), then
times ``zoo prepare midi-dir DIR --codec C --force --workers W`` in a fresh process for each
path, sampling the resident memory of the whole process tree (parent and workers) every 0.1 s.
The old path is ``ZOO_MIDI_READER=note-seq``. Rows: files/s, events/s, peak memory, how many
files each reader read, and whether the two paths wrote the same arrays. Results go to
``OUT/prepare_scale.json`` and ``OUT/prepare_scale.md``. On the smallest folder it also kills a
run half way (SIGKILL) and checks that the rerun resumes and writes the same arrays.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def _chunk(events: list[tuple[int, bytes]]) -> bytes:
    """[(absolute tick, message)] -> MTrk chunk with running status, as most sequencers write."""
    out, last, status = bytearray(), 0, None
    for tick, msg in sorted(events, key=lambda e: e[0]):
        out += _vlq(tick - last)
        last = tick
        out += msg[1:] if msg[0] < 0xF0 and msg[0] == status else msg
        status = msg[0] if msg[0] < 0xF0 else None
    out += b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">L", len(out)) + bytes(out)


def song(rng: np.random.Generator, tpq: int = 480) -> bytes:
    """One pop-song-sized MIDI file (about 20-35 KB, 2,000-5,000 notes). Notes start on a grid
    of ``step`` ticks and last at most one step, so no key is struck while it sounds."""
    bars = int(rng.integers(30, 60))
    conductor = [(0, b"\xff\x03\x05tempo"), (0, b"\xff\x58\x04\x04\x02\x18\x08"),
                 (0, b"\xff\x59\x02" + bytes([int(rng.integers(0, 5)), 0]))]
    for k in range(int(rng.integers(1, 4))):
        us = int(6e7 / rng.uniform(80, 160))
        conductor.append((int(rng.integers(0, bars)) * 4 * tpq * (k > 0),
                          b"\xff\x51\x03" + us.to_bytes(3, "big")))
    tracks = [conductor]
    n_tracks = int(rng.integers(5, 10))
    for t in range(n_tracks):
        drums = t == n_tracks - 1
        ch = 9 if drums else t
        step = tpq // int(rng.choice([1, 2, 4]))
        grid = np.arange(0, bars * 4 * tpq, step)
        grid = grid[rng.random(len(grid)) < rng.uniform(0.3, 0.9)]
        starts = np.repeat(grid, rng.integers(1, 4, len(grid)))
        if drums:
            pitches = rng.choice([36, 38, 42, 46, 49], len(starts))
            lengths = np.full(len(starts), tpq // 8)
        else:
            pitches = int(rng.integers(36, 72)) + rng.integers(0, 15, len(starts))
            lengths = step // rng.choice([1, 2], len(starts))
        keep = np.unique(starts * 128 + pitches, return_index=True)[1]  # one key once a tick
        starts, pitches, lengths = starts[keep], pitches[keep], lengths[keep]
        velocities = rng.integers(50, 120, len(starts))
        events = [(0, b"\xff\x03\x07" + f"track{t:02d}".encode()),
                  (0, bytes([0xC0 | ch, int(rng.integers(0, 128))])),
                  (0, bytes([0xB0 | ch, 7, int(rng.integers(60, 120))]))]
        for s, p, n, v in zip(starts.tolist(), pitches.tolist(), lengths.tolist(),
                              velocities.tolist()):
            events += [(s, bytes([0x90 | ch, p, v])), (s + n, bytes([0x80 | ch, p, 0]))]
        if t == 0:  # the piano's pedal, every bar
            for bar in range(bars):
                events += [(bar * 4 * tpq + 2, bytes([0xB0, 64, 127])),
                           (bar * 4 * tpq + 3 * tpq, bytes([0xB0, 64, 0]))]
        tracks.append(events)
    if rng.random() < 0.1:  # type 0: every channel in one track
        merged = [e for t in tracks for e in t if not e[1].startswith(b"\xff\x03")]
        return b"MThd" + struct.pack(">Lhhh", 6, 0, 1, tpq) + _chunk(merged)
    return (b"MThd" + struct.pack(">Lhhh", 6, 1, len(tracks), tpq)
            + b"".join(_chunk(t) for t in tracks))


def write_folder(root: Path, files: int, seed: int = 0, unique: int | None = None) -> Path:
    """``files`` generated songs under ``root`` (100 per subfolder); kept for a rerun. With
    ``unique``: that many songs, hard-linked over and over up to ``files`` (prepare then reads
    every file and keeps each song once, as duplicates)."""
    unique = min(unique or files, files)
    done = root / f".complete-{files}-{unique}-v2"
    if done.exists():
        return root
    rng = np.random.default_rng(seed)
    for i in range(files):
        folder = root / f"{i // 100:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"song{i:06d}.mid"
        if i < unique:
            path.write_bytes(song(rng))
        else:
            path.unlink(missing_ok=True)
            os.link(root / f"{i % unique // 100:04d}" / f"song{i % unique:06d}.mid", path)
    done.write_text("")
    return root


def _tree_rss(proc) -> int:
    import psutil

    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_prepare(folder: Path, out: Path, codec: str, workers: int, reader: str) -> dict:
    """One `zoo prepare` in a fresh process; wall seconds and peak tree memory."""
    import psutil

    env = {**os.environ, "ZOO_MIDI_READER": reader}
    cmd = [sys.executable, "-m", "zoo", "prepare", "midi-dir", str(folder), "--codec", codec,
           "--force", "--out", str(out), "--workers", str(workers)]
    load_before = os.getloadavg()[0]
    cpu_before = _children_cpu()
    start = time.perf_counter()
    proc = psutil.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc))
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before  # the process and its workers (reaped by it)
    stdout, stderr = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {stderr.decode()[-800:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    splits = manifest["splits"].values()
    pieces, events = sum(s["pieces"] for s in splits), sum(s["events"] for s in splits)
    readers: dict[str, int] = {}
    for name, n in manifest.get("readers", {}).items():
        readers[name] = readers.get(name, 0) + n
    return {"reader": reader, "files": manifest["inputs"], "pieces": pieces, "events": events,
            "skipped": sum(manifest["skipped"].values()), "seconds": round(seconds, 2),
            "files_per_s": round(manifest["inputs"] / seconds, 1),
            "events_per_s": round(events / seconds), "peak_rss_mb": round(peak / 2**20, 1),
            "cpu_s": round(cpu, 2), "load_average": [round(load_before, 2),
                                                       round(os.getloadavg()[0], 2)],
            "readers": readers}


def _children_cpu() -> float:
    """User + system CPU seconds of this process's finished children (and theirs)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def killed_and_resumed(folder: Path, out: Path, codec: str, workers: int, after_s: float
                       ) -> dict:
    """`zoo prepare` SIGKILLed (with its workers) after ``after_s`` seconds, then run again."""
    import psutil

    cmd = [sys.executable, "-m", "zoo", "prepare", "midi-dir", str(folder), "--codec", codec,
           "--out", str(out), "--workers", str(workers)]
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(after_s)
    for p in [*proc.children(recursive=True), proc]:
        p.kill()
    proc.wait()
    shards = len(list(out.parent.glob(f".{out.name}.work/shard-*.json")))
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    resumed = [line for line in done.stdout.splitlines() if line.startswith("resuming")]
    return {"killed_after_s": after_s, "shards_left": shards, "rerun_seconds":
            round(time.perf_counter() - start, 2), "resume_line": resumed[0] if resumed else ""}


def same_arrays(a: Path, b: Path) -> bool:
    for split in ("train", "valid", "test"):
        if (json.loads((a / f"{split}.ids.json").read_text())
                != json.loads((b / f"{split}.ids.json").read_text())):
            return False
        for part in ("data", "offsets"):
            if not np.array_equal(np.load(a / f"{split}.{part}.npy"),
                                  np.load(b / f"{split}.{part}.npy")):
                return False
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, nargs="+", default=[2000, 20000])
    ap.add_argument("--old-up-to", type=int, default=2000,
                    help="time the note-seq path only for folders up to this many files")
    ap.add_argument("--codec", default="performance")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data", default=None, help="where the generated folders go (kept)")
    ap.add_argument("--unique", type=int, default=None,
                    help="songs generated per folder; the rest are hard links to them")
    ap.add_argument("--no-kill", action="store_true", help="skip the kill-and-resume check")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args(argv)
    data = Path(args.data or Path(tempfile.gettempdir()) / "zoo-prepare-scale")
    rows = []
    for n in args.files:
        unique = min(args.unique or n, n)
        folder = write_folder(data / (f"midi-{n}" if unique == n else f"midi-{n}-of-{unique}"),
                              n, unique=unique)
        sizes = [p.stat().st_size for p in folder.rglob("*.mid")]
        with tempfile.TemporaryDirectory() as tmp:
            new = run_prepare(folder, Path(tmp) / "new", args.codec, args.workers, "auto")
            row = {"files": n, "unique_songs": unique, "mean_kb": round(np.mean(sizes) / 1024, 1),
                   "new": new}
            if n == min(args.files) and not args.no_kill:
                row["kill"] = killed_and_resumed(folder, Path(tmp) / "killed", args.codec,
                                                 args.workers, new["seconds"] / 2)
                row["kill"]["same_arrays"] = same_arrays(Path(tmp) / "killed",
                                                         Path(tmp) / "new")
            if n <= args.old_up_to:  # new, old, new again: the speed-up takes the slower new
                old = run_prepare(folder, Path(tmp) / "old", args.codec, args.workers,
                                  "note-seq")
                again = run_prepare(folder, Path(tmp) / "again", args.codec, args.workers,
                                    "auto")
                row["old"], row["new_again"] = old, again
                slower = max(new["seconds"], again["seconds"])
                row["speedup"] = round(old["seconds"] / slower, 2)
                row["cpu_speedup"] = round(old["cpu_s"] / max(new["cpu_s"], again["cpu_s"]), 2)
                row["same_arrays"] = (same_arrays(Path(tmp) / "old", Path(tmp) / "new")
                                      and same_arrays(Path(tmp) / "again", Path(tmp) / "new"))
            rows.append(row)
            print(json.dumps(row), flush=True)
    record = {"benchmark": "prepare_scale", "codec": args.codec, "workers": args.workers,
              "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
              "python": platform.python_version(), "rows": rows,
              "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                       capture_output=True, text=True).stdout.strip()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "prepare_scale.json").write_text(json.dumps(record, indent=1) + "\n")
    (out / "prepare_scale.md").write_text(markdown(record))
    print(markdown(record))
    return 0


def markdown(record: dict) -> str:
    lines = [f"# `zoo prepare midi-dir` at scale ({record['codec']}, --workers "
             f"{record['workers']}, commit {record['commit']})", "",
             "| files | mean size | path | seconds | CPU s | load | files/s | events/s |"
             " peak memory (tree) | read by symusic / note-seq | same arrays |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    names = {"new": "symusic + fast encoder (new)", "old": "note-seq (old)",
             "new_again": "new, again"}
    for row in record["rows"]:
        for key in ("new", "old", "new_again"):
            if key not in row:
                continue
            r = row[key]
            fast = r["readers"].get("symusic", 0)
            slow = sum(v for k, v in r["readers"].items() if k.startswith("note-seq"))
            same = "" if key == "new" or "same_arrays" not in row else (
                "yes" if row["same_arrays"] else "NO")
            load = "-".join(f"{x:.1f}" for x in r.get("load_average", []))
            lines.append(f"| {row['files']:,} | {row['mean_kb']} KB | {names[key]} | "
                         f"{r['seconds']} | {r.get('cpu_s', '')} | {load} | "
                         f"{r['files_per_s']:,} | {r['events_per_s']:,} | {r['peak_rss_mb']} MB"
                         f" | {fast:,} / {slow:,} | {same} |")
        if "speedup" in row:
            lines.append(f"| | | speed-up (old / slower new) | {row['speedup']}x | "
                         f"{row.get('cpu_speedup', '')}x | | | | | | |")
    for row in record["rows"]:
        if "kill" in row:
            k = row["kill"]
            lines += ["", f"Killed (SIGKILL, workers too) after {k['killed_after_s']:.0f} s of "
                      f"the {row['files']:,}-file run, {k['shards_left']} shards left; the rerun "
                      f"took {k['rerun_seconds']} s (`{k['resume_line']}`); same arrays as "
                      f"the uninterrupted run: {'yes' if k['same_arrays'] else 'NO'}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
