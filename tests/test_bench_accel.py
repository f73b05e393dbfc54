"""benchmarks/accel.py: the bare-JAX benchmark path (issue 16 item 4).

The end-to-end test runs ``python -m benchmarks --accel --quick`` in a fresh interpreter whose
import system refuses note_seq, grain, music21 and orbax, on CPU, with one family row (its bf16
twin is then "not on this backend") and the LSTM kernel rows, and checks the report.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import accel

ROOT = Path(__file__).resolve().parents[1]

BLOCKED_RUN = """
import runpy, sys
BLOCK = {"note_seq", "grain", "music21", "orbax"}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCK:
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, Block())
sys.argv = ["benchmarks", *sys.argv[1:]]
runpy.run_module("benchmarks", run_name="__main__", alter_sys=True)
"""


def test_quick_path_runs_without_note_seq_grain_music21_orbax(tmp_path):
    out = tmp_path / "accel"
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKED_RUN, "--accel", "--quick", "--models", "melody_rnn/tiny", "lstm",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in (out / "accel.jsonl").read_text().splitlines()]
    meta = records[-1]["meta"]
    assert meta["heavy_modules_loaded"] == [] and meta["backend"] == "cpu"
    train = [r for r in records if r["kind"] == "accel_train"]
    f32 = [r for r in train if r["dtype"] == "float32"]
    assert [(r["model"], r["preset"]) for r in f32] == [("melody_rnn", "tiny")]
    row = f32[0]
    assert (row["batch_size"], row["seq_len"], row["events_per_step"]) == (2, 16, 32)
    for key in ("median_s", "events_per_s", "loss", "achieved_tflops", "utilisation_measured"):
        assert math.isfinite(row[key]) and row[key] > 0, key
    assert row["flops_per_step"] > 0 and row["finite"]
    assert [r["status"] for r in train if r["dtype"] == "bfloat16"] == ["not on this backend"]
    lstm = {r["impl"]: r for r in records if r["kind"] == "accel_lstm"}
    ours = lstm["lstm_scan (ours)"]
    assert math.isfinite(ours["median_s"]) and math.isfinite(ours["loss"])
    assert lstm["jax.experimental.rnn.lstm (cuDNN)"]["status"] == "not on this backend"
    report = (out / "accel.md").read_text()
    assert "| melody_rnn/tiny | preset | float32 | 2 x 16 |" in report
    assert "not loaded: yes" in report


def test_codec_constants_match_the_real_codecs():
    from zoo.codecs import NUM_SPECIAL, get_codec

    assert accel.NUM_SPECIAL == NUM_SPECIAL
    for name, sizes in accel.CODECS.items():
        codec = get_codec(name)
        assert codec.kind == sizes["kind"] and codec.vocab_size == sizes["vocab_size"], name
        if name == "multitrack":
            assert (codec.tracks, codec.steps_per_bar, codec.num_keys) == (
                sizes["tracks"], sizes["steps_per_bar"], sizes["num_keys"])
    from zoo.registry import get_preset

    for model, preset in accel.MAIN:  # every preset's codec has its sizes here
        assert get_preset(model, preset).codec in accel.CODECS, (model, preset)


def test_synthetic_batches_have_the_families_schema():
    from zoo.families.frames.batches import collate as frames_collate
    from zoo.families.lm.batches import collate as lm_collate

    plan = accel.make_plan(quick=True, gpu=False)
    rows = np.arange(2, dtype=np.int32)
    real = {
        ("melody_rnn", "tiny"): lm_collate([np.arange(17, dtype=np.int32)] * 2, rows),
        ("pianoroll_rnn_nade", "cpu"): frames_collate(
            [(np.zeros((17, 88), np.uint8), np.ones(17, bool))] * 2, rows),
    }
    for (model, preset), want in real.items():
        task, train = accel.build(accel.Row(model, preset), plan)
        got = accel.synthetic_batch(task, train)
        assert {k: (v.shape, v.dtype) for k, v in got.items()} == {
            k: (v.shape, v.dtype) for k, v in want.items()}, model


def test_cudnn_glue_equals_our_scan_through_the_reference_lstm():
    """The gate reordering and weight layout fed to jax.experimental.rnn: its pure-JAX
    reference (``lstm_ref``) gives our scan's loss and gradients on the same weights, and the
    flat cuDNN vector unpacks (``unpack_lstm_weights``) to the same matrices."""
    from jax.experimental import rnn

    shapes = {"B": 3, "T": 5, "I": 7, "H": 4, "layers": 2}
    weights = jax.tree.map(jnp.asarray, accel.lstm_weights(shapes, seed=1))
    weights["layers"][0]["b"] = jnp.linspace(-1, 1, 16)
    x = jax.random.normal(jax.random.key(0), (3, 5, 7))
    ours, g_ours = jax.jit(jax.value_and_grad(accel.scan_loss))(weights, x)
    ref = lambda w, x: accel.cudnn_loss(w, x, lstm=rnn.lstm_ref)
    theirs, g_theirs = jax.jit(jax.value_and_grad(ref))(weights, x)
    np.testing.assert_allclose(theirs, ours, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(g_ours), jax.tree.leaves(g_theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    W_ih, W_hh, b_ih, b_hh = accel.cudnn_weights(weights)
    flat = accel._pack_cudnn(W_ih, W_hh, b_ih, b_hh)
    unpacked = rnn.unpack_lstm_weights(flat, 7, 4, 2, False)
    for mine, theirs in zip((W_ih, W_hh, b_ih, b_hh), unpacked):
        for layer in range(2):
            np.testing.assert_array_equal(mine[layer], theirs[layer])

