"""``python -m benchmarks.accel [--quick] [--out DIR]``: training steps of every family on
synthetic batches, for an accelerator.

It imports only jax, flax, optax and numpy (no note_seq, grain, music21 or orbax), so it runs on
a machine with the bare JAX stack: batches are random arrays of each codec's vocabulary size and
frame shape (``CODECS``: constants, checked against the real codecs by tests/test_bench_accel.py).
For each preset of the main table it builds the family's own task (``zoo.registry``: the same
network and the same loss or update code as ``zoo train``) and jits the engine's own step
(``zoo.training.steps.make_train_step``, the step the Trainer jits, here on one device with the
state donated), then reports per row:

  compile seconds; the median step time (IQR) over ``steps`` steps after ``warmup``, each to
  ``block_until_ready``; events/s (B x T tokens or frames; MuseGAN: the real frames its critic
  reads in its C updates); matmul + conv FLOPs per step counted from the jaxpr
  (``benchmarks/flop_count.py``: a scan body times its length); TFLOP/s; utilisation against the
  matmul peak measured in the same run in the row's compute dtype (``benchmarks/matmul_peak.py``)
  and, on a GPU, against the chip's datasheet dense peak in that dtype (``DATASHEET``).

Rows beside the main ones (``variants``):
  * ``dtype=bfloat16`` (GPU only): the nets' ``dtype`` config (matmuls in bf16, parameters and
    LSTM state float32), for every net that has one.
  * ``fused attention``: the Music Transformer with rotary positions and no attention dropout,
    which is the net's switch to ``jax.nn.dot_product_attention(q, k, v, is_causal=True)`` with
    ``implementation=None`` (the backend picks its fused kernel: cuDNN on a GPU for bf16); the
    relative-bias preset cannot use it (the bias is added to the logits).
  * ``lstm kernel``: one LSTM stack forward + backward at melody_rnn/basic's shapes, our
    ``zoo.nets.lstm_lm.lstm_scan`` against ``jax.experimental.rnn.lstm`` (cuDNN, float32 only,
    GPU only), same weights (forget-gate bias 1 included), same loss (sum of the top layer's outputs).
On a CPU the GPU-only rows are listed as "not on this backend". Each row's failure is recorded
and the run goes on; rows not started within the time budget are listed as skipped.

Writes ``accel.jsonl`` (one JSON line per row, plus a ``run`` line with versions and the device)
and ``accel.md`` under ``--out``; ``--quick`` shrinks batch and window (CPU proof of the path).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import sys
import time
import traceback
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import matmul_peak
from benchmarks.flop_count import jaxpr_flops
from benchmarks.timing import summary

# What the synthetic batches need of each codec (tests/test_bench_accel.py checks these against
# zoo.codecs.get_codec, so they cannot drift): token codecs their ids, frame codecs their keys.
CODECS = {
    "melody": {"kind": "tokens", "vocab_size": 40},
    "performance": {"kind": "tokens", "vocab_size": 390},
    "pianoroll": {"kind": "frames", "vocab_size": 88},
    "multitrack": {"kind": "frames", "vocab_size": 336, "tracks": 4, "steps_per_bar": 16,
                   "num_keys": 84},
}
NUM_SPECIAL = 2   # zoo.codecs.base: PAD = 0, END = 1 sit below the events (checked by the test)

# Datasheet dense peaks (TFLOP/s) by compute dtype, by substring of device_kind. bf16: the
# tensor-core figure (benchmarks.matmul_peak.DATASHEET_TFLOPS; H100 SXM in ../shared/REFERENCE.md,
# H200: NVIDIA's H200 datasheet, 1,979 with sparsity = 989 dense). float32: the non-tensor-core
# FP32 figure of the same datasheets (H100 SXM and H200: 67). XLA may run float32 matmuls on
# TF32 tensor cores by default, so a float32 row can exceed it; the measured peak is the fair one.
FP32_TFLOPS = {"H100 PCIe": 51.0, "H100": 67.0, "H200": 67.0, "A100": 19.5, "L4": 30.3}

# The main table's presets (benchmarks/__main__.py full_plan) and the rows beside them.
MAIN = (("melody_rnn", "basic"), ("melody_rnn", "tiny"), ("performance_rnn", "tiny"),
        ("music_transformer", "melody_tiny"), ("music_transformer", "tiny"),
        ("music_vae", "tiny"), ("music_vae", "hier_tiny"), ("pianoroll_rnn_nade", "cpu"),
        ("musegan", "tiny"))
FUSED_ATTENTION = {"position": "rotary", "attention_dropout": 0.0}
LSTM_KERNEL = ("melody_rnn", "basic")   # its shapes: 2 x 128 over 128 x 256 one-hot events


@dataclasses.dataclass(frozen=True)
class SyntheticCodec:
    """A stand-in for a codec where only sizes matter (no note_seq): what the tasks read."""

    name: str
    kind: str
    vocab_size: int
    tracks: int | None = None
    steps_per_bar: int | None = None
    num_keys: int | None = None


def synthetic_codec(name: str) -> SyntheticCodec:
    return SyntheticCodec(name, **CODECS[name])


@dataclasses.dataclass(frozen=True)
class Row:
    """One train-step row: a preset, optional model overrides, a compute dtype."""

    model: str
    preset: str
    model_overrides: tuple[tuple[str, object], ...] = ()
    dtype: str = "float32"
    variant: str = "preset"

    @property
    def label(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in self.model_overrides)
        return f"{self.model}/{self.preset}{extra} [{self.dtype}]"


@dataclasses.dataclass(frozen=True)
class Plan:
    rows: tuple[Row, ...]
    steps: int
    warmup: int
    batch_size: int | None = None    # overrides (quick): the preset's otherwise
    seq_len: int | None = None
    lstm_kernel: bool = True
    budget_s: float | None = None
    matmul_sizes: tuple[int, ...] = (512, 1024, 2048)


def make_plan(quick: bool, gpu: bool) -> Plan:
    """The main presets in float32, on a GPU again in bf16, plus the fused-attention rows.
    Full (the GPU set): the presets' own batch and window, 20 steps, a 7-minute budget.
    Quick (the CPU proof): batch 2, window 16, 2 steps."""
    rows = [Row(m, p) for m, p in MAIN]
    rows += [Row(m, p, dtype="bfloat16", variant="bf16") for m, p in MAIN]
    rows += [Row("music_transformer", p, tuple(FUSED_ATTENTION.items()), dt, "fused attention")
             for p in ("melody_tiny", "tiny") for dt in ("float32", "bfloat16")]
    if quick:
        return Plan(tuple(rows), steps=2, warmup=1, batch_size=2, seq_len=16,
                    matmul_sizes=(128, 256), budget_s=None)
    sizes = (1024, 2048, 4096, 8192) if gpu else (512, 1024, 2048)
    return Plan(tuple(rows), steps=20, warmup=3, budget_s=7 * 60, matmul_sizes=sizes)


def only(plan: Plan, names: list[str]) -> Plan:
    """``plan`` restricted to rows whose model or model/preset is in ``names`` ('lstm': the
    LSTM kernel rows)."""
    keep = lambda r: r.model in names or f"{r.model}/{r.preset}" in names
    return dataclasses.replace(plan, rows=tuple(r for r in plan.rows if keep(r)),
                               lstm_kernel="lstm" in names)


def on_gpu() -> bool:
    return jax.default_backend() == "gpu"


def datasheet(dtype: str) -> float | None:
    """The datasheet dense TFLOP/s of device 0 in ``dtype``, or None (CPU, unknown chip)."""
    device = jax.devices()[0]
    if dtype == "bfloat16":
        return matmul_peak.datasheet_tflops(device)
    if device.platform == "cpu":
        return None
    kind = device.device_kind.lower()
    return next((v for k, v in FP32_TFLOPS.items() if k.lower() in kind), None)


# ---------------------------------------------------------------- the family's step, synthetic


def build(row: Row, plan: Plan):
    """(task, train config) of ``row``: the preset's network and the family's task on a
    synthetic codec of the preset's codec's sizes (zoo.registry, as ``zoo train`` builds them)."""
    from zoo.registry import build_net, get_preset, task_class

    preset = get_preset(row.model, row.preset)
    preset = dataclasses.replace(preset, model=dataclasses.replace(preset.model,
                                                                   **dict(row.model_overrides)))
    train = preset.train
    changes = {k: v for k, v in (("batch_size", plan.batch_size), ("seq_len", plan.seq_len))
               if v is not None}
    if changes:
        train = dataclasses.replace(train, **changes)
    codec = synthetic_codec(preset.codec)
    net = build_net(row.model, preset, codec.vocab_size,
                    row.dtype if row.dtype != "float32" else None)
    cls = task_class(row.model)
    if row.model == "music_vae":
        # VAETask's only use of the codec object at construction is the melody/drums class
        # check, whose classes import note_seq; the loss reads the batch alone.
        from zoo.families.vae import task as vae_task

        real_check = vae_task.check_codec
        vae_task.check_codec = lambda codec: None
        try:
            task = cls(net, codec, train, preset.task)
        finally:
            vae_task.check_codec = real_check
    else:
        task = cls(net, codec, train, preset.task)
    return task, train


def synthetic_batch(task, train, seed: int = 0) -> dict[str, np.ndarray]:
    """One batch in the family's schema (zoo.data.batcher): random ids above the specials
    (LM: B x T, VAE: B x bars*steps), sparse binary frames (frames: B x T x P; GAN:
    B x C x K x N x S x P uint8), masks of ones, row numbers."""
    rng = np.random.default_rng(seed)
    cfg = task.model.config
    B, V = train.batch_size, cfg.vocab_size
    rows = np.arange(B, dtype=np.int32)
    if hasattr(task, "sample_phrases"):             # GAN: phrases for C critic updates
        shape = (B, task.config.critic_steps, cfg.tracks, cfg.bars, cfg.steps_per_bar,
                 cfg.pitches)
        return {"inputs": (rng.random(shape) < 0.05).astype(np.uint8),
                "mask": np.ones(B, np.float32), "row": rows}
    if hasattr(task, "window_steps"):               # VAE: whole windows
        ids = rng.integers(NUM_SPECIAL, V, (B, task.window_steps), dtype=np.int32)
        return {"inputs": ids, "mask": np.ones(B, np.float32), "row": rows}
    T = train.seq_len
    if getattr(task.codec, "kind", "tokens") == "frames":
        frames = (rng.random((B, T + 1, V)) < 0.05).astype(np.uint8)
        return {"inputs": frames[:, :-1], "targets": frames[:, 1:],
                "mask": np.ones((B, T), np.float32), "row": rows}
    ids = rng.integers(NUM_SPECIAL, V, (B, T + 1), dtype=np.int32)
    return {"inputs": ids[:, :-1], "targets": ids[:, 1:], "mask": np.ones((B, T), np.float32),
            "row": rows}


def events_in(batch) -> tuple[int, int]:
    """(examples, events) of a batch: rows and B x T tokens/frames; GAN: B x C phrases and
    their N x S frames each (what the critic reads in its C updates)."""
    x = batch["inputs"]
    if x.ndim == 6:
        return x.shape[0] * x.shape[1], x.shape[0] * x.shape[1] * x.shape[3] * x.shape[4]
    return x.shape[0], x.shape[0] * x.shape[1]


def jitted_step(task, train):
    """(jit(train_step) with the state donated, initial state): the engine's step of ``task``
    (its own optimizer and update where it brings them, as the Trainer does)."""
    from zoo.families.optim import make_optimizer
    from zoo.training.state import create_state
    from zoo.training.steps import make_train_step

    tx, schedule = task.make_optimizer() or make_optimizer(train)
    state = create_state(task.init, tx, jax.random.key(train.seed))
    return jax.jit(make_train_step(task, tx, schedule), donate_argnums=0), state


def time_step(step, state, batch, rng, steps: int, warmup: int) -> tuple[dict, dict]:
    """Compile (trace + lower + compile timed), then ``warmup`` and ``steps`` timed calls, each
    to block_until_ready. Returns (figures, last metrics)."""
    start = time.perf_counter()
    traced = step.trace(state, batch, rng)
    compiled = traced.lower().compile()
    compile_s = time.perf_counter() - start
    flops, exact = jaxpr_flops(traced.jaxpr.jaxpr)
    times, metrics = [], {}
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        state, metrics = compiled(state, batch, rng)
        jax.block_until_ready((state, metrics))
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return {"compile_s": compile_s, "flops_per_step": flops, "flops_exact": exact,
            **summary(times)}, jax.device_get(metrics)


def train_row(row: Row, plan: Plan) -> dict:
    task, train = build(row, plan)
    step, state = jitted_step(task, train)
    params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(state.params))
    host = synthetic_batch(task, train)
    batch = jax.device_put(host)
    figures, metrics = time_step(step, state, batch, jax.random.key(1), plan.steps, plan.warmup)
    examples, events = events_in(host)
    loss_name = "loss" if "loss" in metrics else "generator_loss"   # the GAN's update
    loss = float(metrics[loss_name])
    return {"kind": "accel_train", "model": row.model, "preset": row.preset,
            "variant": row.variant, "dtype": row.dtype,
            "model_overrides": dict(row.model_overrides), "params": params, "batch_size": train.batch_size,
            "seq_len": events // examples,    # window; VAE: its steps; GAN: bars x steps
            "examples_per_step": examples, "events_per_step": events,
            "events_per_s": events / figures["median_s"], "loss": loss, "loss_name": loss_name,
            "finite": bool(metrics.get("finite", True)), **figures}


# ---------------------------------------------------------------- LSTM: our scan against cuDNN


def lstm_shapes(plan: Plan) -> dict:
    """melody_rnn/basic's LSTM stack: one-hot events in, B x T, layers x H (quick: smaller)."""
    from zoo.registry import get_preset

    p = get_preset(*LSTM_KERNEL)
    B, T = plan.batch_size or p.train.batch_size, plan.seq_len or p.train.seq_len
    return {"B": B, "T": T, "I": CODECS[p.codec]["vocab_size"], "H": p.model.hidden,
            "layers": p.model.num_layers}


