"""``python -m benchmarks.torch_parity [MODEL/PRESET ...]``: our loss at initialization beside the
torch port's (benchmarks/torch_baselines.py), on the same batch, at the presets' sizes.

The check that a side-by-side row compares the same computation: the same architecture (the
parameter counts, torch's extra LSTM bias vectors apart) and the same objective (the loss at
initialization, which both reach from the same init distributions but not the same weights, so
the figures agree to the spread between seeds, not exactly). Each network is initialized with
``--seeds`` seeds on each side; the batch is synthetic, of the preset's shape and the codec's
vocabulary (ids drawn uniformly; piano-roll keys on with probability 0.05), so nothing is
prepared. Needs torch (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

from zoo.codecs import get_codec
from zoo.registry import build_task, get_preset

CASES = ("melody_rnn/tiny", "music_transformer/melody_tiny", "music_vae/tiny",
         "music_vae/hier_tiny", "pianoroll_rnn_nade/cpu")


def synthetic_batch(task, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A training batch of ``task``'s shape: LM windows (inputs, targets, mask per event), VAE
    windows (inputs, mask per window) or piano-roll frames (inputs, targets, mask per frame)."""
    B, T, V = task.cfg.batch_size, task.cfg.seq_len, task.codec.vocab_size
    if hasattr(task, "window_steps"):
        ids = rng.integers(2, V, (B, task.window_steps)).astype(np.int32)
        return {"inputs": ids, "mask": np.ones(B, np.float32)}
    if getattr(task.codec, "kind", None) == "frames":
        frames = (rng.random((B, T + 1, V)) < 0.05).astype(np.uint8)
        return {"inputs": frames[:, :-1], "targets": frames[:, 1:],
                "mask": np.ones((B, T), np.float32)}
    ids = rng.integers(2, V, (B, T + 1)).astype(np.int32)
    return {"inputs": ids[:, :-1], "targets": ids[:, 1:], "mask": np.ones((B, T), np.float32)}


def parity(label: str, seeds: int = 3) -> dict:
    """Our and the torch port's training loss (step 0) at init on one batch, and the counts."""
    from benchmarks import torch_baselines

    model, preset_name = label.split("/")
    preset = get_preset(model, preset_name)
    task = build_task(model, preset, get_codec(preset.codec))
    batch = synthetic_batch(task, np.random.default_rng(0))
    loss = jax.jit(lambda params, rng: task.loss(params, batch, rng, step=0, train=True)[0])
    ours = [float(loss(task.init(jax.random.key(s)), jax.random.key(100 + s)))
            for s in range(seeds)]
    count = sum(x.size for x in jax.tree.leaves(task.init(jax.random.key(0))))
    theirs = []
    for s in range(seeds):
        step, torch_count = torch_baselines._port(task.model.config, task.cfg, task.config,
                                                  seed=s)
        theirs.append(float(step(batch).detach()))   # the loss before the first update
    return {"label": label, "ours": ours, "torch": theirs, "params": count,
            "torch_params": torch_count,
            "relative_gap": abs(np.mean(theirs) - np.mean(ours)) / abs(np.mean(ours))}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.torch_parity",
                                description=__doc__.split("\n")[0])
    p.add_argument("cases", nargs="*", default=list(CASES), help="MODEL/PRESET")
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args(argv)
    print("| model/preset | loss at init, ours (seeds) | torch port (seeds) | gap of the means "
          "| params ours / torch |")
    print("|---|---|---|---|---|")
    for label in args.cases:
        r = parity(label, args.seeds)
        fmt = lambda xs: ", ".join(f"{x:.3f}" for x in xs)
        print(f"| {label} | {fmt(r['ours'])} | {fmt(r['torch'])} | "
              f"{100 * r['relative_gap']:.2f}% | {r['params']:,} / {r['torch_params']:,} |",
              flush=True)


if __name__ == "__main__":
    main()
