"""Sampling speed: the jitted generation loop against a Python loop over one jitted call per event.

Both draw with the same uniforms (one per row and event, from one ``jax.random.uniform`` call,
as ``zoo.nets.decoding.sample``) through the same ``decoding.next_ids``, so they produce the same ids: ``per_event_ids`` is that Python loop, and the benchmark reports
whether the two agree. For the Transformer, the KV-cached loop is also timed against full
recomputation (every event reruns the model over a fixed buffer of the whole sequence).
Rows run all ``steps`` events (``stop_at_end=False``) so every figure counts the same events.
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.timing import summary, time_calls
from zoo.codecs import END, PAD
from zoo.nets.decoding import never_drawn, next_ids, sample


def _never(vocab: int, stop_at_end: bool):
    return never_drawn(vocab, end_id=END, pad_id=PAD, stop_at_end=stop_at_end)


def per_event_sampler(model, temperature=1.0, top_k: int = 0, top_p=1.0,
                      stop_at_end: bool = True):
    """``run(params, primer_BxP, rng, steps) -> ids_BxN``: the primer in one jitted call, then one
    jitted call per event (model step + draw) from a Python loop."""

    @jax.jit
    def start(params, primer_BxP):
        logits, carry = model.apply({"params": params}, primer_BxP,
                                    model.initial_carry(primer_BxP.shape[0]))
        return logits[:, -1], carry

    @jax.jit
    def event(params, logits_BxV, carry, u_B, done_B):
        never = _never(logits_BxV.shape[-1], stop_at_end)
        tok, done_B = next_ids(logits_BxV, u_B, done_B, never, end_id=END, pad_id=PAD,
                               temperature=temperature, top_k=top_k, top_p=top_p)
        logits, carry = model.apply({"params": params}, tok[:, None], carry)
        return tok, logits[:, -1], carry, done_B

    def run(params, primer_BxP, rng, steps: int):
        logits, carry = start(params, primer_BxP)
        done = jnp.zeros(primer_BxP.shape[0], bool)
        u_NxB = jax.random.uniform(rng, (steps, primer_BxP.shape[0]))
        out = []
        for i in range(steps):
            tok, logits, carry, done = event(params, logits, carry, u_NxB[i], done)
            out.append(tok)
        return jnp.stack(out, axis=1)

    return run


@functools.partial(jax.jit, static_argnames=("model", "num_steps"))
def sample_recomputing(model, params, primer_BxP, rng, *, num_steps: int, temperature=1.0):
    """The jitted sampler without a cache: each event reruns the model over a fixed buffer of
    ``P + num_steps`` ids (causal, so position i sees only ids <= i) and reads position i."""
    B, P = primer_BxP.shape
    buf = jnp.concatenate([primer_BxP, jnp.full((B, num_steps), PAD, jnp.int32)], axis=1)

    u_NxB = jax.random.uniform(rng, (num_steps, B))

    def body(i, loop):
        buf, done = loop
        logits, _ = model.apply({"params": params}, buf, model.initial_carry(B))
        logits_BxV = jax.lax.dynamic_index_in_dim(logits, P - 1 + i, axis=1, keepdims=False)
        never = _never(logits_BxV.shape[-1], False)
        tok, done = next_ids(logits_BxV, u_NxB[i], done, never, end_id=END, pad_id=PAD,
                             temperature=temperature)
        return jax.lax.dynamic_update_index_in_dim(buf, tok, P + i, axis=1), done

    buf, _ = jax.lax.fori_loop(0, num_steps, body, (buf, jnp.zeros(B, bool)))
    return buf[:, P:]


def _events_per_s(batch: int, steps: int, seconds: float) -> float:
    return batch * steps / seconds


def _first_call(fn) -> tuple[object, float]:
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - start


def measure_sampling(model, params, batch: int, steps: int, repeats: int = 3,
                     recompute: bool = False, primer_len: int = 1, against=None) -> dict:
    """Events/s of the jitted loop and of the per-event Python loop at ``batch`` rows, and
    whether they drew the same ids; with ``recompute``, also the cache-less jitted loop. After
    each one's first (compiling) call, the samplers take turns for ``repeats`` rounds, so they
    see the same machine load.

    ``against``: ``interleave -> dict``, another library's sampler of the same model (the
    PyTorch token loop, ``benchmarks.torch_baselines.measure_torch_sampling``), given
    ``interleave() -> seconds`` of one call of our jitted loop to run after each of its own; its
    dict joins the record (``torch_events_per_s``, ``jit_over_torch``, ...). This module
    imports no torch."""
    primer = jnp.full((batch, primer_len), END, jnp.int32)
    rng = jax.random.key(1)
    loop = per_event_sampler(model, stop_at_end=False)
    runs = {"jit": lambda: sample(model, params, primer, rng, num_steps=steps, end_id=END,
                                  pad_id=PAD, stop_at_end=False),
            "loop": lambda: loop(params, primer, rng, steps)}
    if recompute:
        runs["recompute"] = lambda: sample_recomputing(model, params, primer, rng,
                                                       num_steps=steps)
    ids, first = {}, {}
    for name, fn in runs.items():
        ids[name], first[name] = _first_call(fn)
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            times[name] += time_calls(lambda fn=fn: jax.block_until_ready(fn()), 1, warmup=0)
    stats = {name: summary(t)["median_s"] for name, t in times.items()}
    record = {"kind": "sample", "batch": batch, "steps": steps, "repeats": repeats}
    for name in runs:
        record[f"{name}_first_call_s"] = first[name]
        record[f"{name}_median_s"] = stats[name]
        record[f"{name}_events_per_s"] = _events_per_s(batch, steps, stats[name])
    record["same_ids"] = bool(np.array_equal(np.asarray(ids["jit"]), np.asarray(ids["loop"])))
    record["jit_over_loop"] = record["jit_events_per_s"] / record["loop_events_per_s"]
    # Per event (all rows): the jitted loop's compute, and what the Python loop adds (dispatch).
    record["jit_us_per_step"] = 1e6 * stats["jit"] / steps
    record["loop_overhead_us_per_step"] = 1e6 * (stats["loop"] - stats["jit"]) / steps
    if recompute:
        record["cache_over_recompute"] = stats["recompute"] / stats["jit"]
        record["recompute_same_ids_fraction"] = float(
            np.mean(np.asarray(ids["recompute"]) == np.asarray(ids["jit"])))
    if against is not None:
        jit = runs["jit"]
        record.update(against(lambda: time_calls(lambda: jax.block_until_ready(jit()), 1,
                                                 warmup=0)[0]))
    return record


def measure_task_sampler(name: str, fn, batch: int, events_per_row: int, repeats: int = 3
                         ) -> dict:
    """Events/s of a family's own jitted sampler ``fn()`` (blocking), for the models whose
    sampling is not one event per call (MusicVAE decodes z in a jitted scan, MuseGAN generates
    whole phrases): no per-event loop to compare with."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    stats = summary(time_calls(fn, repeats, warmup=0))
    return {"kind": "sample_task", "sampler": name, "batch": batch, "steps": events_per_row,
            "jit_first_call_s": first, "jit_median_s": stats["median_s"],
            "jit_events_per_s": _events_per_s(batch, events_per_row, stats["median_s"])}