def lstm_weights(shapes: dict, seed: int = 0) -> dict:
    """Per layer W_ih (in x 4H), W_hh (H x 4H), b (4H,): the layout of our scan; cuDNN's flat
    weights are packed from the same arrays (``cudnn_pack``)."""
    H, rng = shapes["H"], np.random.default_rng(seed)
    layers = []
    for layer in range(shapes["layers"]):
        n_in = shapes["I"] if layer == 0 else H
        s = 1 / math.sqrt(H)
        layers.append({"w_ih": rng.uniform(-s, s, (n_in, 4 * H)).astype(np.float32),
                       "w_hh": rng.uniform(-s, s, (H, 4 * H)).astype(np.float32),
                       "b": np.zeros(4 * H, np.float32)})
    return {"layers": layers}


def scan_loss(weights, x_BxTxI):
    """Our LSTM stack (``lstm_scan``, gates i, g, f, o) over time-major inputs; loss = sum of
    the top layer's outputs (a stand-in objective that reaches every weight)."""
    from zoo.nets.lstm_lm import lstm_scan

    h = jnp.swapaxes(x_BxTxI, 0, 1)           # T x B x I
    B = h.shape[1]
    for w in weights["layers"]:
        H = w["w_hh"].shape[0]
        xw = h @ w["w_ih"] + w["b"]
        zeros = jnp.zeros((B, H), jnp.float32)
        h, _ = lstm_scan(w["w_hh"], xw, (zeros, zeros))
    return jnp.sum(h)


