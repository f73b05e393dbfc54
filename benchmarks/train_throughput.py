"""Training throughput of one preset through the engine's own jitted step (zoo.training.loop).

For a case (model, preset, ``--set`` overrides) on prepared data:
  trace + lower and compile times (apart, via ``jit(...).trace(...).lower().compile()``, whose
  executable the later calls reuse), then ``warmup`` steps, then ``steps`` timed steps, each to
  ``block_until_ready``: median step time, examples/s and events/s per device, matmul FLOPs per
  step (counted from the jaxpr, scan bodies times their length; XLA's cost analysis beside it),
  recompiles after warm-up (the Trainer's trace counter and jit's cache size; expected 0).
The timed steps read batches built beforehand, so they measure the step alone; ``input_wait``
runs the real loop's pattern (prefetching iterator, metrics fetched one step late) and reports
the share of wall time spent in ``next(batches)``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import jax
import numpy as np

from benchmarks.flop_count import jaxpr_flops
from benchmarks.timing import summary
from zoo.data.prepare import prepare
from zoo.errors import ZooError
from zoo.registry import get_preset
from zoo.runs import RunSpec, make_trainer
from zoo.training.loop import Trainer
from zoo.training.mesh import global_batch


@dataclasses.dataclass(frozen=True)
class TrainCase:
    """One training configuration: a preset plus ``--set``-style overrides."""

    model: str
    preset: str
    overrides: tuple[str, ...] = ()
    steps: int | None = None    # timed steps for this case (None: the plan's); not in the label

    @property
    def label(self) -> str:
        return f"{self.model}/{self.preset}" + "".join(f" {o}" for o in self.overrides)


def prepared_data(model: str, preset: str, echo=lambda s: None) -> Path:
    """The preset's default corpus, prepared with its codec (reused from datasets/cache)."""
    p = get_preset(model, preset)
    if p.source is None:
        raise ZooError(f"{model}/{preset} has no embedded corpus (it needs your own data)")
    return prepare(p.source, None, p.codec, echo=echo)


def batch_geometry(batch: dict) -> tuple[int, int]:
    """(examples, events) in one global batch of any task (every family's ``inputs``).

    LM and VAE windows (B x T ids) and piano-roll frames (B x T x P): rows and tokens (frames).
    GAN phrases (B x C x K x N x S x P, C critic updates per step): every real phrase the critic
    reads and its N * S frames.
    """
    inputs = batch["inputs"]
    if inputs.ndim == 6:
        B, C, _, N, S, _ = inputs.shape
        return B * C, B * C * N * S
    return inputs.shape[0], math.prod(inputs.shape[:2])


def build(case: TrainCase, data_dir: Path, devices=None) -> Trainer:
    """The engine's Trainer for ``case`` over ``devices`` (default: all, as ``zoo train``),
    built as ``zoo train`` builds it (``zoo.runs``); it writes nothing."""
    _, trainer = make_trainer(RunSpec(case.model, case.preset, str(data_dir), case.overrides),
                              devices)
    return trainer


def host_batches(trainer: Trainer, count: int) -> list[dict[str, np.ndarray]]:
    """The first ``count`` training batches of the run (numpy, this process's rows)."""
    source = trainer.task.train_batches(trainer.data.split("train"),
                                        jax.process_index(), jax.process_count())
    return [source.batch(k) for k in range(count)]


class CompiledStep:
    """A Trainer's jitted step with its state and a few device batches: ``step(i)`` runs one
    update on batch ``i`` (mod the pool) to ``block_until_ready`` and returns its seconds."""

    def __init__(self, trainer: Trainer, state, pool: list):
        self.trainer, self.state, self.pool = trainer, state, pool

    def step(self, i: int) -> float:
        start = time.perf_counter()
        self.state, metrics = self.trainer.train_step(self.state, self.pool[i % len(self.pool)],
                                                      self.trainer.rng)
        jax.block_until_ready((self.state, metrics))
        return time.perf_counter() - start


