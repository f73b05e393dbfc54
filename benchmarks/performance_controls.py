"""Conditioned Performance RNN: do the samples follow the controls asked for?

    zoo train performance_rnn_conditioned --preset tiny --workdir runs/perf-cond-tiny
    python -m benchmarks.performance_controls --workdir runs/perf-cond-tiny
    python -m benchmarks.performance_controls --workdir RUN --num 2 --steps 500   # quicker

``zoo.families.conditioned.performance.control_sweep``: ``--num`` samples of ``--steps`` events
per requested note density (1, 2, 4, 8, 16 notes/s; histogram absent) and per requested key
histogram (six keys; density absent). Reported: the mean realised density per request, the
Pearson correlation of log2 requested and log2 realised densities, the share of samples in the
requested density bin; the mean L1 distance between realised and requested pitch-class
histograms beside the same distance for samples with no control, and the share of samples whose
nearest requested key is their own. Writes JSON to ``--out`` (default
benchmarks/results/performance-controls.json) and prints it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from zoo.api import load
from zoo.families.conditioned.performance import control_sweep


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", required=True)
    p.add_argument("--num", type=int, default=4)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/performance-controls.json")
    args = p.parse_args(argv)
    model = load(args.workdir)
    t0 = time.perf_counter()
    result = control_sweep(model.task, model.params, num=args.num, steps=args.steps,
                           seed=args.seed)
    result.update(workdir=args.workdir, step=model.step, model=model.name,
                  seconds=round(time.perf_counter() - t0, 1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