def cudnn_weights(weights):
    """Our per-layer weights as ``jax.experimental.rnn``'s dicts (W_ih, W_hh: 4H x in, b_ih,
    b_hh: 4H): our gate order (i, g, f, o) reordered to cuDNN's (i, f, g, o); the bias goes in
    b_ih, and b_hh carries our net's built-in forget-gate bias of 1 (``lstm_gates``)."""
    layers = weights["layers"]
    H = layers[0]["w_hh"].shape[0]
    to_ifgo = lambda w: jnp.concatenate([w[..., :H], w[..., 2 * H:3 * H], w[..., H:2 * H],
                                         w[..., 3 * H:]], axis=-1)
    W_ih = {i: to_ifgo(w["w_ih"]).T for i, w in enumerate(layers)}
    W_hh = {i: to_ifgo(w["w_hh"]).T for i, w in enumerate(layers)}
    b_ih = {i: to_ifgo(w["b"]) for i, w in enumerate(layers)}
    forget_one = jnp.zeros(4 * H, jnp.float32).at[H:2 * H].set(1.0)
    b_hh = {i: forget_one for i in range(len(layers))}
    return W_ih, W_hh, b_ih, b_hh


def cudnn_loss(weights, x_BxTxI, lstm=None):
    """The same stack and loss through ``jax.experimental.rnn.lstm`` (cuDNN, batch-major), or
    through ``lstm`` (e.g. ``rnn.lstm_ref``, its pure-JAX reference, to check this glue on a
    CPU)."""
    from jax.experimental import rnn

    B, T, I = x_BxTxI.shape
    W_ih, W_hh, b_ih, b_hh = cudnn_weights(weights)
    H, L = W_hh[0].shape[1], len(W_hh)
    h0 = jnp.zeros((L, B, H), jnp.float32)
    lengths = jnp.full((B,), T, jnp.int32)
    if lstm is None:
        packed = _pack_cudnn(W_ih, W_hh, b_ih, b_hh)
        y, _, _ = rnn.lstm(x_BxTxI, h0, h0, packed, lengths, I, H, L, 0.0, False)
    else:
        y, _, _ = lstm(x_BxTxI, h0, h0, W_ih, W_hh, b_ih, b_hh, lengths, I, H, L, 0.0, False)
    return jnp.sum(y)


