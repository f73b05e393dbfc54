"""Soak: every family's tiny preset trained K times under a time limit, and once killed with
SIGKILL at a random step then resumed; counts runs, hangs, crashes, and checks that every resumed
run ends with exactly the parameters of the uninterrupted one (and that repeated runs agree).

    python benchmarks/soak.py [--runs K] [--steps S] [--limit SECONDS] [--models a,b] [--seed N]

Every run is its own `python -m zoo train` process (as a user runs it). A run still alive after
``--limit`` seconds is a hang: its threads' stacks are taken with py-spy when it is installed,
then it is killed. Writes ``benchmarks/results/soak.json`` and prints a table.
Outside `make test`: it takes tens of minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent
RESULTS = ROOT / "benchmarks" / "results"

# (model, preset, source, codec); the drums come from a generated MIDI folder
CASES = [
    ("melody_rnn", "tiny", "embedded-chorales", "melody"),
    ("performance_rnn", "tiny", "embedded-chorales", "performance"),
    ("polyphony_rnn", "tiny", "embedded-chorales", "polyphony"),
    ("drums_rnn", "tiny", "generated-drums", "drums"),
    ("music_transformer", "tiny", "embedded-chorales", "performance"),
    ("music_vae", "tiny", "embedded-folk", "melody"),
    ("music_vae", "hier_tiny", "embedded-folk", "melody"),
    ("pianoroll_rnn", "tiny", "embedded-chorales", "pianoroll"),
    ("pianoroll_rnn_nade", "tiny", "embedded-chorales", "pianoroll"),
    ("pianoroll_transformer", "tiny", "embedded-chorales", "pianoroll"),
    ("musegan", "tiny", "embedded-chorales", "multitrack"),
]


def _drum_folder(folder: Path) -> Path:
    import note_seq
    from note_seq.protobuf import music_pb2

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(24):
        rng = random.Random(i)
        ns = music_pb2.NoteSequence(ticks_per_quarter=220)
        ns.tempos.add(qpm=120)
        for step in range(128):
            hits = ([42] if step % 2 == 0 else []) + ([36] if step % 8 == 0 else []) + (
                [38] if step % 8 == 4 else []) + ([rng.choice([45, 49, 51])]
                                                  if rng.random() < 0.1 else [])
            for p in hits:
                ns.notes.add(pitch=p, start_time=step * 0.125, end_time=step * 0.125 + 0.1,
                             velocity=90, is_drum=True, instrument=9)
        ns.total_time = 16.0
        note_seq.sequence_proto_to_midi_file(ns, str(folder / f"beat_{i}.mid"))
    return folder


def _data(source: str, codec: str, scratch: Path) -> str:
    from zoo.data.prepare import prepare

    if source == "generated-drums":
        return str(prepare("midi-dir", _drum_folder(scratch / "drums"), codec,
                           out=scratch / "drums-prepared", workers=0, echo=lambda s: None))
    return str(prepare(source, None, codec, echo=lambda s: None))


def _train_cmd(model, preset, data, workdir, steps):
    return [sys.executable, "-m", "zoo", "train", model, "--preset", preset, "--data", data,
            "--workdir", str(workdir), "--no-progress", "--set", f"steps={steps}",
            "--set", "batch_size=8", "--set", "checkpoint_every=5", "--set", "eval_every=100000",
            "--set", "log_every=5"]


def _stacks(pid: int) -> str:
    try:
        return subprocess.run(["py-spy", "dump", "--pid", str(pid)], capture_output=True,
                              text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "(py-spy not available)"


def _run(cmd, limit: float, kill_after_step: int | None = None, workdir: Path | None = None):
    """-> ("ok" | "hung" | "crashed" | "killed", seconds, note)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    while proc.poll() is None:
        if time.monotonic() - t0 > limit:
            note = _stacks(proc.pid)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return "hung", time.monotonic() - t0, note[-4000:]
        if kill_after_step is not None and _steps_logged(workdir) >= kill_after_step:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return "killed", time.monotonic() - t0, f"SIGKILL after step {kill_after_step}"
        time.sleep(0.05)
    out = proc.stdout.read()
    if proc.returncode != 0:
        return "crashed", time.monotonic() - t0, out[-2000:]
    return "ok", time.monotonic() - t0, ""


