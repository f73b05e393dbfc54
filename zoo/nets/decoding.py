"""Decoding loops inside jit, for every network that generates step by step:

- ``sample``: event ids in one ``lax.while_loop`` (no Python loop per token), for any network with
  ``apply(params, ids_BxT, carry) -> (logits_BxTxV, carry)`` and ``initial_carry(B)`` (the LSTM
  carry of the event RNNs, the KV cache of the Transformer);
- ``sample_frames``: piano-roll frames in one ``lax.scan``, each drawn by the network's head;
- ``filter_logits``: temperature, top-k and top-p, shared with MusicVAE's decoder;
- ``draw``: one id per row by the inverse CDF of one uniform, and ``next_ids``, one event's draw
  as ``sample``'s loop makes it (the benchmarks' per-event loop reuses it).

Randomness: ``sample`` draws all its uniforms (N x B) from ``rng`` in one call before the loop,
one per row and event. ``jax.random.categorical`` (Gumbel-max) needs V random numbers per row
and event, and a key split per event: on CPU that was a quarter of a sampling step at batch 64
for melody_rnn/tiny (V = 40) and half of one for performance_rnn/tiny (V = 390)
(benchmarks/results/sampling_variants.md).

Special ids (start/end, padding) come in as arguments: this layer knows no codec.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def filter_logits(logits_BxV, temperature: float, top_k: int, top_p: float):
    """Temperature, then keep the top_k most likely ids (0 = all), then the smallest set whose
    probability reaches top_p (1.0 = all). Removed ids get -inf.

    The top-p step sorts the vocabulary; with top_p >= 1 it is skipped (statically for a Python
    number, by ``lax.cond`` for a traced one), so plain sampling pays no sort per event."""
    logits = logits_BxV / jnp.maximum(temperature, 1e-6)
    if top_k and top_k < logits.shape[-1]:
        kth = jax.lax.top_k(logits, top_k)[0][:, -1:]
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    if isinstance(top_p, (int, float)):
        return _top_p(logits, top_p) if top_p < 1 else logits
    return jax.lax.cond(top_p < 1, _top_p, lambda x, _: x, logits, top_p)


def _top_p(logits_BxV, top_p):
    """The smallest set of ids whose probability reaches top_p; the rest get -inf."""
    sorted_desc = jnp.sort(logits_BxV, axis=-1)[:, ::-1]
    probs = jax.nn.softmax(sorted_desc, axis=-1)
    before = jnp.cumsum(probs, axis=-1) - probs       # mass strictly above each sorted id
    cutoff_rank = jnp.sum(before < top_p, axis=-1, keepdims=True)  # >= 1: the top id is kept
    threshold = jnp.take_along_axis(sorted_desc, cutoff_rank - 1, axis=-1)
    return jnp.where(logits_BxV < threshold, -jnp.inf, logits_BxV)


def draw(logits_BxV, u_B):
    """One id per row from softmax(logits_BxV), given a uniform u in [0, 1) per row: the first id
    whose cumulative probability exceeds u times the total (the inverse CDF; the same
    distribution as ``jax.random.categorical``). The running sum never decreases, so the id
    found has probability > 0: ids at -inf are never drawn. The threshold is kept strictly
    below the total, so rounding of u times the total cannot reach the zero-probability ids
    after the last possible one. -> int32 B."""
    p_BxV = jax.nn.softmax(logits_BxV.astype(jnp.float32), axis=-1)
    cdf_BxV = jnp.cumsum(p_BxV, axis=-1)
    total_Bx1 = cdf_BxV[:, -1:]
    threshold_Bx1 = jnp.minimum(u_B[:, None] * total_Bx1, jnp.nextafter(total_Bx1, 0.0))
    return jnp.sum(cdf_BxV <= threshold_Bx1, axis=-1).astype(jnp.int32)


def next_ids(logits_BxV, u_B, done_B, never_V, *, end_id: int, pad_id: int, temperature=1.0,
             top_k: int = 0, top_p=1.0):
    """One event of ``sample``: ``never_V`` ids masked, logits filtered, one id drawn per row by
    ``draw``; rows already done get ``pad_id``. -> (ids_B int32, done_B: done or just ended)."""
    logits_BxV = jnp.where(never_V, -jnp.inf, logits_BxV)
    ids_B = draw(filter_logits(logits_BxV, temperature, top_k, top_p), u_B)
    ids_B = jnp.where(done_B, pad_id, ids_B).astype(jnp.int32)
    return ids_B, done_B | (ids_B == end_id)


def never_drawn(vocab: int, *, end_id: int, pad_id: int, stop_at_end: bool):
    """The ids ``sample`` never draws: padding, and the end symbol unless rows stop at it. V bool."""
    never_V = jnp.zeros(vocab, bool).at[pad_id].set(True)
    return never_V if stop_at_end else never_V.at[end_id].set(True)


@functools.partial(jax.jit, static_argnames=("model", "num_steps", "end_id", "pad_id", "top_k",
                                             "stop_at_end"))
def sample(model, params, primer_BxP, rng, *, num_steps: int, end_id: int, pad_id: int,
           temperature=1.0, top_k: int = 0, top_p=1.0, stop_at_end: bool = True, carry=None):
    """Continue ``primer_BxP`` (it starts with the start symbol ``end_id``) by ``num_steps`` ids.
    ``carry``: the network's start state (default ``model.initial_carry(B)``), e.g. a
    conditioned network's schedule of conditions (``zoo.nets.conditioned_lm``).

    Returns ``ids_BxN`` int32: sampled ids, ``pad_id`` after a row's end (rows stop at ``end_id``
    when ``stop_at_end``; otherwise it is never drawn and every row runs ``num_steps``).
    """
    END, PAD = end_id, pad_id
    B = primer_BxP.shape[0]
    carry = model.initial_carry(B) if carry is None else carry
    logits, carry = model.apply({"params": params}, primer_BxP, carry)
    never = never_drawn(logits.shape[-1], end_id=END, pad_id=PAD, stop_at_end=stop_at_end)
    u_NxB = jax.random.uniform(rng, (num_steps, B))

    def cond(loop):
        i, _, _, _, done = loop
        return (i < num_steps) & ~jnp.all(done)

    def body(loop):
        i, carry, logits_BxV, out_BxN, done = loop
        tok, done = next_ids(logits_BxV, u_NxB[i], done, never, end_id=END, pad_id=PAD,
                             temperature=temperature, top_k=top_k, top_p=top_p)
        out_BxN = out_BxN.at[:, i].set(tok)
        logits, carry = model.apply({"params": params}, tok[:, None], carry)
        return i + 1, carry, logits[:, -1], out_BxN, done

    init = (jnp.int32(0), carry, logits[:, -1], jnp.full((B, num_steps), PAD, jnp.int32),
            jnp.zeros(B, bool))
    return jax.lax.while_loop(cond, body, init)[3]


@functools.partial(jax.jit, static_argnames=("model", "num_steps"))
def sample_frames(model, params, primer_BxLxP, rng, *, num_steps: int, temperature=1.0):
    """Continue ``primer_BxLxP`` (L may be 0) by ``num_steps`` frames, one frame per scan step,
    each frame drawn by the model's head (key by key for the NADE). -> frames_BxNxP float 0/1."""
    B, L, P = primer_BxLxP.shape
    variables = {"params": params}
    carry = model.initial_carry(B)
    prev = jnp.zeros((B, P), jnp.float32)
    if L:
        inputs = jnp.concatenate([prev[:, None], primer_BxLxP[:, :-1].astype(jnp.float32)], 1)
        _, carry = model.apply(variables, inputs, carry)
        prev = primer_BxLxP[:, -1].astype(jnp.float32)

    def frame(state, draw):
        carry, prev = state
        cond, carry = model.apply(variables, prev[:, None], carry)
        v, _ = model.apply(variables, cond, draw, temperature, method="sample")
        return (carry, v[:, 0]), v[:, 0]

    _, frames_NxBxP = jax.lax.scan(frame, (carry, prev), jax.random.split(rng, num_steps))
    return frames_NxBxP.swapaxes(0, 1)