def _pack_cudnn(W_ih, W_hh, b_ih, b_hh):
    """cuDNN's flat weight vector (``rnn.init_lstm_weight``'s layout: every layer's W_ih, W_hh
    in order, then every b_ih, b_hh), each 4H x in, gates i, f, g, o."""
    parts = [m.reshape(-1) for i in sorted(W_ih) for m in (W_ih[i], W_hh[i])]
    parts += [v for i in sorted(b_ih) for v in (b_ih[i], b_hh[i])]
    return jnp.concatenate(parts)


def lstm_rows(plan: Plan) -> list[dict]:
    """Forward + backward of the stack, jitted, both implementations on the same shapes."""
    shapes = lstm_shapes(plan)
    weights = jax.tree.map(jnp.asarray, lstm_weights(shapes))
    ids = np.random.default_rng(0).integers(0, shapes["I"], (shapes["B"], shapes["T"]))
    x = jax.nn.one_hot(ids, shapes["I"], dtype=jnp.float32)
    base = {"kind": "accel_lstm", "dtype": "float32", **shapes,
            "events_per_step": shapes["B"] * shapes["T"]}
    impls = [("lstm_scan (ours)", scan_loss)]
    impls.append(("jax.experimental.rnn.lstm (cuDNN)", cudnn_loss))
    out = []
    for name, loss in impls:
        if "cuDNN" in name and not on_gpu():
            out.append({**base, "impl": name, "status": "not on this backend"})
            continue
        grad = jax.jit(jax.value_and_grad(loss))
        start = time.perf_counter()
        traced = grad.trace(weights, x)
        compiled = traced.lower().compile()
        compile_s = time.perf_counter() - start
        flops, _ = jaxpr_flops(traced.jaxpr.jaxpr)
        source = "jaxpr matmul count"
        if "cuDNN" in name:   # one custom call: no dot in its jaxpr; the work is the scan's
            flops, source = jax.jit(jax.value_and_grad(scan_loss)).trace(weights, x).jaxpr, \
                "our scan's jaxpr count (the same stack and loss)"
            flops, _ = jaxpr_flops(flops.jaxpr)
        times = []
        for i in range(plan.warmup + plan.steps):
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(weights, x))
            if i >= plan.warmup:
                times.append(time.perf_counter() - t0)
        value = float(compiled(weights, x)[0])
        stats = summary(times)
        out.append({**base, "impl": name, "compile_s": compile_s, "loss": value,
                    "flops_per_step": flops, "flops_source": source, **stats,
                    "events_per_s": base["events_per_step"] / stats["median_s"]})
    return out