def measure_training(case: TrainCase, data_dir: Path, steps: int = 10, warmup: int = 2,
                     peak_gflops: float | None = None, devices=None
                     ) -> tuple[dict, CompiledStep]:
    """Time ``case``'s train step; returns the record and the compiled step, so the caller can
    go on with it (PyTorch interleaved, ``input_wait``)."""
    trainer = build(case, data_dir, devices)
    state = trainer.initial_state()
    pool = [global_batch(b, trainer.mesh) for b in host_batches(trainer, min(steps + warmup, 4))]

    start = time.perf_counter()
    traced = trainer.train_step.trace(state, pool[0], trainer.rng)
    lowered = traced.lower()
    trace_s = time.perf_counter() - start
    start = time.perf_counter()
    compiled = lowered.compile()
    compile_s = time.perf_counter() - start
    flops, exact = jaxpr_flops(traced.jaxpr.jaxpr)
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    xla_flops = float(cost.get("flops", float("nan"))) if cost else float("nan")

    run = CompiledStep(trainer, state, pool)
    for i in range(warmup):
        run.step(i)
    traces, cache = trainer.traces, trainer.train_step._cache_size()
    stats = summary([run.step(warmup + i) for i in range(steps)])
    state = run.state
    devices = trainer.mesh.devices.size
    examples, events = batch_geometry(pool[0])
    cfg = trainer.cfg
    record = {
        "kind": "train", "model": case.model, "preset": case.preset,
        "overrides": list(case.overrides), "batch_size": cfg.batch_size, "seq_len": cfg.seq_len,
        "compute_dtype": cfg.compute_dtype, "devices": devices,
        "params": int(sum(x.size for x in jax.tree.leaves(state.params))),
        "examples_per_step": examples, "events_per_step": events,
        "trace_s": trace_s, "compile_s": compile_s, **stats,
        "examples_per_s_per_device": examples / stats["median_s"] / devices,
        "events_per_s_per_device": events / stats["median_s"] / devices,
        "flops_per_step": flops, "flops_source": "jaxpr matmul+conv count"
        + ("" if exact else " (a while loop counted once)"),
        "xla_cost_analysis_flops": xla_flops,
        "achieved_gflops": flops / stats["median_s"] / 1e9,
        "recompiles_after_warmup": trainer.traces - traces,
        "jit_cache_growth_after_warmup": trainer.train_step._cache_size() - cache,
        "model_config": dataclasses.asdict(trainer.task.model.config),
        "train_config": dataclasses.asdict(cfg),
    }
    if trainer.task.config is not None:   # the family's objective knobs (VAE, GAN, frames)
        record["task_config"] = dataclasses.asdict(trainer.task.config)
    if peak_gflops:
        record["flops_utilisation"] = record["achieved_gflops"] / peak_gflops
    return record, run


def input_wait(run: CompiledStep, steps: int = 10, warmup: int = 2,
               max_seconds: float | None = 10.0, min_steps: int = 5) -> dict:
    """The real loop's pattern: batches from ``train_batches(...).iterate`` (``Batcher``: built
    ahead in a thread), step k's metrics fetched after step k+1 is dispatched. Returns the wall
    time per step and the share of it spent waiting in ``next(batches)``, over ``steps`` steps
    after ``warmup``, or fewer (at least ``min_steps``) once ``max_seconds`` have passed."""
    trainer, state = run.trainer, run.state
    batches = trainer.task.train_batches(trainer.data.split("train"),
                                         jax.process_index(), jax.process_count()).iterate(0)
    rng = trainer.rng
    pending = None
    wait = 0.0
    start = None
    timed = 0
    for i in range(warmup + steps):
        if i == warmup:
            if pending is not None:
                jax.device_get(pending)
                pending = None
            wait, start = 0.0, time.perf_counter()
        t0 = time.perf_counter()
        host = next(batches)
        wait += time.perf_counter() - t0
        state, metrics = trainer.train_step(state, global_batch(host, trainer.mesh), rng)
        if pending is not None:
            jax.device_get(pending)
        pending = metrics
        timed += i >= warmup
        if (max_seconds is not None and timed >= min_steps
                and time.perf_counter() - start > max_seconds):
            break
    jax.device_get(pending)
    total = time.perf_counter() - start
    batches.close()
    run.state = state
    source = trainer.task.train_batches(trainer.data.split("train"), 0, 1)
    build_times = []
    for k in range(3):
        t0 = time.perf_counter()
        source.batch(1000 + k)
        build_times.append(time.perf_counter() - t0)
    return {"kind": "input_wait", "steps": timed, "wall_s_per_step": total / timed,
            "wait_s_per_step": wait / timed, "wait_share": wait / total,
            "batch_build_s": summary(build_times)["median_s"]}
