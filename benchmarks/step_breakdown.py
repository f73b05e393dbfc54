"""Where an event model's training step goes: ``PYTHONPATH=. python benchmarks/step_breakdown.py
[MODEL PRESET]`` (default: melody_rnn tiny).

On one synthetic batch of the preset's shape (``benchmarks.accel.synthetic_batch``), the compiled
functions taking turns, median of 20 calls each, in milliseconds:

- the engine's step (``make_train_step``: gradient, clipping, optimizer, non-finite guard);
- ``jax.grad`` of the task's loss, and the loss alone, with and without dropout;
- ``jax.grad`` with respect to one top-level parameter group at a time, the others passed in
  and held fixed (XLA then drops the backward work that group does not need);
- for LSTM presets, the recurrence alone (``lstm_lm.lstm_scan``, forward and its gradient) at
  the preset's B x T x H, on random inputs.

Figures and what they showed: benchmarks/results/lstm_variants.md.
"""

from __future__ import annotations

import functools
import statistics
import sys


def timed(runs: dict, calls: int = 20) -> dict[str, float]:
    """Median milliseconds of each zero-argument function (``timing.taking_turns``)."""
    import jax

    from benchmarks.timing import taking_turns

    times = taking_turns({k: (lambda f=f: jax.block_until_ready(f())) for k, f in runs.items()},
                         calls)
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def main(model_name: str = "melody_rnn", preset_name: str = "tiny") -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from benchmarks.accel import Row, build, jitted_step, make_plan, synthetic_batch

    task, train = build(Row(model=model_name, preset=preset_name), make_plan(False, False))
    batch = {k: jnp.asarray(v) for k, v in synthetic_batch(task, train).items()}
    step, state = jitted_step(task, train)
    params = jax.tree.map(jnp.copy, state.params)     # the step donates the state's buffers
    rng = jax.random.key(0)
    loss = lambda p, train=True: task.loss(p, batch, rng, train=train)[0]
    holder = [state]

    def engine_step():
        holder[0], metrics = step(holder[0], batch, rng)
        return metrics

    def grad_of(names):
        # The other groups are arguments, not constants closed over: XLA would fold and split
        # constant weights (a dot of a concatenate becomes four dots of constant slices).
        g = jax.jit(jax.grad(lambda sub, rest: loss({**rest, **sub}, train=False)))
        sub = {k: params[k] for k in names}
        rest = {k: v for k, v in params.items() if k not in names}
        return lambda: g(sub, rest)

    grad, grad_eval = jax.jit(jax.grad(loss)), jax.jit(jax.grad(functools.partial(loss,
                                                                               train=False)))
    fwd, fwd_eval = jax.jit(loss), jax.jit(functools.partial(loss, train=False))
    runs = {"engine step": engine_step, "grad": lambda: grad(params),
            "grad, no dropout": lambda: grad_eval(params), "loss": lambda: fwd(params),
            "loss, no dropout": lambda: fwd_eval(params)}
    runs.update({f"grad of {name} only": grad_of([name]) for name in params})
    cfg = task.model.config
    if hasattr(cfg, "hidden"):
        from zoo.nets.lstm_lm import lstm_scan

        (B, T), H = batch["inputs"].shape, cfg.hidden
        r = np.random.default_rng(0)
        w = jnp.asarray(r.normal(size=(H, 4 * H)).astype(np.float32) * 0.1)
        xw = jnp.asarray(r.normal(size=(T, B, 4 * H)).astype(np.float32))
        c0 = (jnp.zeros((B, H)), jnp.zeros((B, H)))
        rec = lambda w, xw: jnp.sum(lstm_scan(w, xw, c0)[0] ** 2)
        rec_f, rec_g = jax.jit(rec), jax.jit(jax.grad(rec, (0, 1)))
        runs["recurrence"] = lambda: rec_f(w, xw)
        runs["recurrence, grad"] = lambda: rec_g(w, xw)
    print(f"{model_name}/{preset_name}: batch {dict((k, v.shape) for k, v in batch.items())}")
    print("| function | ms |\n|---|---|")
    for k, ms in timed(runs).items():
        print(f"| {k} | {ms:.2f} |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