# ---------------------------------------------------------------- the run and its report


def peaks(plan: Plan) -> dict[str, dict]:
    """Measured matmul peaks by dtype (bf16 on a GPU only; a CPU has no bf16 matmul units)."""
    out = {"float32": matmul_peak.jax_matmul_peak(plan.matmul_sizes)}
    if on_gpu():
        out["bfloat16"] = matmul_peak.jax_matmul_peak(plan.matmul_sizes, dtype="bfloat16")
    return out


def with_utilisation(record: dict, peak: dict[str, dict]) -> dict:
    if "median_s" not in record:
        return record
    tflops = record["flops_per_step"] / record["median_s"] / 1e12
    record["achieved_tflops"] = tflops
    measured = peak.get(record["dtype"])
    if measured:
        record["utilisation_measured"] = tflops * 1e3 / measured["gflops"]
    sheet = datasheet(record["dtype"])
    if sheet:
        record["datasheet_tflops"] = sheet
        record["utilisation_datasheet"] = tflops / sheet
    return record


def run(plan: Plan, echo=print) -> list[dict]:
    """Every row of ``plan``; a failed row is recorded as an error and the run goes on."""
    start = time.perf_counter()
    records = [{"kind": "accel_peak", "dtype": dt, **p} for dt, p in peaks(plan).items()]
    peak = {r["dtype"]: r for r in records}
    echo("  matmul peak: " + ", ".join(f"{d} {p['gflops']:.0f} GFLOP/s" for d, p in peak.items()))

    def guarded(label, base, fn, *args):
        if plan.budget_s is not None and time.perf_counter() - start > plan.budget_s:
            records.append({**base, "status": f"skipped: the {plan.budget_s:.0f} s budget "
                            "was spent"})
            echo(f"  {label}: skipped (budget)")
            return
        t0 = time.perf_counter()
        try:
            for record in fn(*args):
                records.append(with_utilisation(record, peak))
            echo(f"  {label}: {time.perf_counter() - t0:.1f} s")
        except Exception as e:  # noqa: BLE001 - one failed row must not stop the report
            traceback.print_exc(file=sys.stderr)
            records.append({**base, "status": f"error: {type(e).__name__}: "
                            f"{str(e).splitlines()[0][:200] if str(e) else ''}"})
            echo(f"  {label}: FAILED {type(e).__name__}")

    for row in plan.rows:
        base = {"kind": "accel_train", "model": row.model, "preset": row.preset,
                "variant": row.variant, "dtype": row.dtype,
                "model_overrides": dict(row.model_overrides)}
        if row.dtype == "bfloat16" and not on_gpu():
            records.append({**base, "status": "not on this backend"})
            continue
        guarded(row.label, base, lambda r=row: [train_row(r, plan)])
    if plan.lstm_kernel:
        guarded("lstm kernel", {"kind": "accel_lstm", "dtype": "float32"}, lstm_rows, plan)
    return records


