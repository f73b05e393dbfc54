"""XLA CPU flags against the LSTM recurrence: ``python benchmarks/lstm_variants.py [B T H]``.

For each flag set (a fresh interpreter each: XLA reads ``XLA_FLAGS`` once), times
``zoo.nets.lstm_lm.lstm_scan`` forward + backward (the hand-written VJP) and, when torch is
importable, ``torch.nn.LSTM`` (1 thread) on the same shapes, the two taking turns; prints the
median process CPU time of each per call, which stays comparable on a shared machine.
Results and what each variant did: benchmarks/results/lstm_variants.md.
"""

from __future__ import annotations

import os
import subprocess
import sys

FLAG_SETS = ("", "--xla_cpu_enable_fast_math=true", "--xla_cpu_use_fusion_emitters=false",
             "--xla_cpu_use_xnnpack=false",
             "--xla_cpu_use_xnnpack=false --xla_cpu_multi_thread_eigen=false",
             "--xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT")


def one(B: int, T: int, H: int, calls: int = 30) -> str:
    import statistics
    import time

    import jax
    import jax.numpy as jnp
    import numpy as np

    from zoo.nets.lstm_lm import lstm_scan

    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.normal(size=(H, 4 * H)).astype(np.float32) * 0.1)
    xw = jnp.asarray(rng.normal(size=(T, B, 4 * H)).astype(np.float32))
    c0 = (jnp.zeros((B, H)), jnp.zeros((B, H)))
    grad = jax.jit(jax.grad(lambda w, xw: jnp.sum(lstm_scan(w, xw, c0)[0] ** 2), (0, 1)))
    runs = {"jax": lambda: jax.block_until_ready(grad(w, xw))}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        lstm, x = torch.nn.LSTM(H, H), torch.randn(T, B, H)

        def torch_step():
            lstm.zero_grad()
            (lstm(x)[0] ** 2).sum().backward()
        runs["torch"] = torch_step
    times = {name: [] for name in runs}
    for fn in runs.values():
        fn()
    for _ in range(calls):
        for name, fn in runs.items():
            start = time.process_time()
            fn()
            times[name].append(time.process_time() - start)
    ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    line = f"jax {ms['jax']:.2f} ms"
    if "torch" in ms:
        line += f", torch {ms['torch']:.2f} ms, torch/jax {ms['torch'] / ms['jax']:.2f}"
    return line + f" (load {os.getloadavg()[0]:.1f})"


def main(argv: list[str]) -> None:
    if argv[:1] == ["--one"]:
        print(one(*(int(a) for a in argv[1:4])))
        return
    shape = argv[:3] or ["32", "128", "128"]
    print(f"lstm_scan forward + backward, B x T x H = {' x '.join(shape)}, CPU ms per call")
    for flags in FLAG_SETS:
        env = {**os.environ, "XLA_FLAGS": flags}
        out = subprocess.run([sys.executable, __file__, "--one", *shape], env=env,
                             capture_output=True, text=True)
        line = out.stdout.strip().splitlines()[-1] if out.returncode == 0 else out.stderr[-200:]
        print(f"{flags or '(default)':75s} {line}")


if __name__ == "__main__":
    main(sys.argv[1:])
