"""Coconet on the embedded chorales: frame-wise NLL on a split, and the four-part statistics of
its harmonisations of the split's soprano lines beside the real chorales.

    zoo train coconet --preset chorales --workdir runs/coconet-chorales
    python -m benchmarks.coconet --workdir runs/coconet-chorales            # test split
    python -m benchmarks.coconet --workdir RUN --pieces 8 --chain-pieces 4  # quicker

Measured, per split piece (all, or the first ``--pieces``):
- the orderless-NADE estimate of the NLL per frame (``zoo eval``'s number: ``task.eval_draws``
  random masks per piece, k ~ U{1..D}, rescaled by D/k, whole pieces);
- the chain-rule NLL per frame under one random ordering (``CoconetTask.chain_rule_nll``:
  frames in random order, voices in random order within a frame, Magenta's FrameEvaluator)
  for the first ``--chain-pieces`` pieces, with the true voices within a frame ("truth": an
  exact log-likelihood under that ordering) and with Magenta's argmax guesses ("argmax");
- for each piece, its soprano harmonised by the model (``task.harmonize``, Gibbs as configured)
  and ``zoo.eval.voices.harmony_statistics`` of the real pieces, the harmonisations and
  ``--samples`` unconditional samples of 128 steps.
Writes JSON to ``--out`` (default benchmarks/results/coconet-<split>.json) and prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np

from zoo.eval.voices import harmony_statistics, voice_grid

ROWS = [("parallel_fifths_per_bar", "parallel fifths / bar", ".3f"),
        ("parallel_octaves_per_bar", "parallel octaves / bar", ".3f"),
        ("chord_tone_rate", "chord-tone rate", ".3f"),
        ("voice_crossing_rate", "voice-crossing rate", ".3f")]


def soprano_sequence(task, rolls_TxV: np.ndarray):
    """The soprano of a piece's rolls alone, as a NoteSequence on the codec's grid."""
    only = np.full_like(rolls_TxV, task.net.pitches)
    only[:, 0] = rolls_TxV[:, 0]
    return task.codec.decode(task.grid.frames(only))


def table(columns: dict[str, dict]) -> list[str]:
    names = list(columns)
    lines = [f"{'statistic':<26}" + "".join(f"{n:>14}" for n in names)]
    for key, label, fmt in ROWS:
        lines.append(f"{label:<26}" + "".join(f"{columns[n][key]:>14{fmt}}" for n in names))
    for v, voice in enumerate(("soprano", "alto", "tenor", "bass")):
        cells = [f"{columns[n]['voice_lowest'][v]:.0f}-{columns[n]['voice_highest'][v]:.0f} "
                 f"({columns[n]['voice_mean'][v]:.1f})" for n in names]
        lines.append(f"{voice + ' range (mean)':<26}" + "".join(f"{c:>14}" for c in cells))
    return lines


def main(argv=None) -> int:
    from zoo.families.coconet import batches
    from zoo.runs import load_trained

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--pieces", type=int, help="first N pieces of the split (default: all)")
    p.add_argument("--chain-pieces", type=int, default=4)
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out")
    args = p.parse_args(argv)

    trained = load_trained(Path(args.workdir))
    task, params = trained.built.task, trained.state.params
    split = trained.built.data.split(args.split)
    rolls = batches.split_rolls(split, task.grid, args.pieces)
    result = {"workdir": args.workdir, "step": trained.step, "split": args.split,
              "pieces": len(rolls), "frames": int(sum(len(r) for r in rolls)),
              "task": dataclasses.asdict(task.config)}

    t0 = time.perf_counter()
    orderless = trained.trainer.evaluate(params, args.split, whole=True) if args.pieces is None \
        else _orderless(task, params, split, args.pieces)
    result["orderless"] = {**orderless, "seconds": time.perf_counter() - t0}

    chain = {}
    for within in ("truth", "argmax"):
        t0 = time.perf_counter()
        rng = np.random.default_rng(args.seed)
        nll = [task.chain_rule_nll(params, r, rng, within=within) for r in rolls[:args.chain_pieces]]
        frames = sum(len(x) for x in nll)
        chain[within] = {"nll": float(sum(x.sum() for x in nll) / max(frames, 1)),
                         "pieces": len(nll), "frames": frames,
                         "seconds": time.perf_counter() - t0}
    result["chain_rule"] = chain
    same = _orderless(task, params, split, args.chain_pieces)
    result["orderless_on_chain_pieces"] = same

    t0 = time.perf_counter()
    real = [voice_grid(task.codec.decode(task.grid.frames(r))) for r in rolls]
    harmonised = []
    for i, r in enumerate(rolls):
        ns = task.harmonize(params, soprano_sequence(task, r), jax.random.key(args.seed + i))[0]
        harmonised.append(voice_grid(ns))
    samples = task.generate(params, args.samples, 128, np.array([1]), jax.random.key(args.seed))
    columns = {"real": harmony_statistics(real), "harmonised": harmony_statistics(harmonised),
               "samples": harmony_statistics([voice_grid(s) for s in samples])}
    result["harmony"] = columns
    result["harmony_seconds"] = time.perf_counter() - t0
    kept = all(np.array_equal(h[:len(g), 0], g[:len(h), 0]) for h, g in zip(harmonised, real))
    result["melody_kept"] = bool(kept)

    lines = [f"coconet {args.workdir} step {trained.step}, {args.split}: {len(rolls)} pieces, "
             f"{result['frames']} frames",
             f"orderless-NADE estimate: {orderless['nll']:.4f} nats/frame "
             f"({orderless['cell_nll']:.4f}/cell)"]
    for within, c in chain.items():
        lines.append(f"chain rule, one random ordering, within-frame {within}: {c['nll']:.4f} "
                     f"nats/frame on {c['pieces']} pieces ({c['frames']} frames; orderless "
                     f"estimate on the same pieces {same['nll']:.4f})")
    lines += table(columns) + [f"melody kept exactly in every harmonisation: {kept}"]
    print("\n".join(lines))
    out = Path(args.out or f"benchmarks/results/coconet-{args.split}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**result, "table": lines}, indent=1, default=str))
    print(out)
    return 0


def _orderless(task, params, split, pieces: int) -> dict:
    sums = None
    loss = jax.jit(lambda p, b: task.loss(p, b, None))
    for b in task.eval_batches(split, 8, pieces):
        _, s = loss(params, b)
        s = jax.device_get(s)
        sums = s if sums is None else {k: sums[k] + s[k] for k in s}
    return task.summarize(sums)


if __name__ == "__main__":
    raise SystemExit(main())