def _fmt(value, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) \
        else format(value, spec)


def markdown(records: list[dict], meta: dict) -> str:
    lines = ["# Accelerator benchmarks: training steps on synthetic batches", "",
             f"`{meta['command']}` on **{meta['device']}** ({meta['backend']}), jax "
             f"{meta['versions']['jax']}, {meta['started']}, {meta['wall_s']:.0f} s; load "
             f"{meta['load_start']:.2f} at start. Imported: jax, flax, optax, numpy only "
             "(note_seq, grain, music21, orbax not loaded: " +
             ("yes" if not meta["heavy_modules_loaded"] else
              "NO, loaded " + ", ".join(meta["heavy_modules_loaded"])) + ").", ""]
    if meta.get("quick"):
        lines += ["`--quick`: batch 2, window 16, 2 timed steps: proves the path end to end; "
                  "the figures are not the presets' throughput.", ""]
    lines += ["Matmul peak measured in this run: " + "; ".join(
        f"{r['dtype']} {r['gflops']:.0f} GFLOP/s (best of N = "
        f"{', '.join(str(n) for n in r['by_size'])})" for r in records
        if r["kind"] == "accel_peak") + ". Datasheet peak: " +
        (", ".join(f"{d} {datasheet(d):.0f} TFLOP/s" for d in ("bfloat16", "float32")
                   if datasheet(d)) or "none published for this device") + ".", ""]
    lines += ["## Train steps (the family's own task and step, jitted, one device)", "",
              "| model/preset | variant | dtype | B x T | params | compile s | median ms (IQR) "
              "| events/s | GFLOP/step | TFLOP/s | util. measured | util. datasheet | loss |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        if r["kind"] != "accel_train":
            continue
        extra = "".join(f" {k}={v}" for k, v in r.get("model_overrides", {}).items())
        head = f"| {r['model']}/{r['preset']}{extra} | {r['variant']} | {r['dtype']} |"
        if "median_s" not in r:
            lines.append(head + f" {r['status']} |" + " |" * 9)
            continue
        lines.append(
            head + f" {r['batch_size']} x {r['seq_len']} | {r['params']:,} | "
            f"{r['compile_s']:.1f} | {r['median_s'] * 1e3:.2f} ({r['iqr_s'] * 1e3:.2f}) | "
            f"{r['events_per_s']:,.0f} | {r['flops_per_step'] / 1e9:.3f} | "
            f"{_fmt(r.get('achieved_tflops'), '.3f')} | "
            f"{_fmt(r.get('utilisation_measured'), '.1%')} | "
            f"{_fmt(r.get('utilisation_datasheet'), '.1%')} | {r['loss']:.4f}"
            + (" (generator)" if r["loss_name"] != "loss" else "") + " |")
    lines += ["", "## LSTM stack forward + backward: our scan against cuDNN (float32)", "",
              "| implementation | B x T x in, layers x H | compile s | median ms (IQR) "
              "| events/s | util. measured | loss |", "|---|---|---|---|---|---|---|"]
    for r in records:
        if r["kind"] != "accel_lstm":
            continue
        shape = (f"{r['B']} x {r['T']} x {r['I']}, {r['layers']} x {r['H']}" if "B" in r
                 else "-")
        if "median_s" not in r:
            lines.append(f"| {r.get('impl', '-')} | {shape} | {r['status']} | | | | |")
            continue
        lines.append(f"| {r['impl']} | {shape} | {r['compile_s']:.1f} | "
                     f"{r['median_s'] * 1e3:.2f} ({r['iqr_s'] * 1e3:.2f}) | "
                     f"{r['events_per_s']:,.0f} | {_fmt(r.get('utilisation_measured'), '.1%')}"
                     f" | {r['loss']:.4f} |")
    lines += ["", "FLOPs: matmul + convolution FLOPs from the step's jaxpr, a scan body times its "
              "length (`benchmarks/flop_count.py`); the cuDNN LSTM is one custom call, so its row "
              "uses the scan's count (the same stack and loss). Utilisation: those FLOP/s "
              "over the matmul peak of the row's dtype measured above, and over the datasheet "
              "peak of that dtype. \"not on this backend\": bf16 and cuDNN rows run on a GPU "
              "only. Batches are random (ids above PAD/END, 5% of frame cells on): step times "
              "do not depend on the values; losses are those of random data.", ""]
    return "\n".join(lines)


HEAVY = ("note_seq", "grain", "music21", "orbax")


def versions() -> dict:
    import flax
    import jaxlib
    import optax

    return {"python": platform.python_version(), "jax": jax.__version__,
            "jaxlib": jaxlib.__version__, "flax": flax.__version__, "optax": optax.__version__,
            "numpy": np.__version__}


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks.accel",
                                description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="batch 2, window 16, 2 steps: proves the path end to end on a CPU")
    p.add_argument("--out", default="benchmarks/results", help="folder for accel.md/.jsonl")
    p.add_argument("--name", default="accel", help="file stem of the report (default: accel)")
    p.add_argument("--models", nargs="+", default=None, metavar="MODEL[/PRESET]",
                   help="only these rows (e.g. melody_rnn/tiny music_vae); 'lstm' for the "
                   "LSTM kernel rows (default: all)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse(argv)
    from benchmarks.report import load_1m

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plan = make_plan(args.quick, on_gpu())
    if args.models:
        plan = only(plan, args.models)
    device = jax.devices()[0]
    meta = {"command": " ".join(["python -m benchmarks.accel",
                                 *(argv if argv is not None else sys.argv[1:])]),
            "quick": args.quick, "backend": jax.default_backend(),
            "device": f"{len(jax.devices())} x {device.device_kind}",
            "started": time.strftime("%Y-%m-%d %H:%M %Z"), "load_start": load_1m(),
            "versions": versions()}
    print(f"benchmarks.accel -> {out} on {meta['device']}")
    start = time.perf_counter()
    records = run(plan, echo=print)
    meta["wall_s"] = time.perf_counter() - start
    meta["heavy_modules_loaded"] = sorted(m for m in HEAVY if m in sys.modules)
    jsonl = out / f"{args.name}.jsonl"
    with jsonl.open("w") as f:
        for r in records + [{"kind": "run", "meta": meta}]:
            f.write(json.dumps(r, default=str) + "\n")
    md = out / f"{args.name}.md"
    md.write_text(markdown(records, meta))
    print(f"wrote {jsonl}, {md} in {meta['wall_s']:.0f} s")
    return md


if __name__ == "__main__":
    main()