def _steps_logged(workdir: Path) -> int:
    path = workdir / "metrics.jsonl"
    if not path.exists():
        return 0
    steps = [json.loads(line)["step"] for line in path.read_text().splitlines() if line.strip()]
    return max(steps, default=0)


def _params(workdir: Path):
    import jax

    from zoo.runs import load_trained

    return jax.device_get(load_trained(workdir).state.params)


def _equal(a, b) -> bool:
    import jax
    import numpy as np

    return all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(np.array_equal(x, y)), a, b)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="uninterrupted runs per preset")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--limit", type=float, default=300.0, help="seconds before a run is hung")
    ap.add_argument("--models", help="comma-separated model names (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "soak.json"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    cases = [c for c in CASES if not args.models or c[0] in args.models.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="zoo-soak-") as tmp:
        scratch = Path(tmp)
        for model, preset, source, codec in cases:
            data = _data(source, codec, scratch)
            row = {"model": model, "preset": preset, "runs": 0, "ok": 0, "killed": 0, "hung": 0,
                   "crashed": 0, "seconds": [], "notes": []}
            reference = None
            for k in range(args.runs):
                wd = scratch / f"{model}-{preset}-{k}"
                status, seconds, note = _run(_train_cmd(model, preset, data, wd, args.steps),
                                             args.limit)
                row["runs"] += 1
                row[status] += 1
                row["seconds"].append(round(seconds, 1))
                if note:
                    row["notes"].append(note)
                if status == "ok":
                    params = _params(wd)
                    if reference is None:
                        reference = params
                    else:
                        row.setdefault("repeat_equal", True)
                        row["repeat_equal"] &= _equal(params, reference)
            # killed at a random step (after the first checkpoint), then resumed
            wd = scratch / f"{model}-{preset}-killed"
            kill_at = rng.randint(6, args.steps - 2)
            cmd = _train_cmd(model, preset, data, wd, args.steps)
            status, seconds, note = _run(cmd, args.limit, kill_after_step=kill_at, workdir=wd)
            row["killed_at"] = kill_at if status == "killed" else None
            row["runs"] += 1
            row[status] += 1
            status, seconds, note = _run(cmd, args.limit)  # the same command resumes
            row["runs"] += 1
            row[status] += 1
            if note:
                row["notes"].append(note)
            row["resumed_equal"] = (status == "ok" and reference is not None
                                    and _equal(_params(wd), reference))
            rows.append(row)
            print(f"{model}/{preset}: {row['runs']} runs, {row['ok']} ok, {row['killed']} killed, "
                  f"{row['hung']} hung, "
                  f"{row['crashed']} crashed, killed at step {row['killed_at']}, resumed equal "
                  f"{row['resumed_equal']}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    import jax

    if args.models and Path(args.out).exists():  # a partial run replaces its presets' rows
        done = {(r["model"], r["preset"]) for r in rows}
        old = json.loads(Path(args.out).read_text())["rows"]
        rows = [r for r in old if (r["model"], r["preset"]) not in done] + rows

    Path(args.out).write_text(json.dumps({
        "command": " ".join(["python", "benchmarks/soak.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M"), "jax": jax.__version__,
        "cpus": os.cpu_count(), "steps": args.steps, "limit_s": args.limit, "rows": rows},
        indent=1))
    total = {k: sum(r[k] for r in rows) for k in ("runs", "ok", "killed", "hung", "crashed")}
    print(f"soak: {total['runs']} runs, {total['ok']} ok, {total['killed']} killed on purpose, "
          f"{total['hung']} hung, "
          f"{total['crashed']} crashed; resumed = uninterrupted in "
          f"{sum(bool(r['resumed_equal']) for r in rows)} of {len(rows)} presets")
    return 0 if total["hung"] == total["crashed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
