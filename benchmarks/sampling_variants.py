"""How a sampling step's draw is made, timed: ``python benchmarks/sampling_variants.py
[MODEL PRESET BATCH STEPS]`` (default: melody_rnn tiny 64 256).

Each variant is the jitted loop of ``zoo.nets.decoding.sample`` (every row runs all STEPS events,
padding and END masked) with only the draw changed, the compiled loops taking turns, median of
15 calls each; random initial weights (speed does not depend on them):

- ``categorical, split per event``: ``jax.random.categorical`` (Gumbel-max: V random numbers
  per row) with one key split per event, the sampler before 2026-12-02;
- ``gumbel, drawn up front``: the same Gumbel noise, N x B x V drawn in one call before the loop;
- ``inverse CDF, split per event``: ``decoding.draw`` (one uniform per row), a split per event;
- ``inverse CDF, drawn up front``: ``decoding.draw`` with the N x B uniforms drawn before the
  loop: what ``decoding.sample`` does now;
- ``argmax``: no draw at all, the floor the draw can approach.

Results: benchmarks/results/sampling_variants.md.
"""

from __future__ import annotations

import functools
import statistics
import sys

VARIANTS = ("categorical, split per event", "gumbel, drawn up front",
            "inverse CDF, split per event", "inverse CDF, drawn up front", "argmax")


def main(model_name: str = "melody_rnn", preset_name: str = "tiny", batch: int = 64,
         steps: int = 256, calls: int = 15) -> None:
    import jax
    import jax.numpy as jnp

    from benchmarks.timing import taking_turns
    from zoo.codecs import END, PAD, get_codec
    from zoo.nets.decoding import draw, never_drawn
    from zoo.registry import build_task, get_preset

    preset = get_preset(model_name, preset_name)
    task = build_task(model_name, preset, get_codec(preset.codec))
    model, params = task.model, task.init(jax.random.key(0))

    @functools.partial(jax.jit, static_argnames=("variant",))
    def run(params, primer_BxP, rng, variant: str):
        B = primer_BxP.shape[0]
        logits, carry = model.apply({"params": params}, primer_BxP, model.initial_carry(B))
        never = never_drawn(logits.shape[-1], end_id=END, pad_id=PAD, stop_at_end=False)
        up_front = "up front" in variant
        u_NxB = jax.random.uniform(rng, (steps, B))
        g_NxBxV = jax.random.gumbel(rng, (steps if variant.startswith("gumbel") else 1, B,
                                          logits.shape[-1]))

        def body(i, loop):
            carry, logits_BxV, rng, out_BxN = loop
            rng, key = jax.random.split(rng) if not up_front else (rng, rng)
            logits_BxV = jnp.where(never, -jnp.inf, logits_BxV)
            if variant.startswith("categorical"):
                tok = jax.random.categorical(key, logits_BxV)
            elif variant.startswith("gumbel"):
                tok = jnp.argmax(logits_BxV + g_NxBxV[i], -1)
            elif variant == "inverse CDF, split per event":
                tok = draw(logits_BxV, jax.random.uniform(key, (B,)))
            elif variant == "inverse CDF, drawn up front":
                tok = draw(logits_BxV, u_NxB[i])
            else:
                tok = jnp.argmax(logits_BxV, -1)
            tok = tok.astype(jnp.int32)
            logits, carry = model.apply({"params": params}, tok[:, None], carry)
            return carry, logits[:, -1], rng, out_BxN.at[:, i].set(tok)

        init = (carry, logits[:, -1], rng, jnp.full((B, steps), PAD, jnp.int32))
        return jax.lax.fori_loop(0, steps, body, init)[3]

    primer = jnp.full((batch, 1), END, jnp.int32)
    rng = jax.random.key(1)
    times = taking_turns({v: (lambda v=v: jax.block_until_ready(run(params, primer, rng, v)))
                          for v in VARIANTS}, calls)
    print(f"{model_name}/{preset_name}, batch {batch}, {steps} events, vocabulary "
          f"{model.config.vocab_size}, median of {calls}")
    print("| draw | us per event | events/s |")
    print("|---|---|---|")
    for v in VARIANTS:
        m = statistics.median(times[v])
        print(f"| {v} | {1e6 * m / steps:.1f} | {batch * steps / m:,.0f} |")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(*args[:2], *map(int, args[2:4]))
