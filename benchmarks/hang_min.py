"""Minimal reproducers for the intermittent MusicVAE hang; run under benchmarks/hang_repro.py.

    python benchmarks/hang_min.py MODE [--iters K]

MODE:
  exec      --parallel P independent stacks of shape --shape from --impl, in ONE jit, compiled
            once and executed K times (the fast reproducer)
  trainer   build the music_vae tiny Trainer and run its jitted init K times (fresh jit each time)
  init      the model's jitted init (task.init_params) K times, fresh jit each time
"""

from __future__ import annotations

import argparse
import sys
import time


def _orthogonal_stack_vmap(key, shape, dtype=None):
    """zoo's initializer before the fix: one batched QR (geqrf + orgqr over the leading axes)."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import numpy as np
    lead = shape[:-2]
    keys = jax.random.split(key, int(np.prod(lead)))
    mats = jax.vmap(lambda k: nn.initializers.orthogonal()(k, shape[-2:], jnp.float32))(keys)
    return mats.reshape(shape)


def _orthogonal_stack_loop(key, shape, dtype=None):
    """The same matrices, one unbatched QR per leading index."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import numpy as np
    keys = jax.random.split(key, int(np.prod(shape[:-2])))
    init = nn.initializers.orthogonal()
    return jnp.stack([init(k, shape[-2:], jnp.float32) for k in keys]).reshape(shape)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--shape", default="2,128,512")
    ap.add_argument("--impl", default="zoo", help="exec mode: zoo, vmap_orig or loop")
    ap.add_argument("--parallel", type=int, default=2, help="exec mode: independent stacks")
    args = ap.parse_args()

    import jax

    from zoo.nets import music_vae as nets

    shape = tuple(int(s) for s in args.shape.split(","))
    t0 = time.time()
    if args.mode in ("trainer", "init"):
        from pathlib import Path

        from zoo.runs import RunSpec, make_trainer

        data = next(Path("datasets/cache").glob("embedded-folk-melody-*"))
        spec = RunSpec("music_vae", "tiny", str(data.resolve()), ("steps=40",))
        _, tr = make_trainer(spec)
        for i in range(args.iters):
            if args.mode == "trainer":  # a whole Trainer (eval_shape + jit of init) each time
                s = make_trainer(spec)[1].initial_state()
            else:
                s = jax.jit(tr.task.init)(jax.random.key(i))
            jax.block_until_ready(s)
            print(f"iter {i} {time.time() - t0:.1f}s", flush=True)
    elif args.mode == "exec":
        # P independent stacks of orthogonal matrices in ONE jitted computation, compiled once and
        # executed K times: XLA's thunk executor may run the P QR custom calls concurrently.
        impls = {
            "zoo": nets._orthogonal_stack,    # whatever zoo ships now
            "vmap_orig": _orthogonal_stack_vmap,
            "loop": _orthogonal_stack_loop,
        }
        orth = impls[args.impl]
        f = jax.jit(lambda k: [orth(kk, shape) for kk in jax.random.split(k, args.parallel)])
        for i in range(args.iters):
            jax.block_until_ready(f(jax.random.key(i)))
            if i % 200 == 0:
                print(f"iter {i} {time.time() - t0:.1f}s", flush=True)
    else:
        raise SystemExit(f"unknown mode {args.mode}")
    print(f"done {args.iters} in {time.time() - t0:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
