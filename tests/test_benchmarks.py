"""The benchmark command's pieces at tiny sizes: one run of it (JSON schema of its records, what
they count), the report writer on given JSON lines, the FLOP counter on known programs, and that
the per-event and recomputing sampling loops it times draw the jitted sampler's ids. torch is
optional: without it the torch rows must say so; with it, the ports' sizes are checked. No timing
is asserted (the machine is shared)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from note_seq import midi_io
from note_seq.protobuf import music_pb2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repo root holds benchmarks/

from benchmarks import __main__ as bench  # noqa: E402
from benchmarks.flop_count import count_flops  # noqa: E402
from benchmarks.report import (  # noqa: E402
    REQUIRED_KEYS,
    Recorder,
    markdown,
    plot_sweeps,
    read_records,
)
from benchmarks.sampling_speed import per_event_sampler, sample_recomputing  # noqa: E402
from benchmarks.train_throughput import TrainCase  # noqa: E402
from zoo.codecs import END, PAD  # noqa: E402
from zoo.nets import lstm_lm, transformer_lm  # noqa: E402
from zoo.nets.decoding import sample  # noqa: E402

LSTM = ("model.hidden=16", "model.num_layers=2", "batch_size=8", "seq_len=16")
PNG = b"\x89PNG\r\n\x1a\n"


def _melodies(root: Path, count: int = 12) -> Path:
    """``count`` random 16-bar melodies (quarter notes, pitches 60-79) as MIDI files."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for i in range(count):
        ns = music_pb2.NoteSequence(ticks_per_quarter=220)
        ns.tempos.add(qpm=120)
        for j, pitch in enumerate(rng.integers(60, 80, 64)):
            ns.notes.add(pitch=int(pitch), velocity=80, start_time=0.5 * j,
                         end_time=0.5 * j + 0.45)
        ns.total_time = 32.0
        midi_io.note_sequence_to_midi_file(ns, root / f"tune{i:02d}.mid")
    return root


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    """One run of the benchmark command on a tiny plan and a tiny prepared MIDI folder: one
    training case (with its torch row and input wait), one sampling case, data preparation and
    a model that is not in the zoo. (The unroll and sweep tables are the report writer's, tested
    on given records below; each extra training case here would cost a compile.)"""
    from zoo.data.prepare import prepare

    tmp = tmp_path_factory.mktemp("bench")
    midi = _melodies(tmp / "midi")
    data = prepare("midi-dir", midi, "melody", out=tmp / "data", workers=0, echo=lambda s: None)
    plan = bench.Plan(
        train=(TrainCase("melody_rnn", "tiny", LSTM),),
        input_wait=(TrainCase("melody_rnn", "tiny", LSTM),),
        sampling=(("melody_rnn", "tiny", (1,), 4), ("not_a_model", "tiny", (1,), 4)),
        prepare=(("midi-dir", str(midi), "melody"),),
        steps=2, warmup=1, sample_repeats=1, matmul_sizes=(64,), devices=1)
    out = bench.main(["--out", str(tmp / "results"), "--models", "melody_rnn", "not_a_model"],
                     plan=plan, data_dirs={("embedded-folk", "melody"): data})
    return out, read_records(out / "results.jsonl"), data


def test_every_record_carries_versions_device_commit_and_config_hash(tiny_report):
    out, records, _ = tiny_report
    assert records
    for r in records:
        assert set(REQUIRED_KEYS) <= set(r), r["kind"]
        assert r["versions"]["jax"] == jax.__version__
        assert r["device"]["platform"] == "cpu" and r["device"]["count"] == jax.device_count()
        assert r["commit"] is None or re.fullmatch(r"[0-9a-f]{40}", r["commit"])
        assert re.fullmatch(r"[0-9a-f]{12}", r["config_hash"])
        assert r["load_1m"] >= 0
    kinds = {r["kind"] for r in records}
    assert {"matmul_peak", "prepare_function", "train", "torch_train", "input_wait", "sample",
            "unavailable"} <= kinds, kinds
    assert "error" not in kinds, [r for r in records if r["kind"] == "error"]
    train = next(r for r in records if r["kind"] == "train")
    sampled = next(r for r in records if r["kind"] == "sample")
    assert train["config_hash"] != sampled["config_hash"]


def test_training_records_count_what_they_measured(tiny_report):
    _, records, _ = tiny_report
    peak = next(r for r in records if r["kind"] == "matmul_peak")["jax"]["gflops"]
    (lstm,) = [r for r in records if r["kind"] == "train"]
    assert lstm["label"] == "melody_rnn/tiny " + " ".join(LSTM)
    B, T, H, V, layers = 8, 16, 16, 40, 2
    assert (lstm["batch_size"], lstm["seq_len"], lstm["params"] > 0) == (B, T, True)
    assert lstm["examples_per_step"] == B and lstm["events_per_step"] == B * T
    # forward: per event, h @ W_hh in each layer, the layer-to-layer projection, the logits (the
    # first layer's input projection is a lookup); a training step is forward + two backward
    # products per matmul.
    forward = B * T * (layers * 2 * H * 4 * H + (layers - 1) * 2 * H * 4 * H + 2 * H * V)
    assert lstm["flops_per_step"] == 3 * forward
    assert lstm["recompiles_after_warmup"] == 0 and lstm["jit_cache_growth_after_warmup"] == 0
    assert lstm["n"] == 2 and 0 < lstm["min_s"] <= lstm["median_s"] <= lstm["max_s"]
    assert lstm["compile_s"] > 0 and lstm["trace_s"] > 0
    assert lstm["events_per_s_per_device"] == pytest.approx(
        lstm["events_per_step"] / lstm["median_s"] / lstm["devices"])
    assert lstm["flops_utilisation"] == pytest.approx(lstm["achieved_gflops"] / peak)
    (t,) = [r for r in records if r["kind"] == "torch_train"]
    assert t["label"] == lstm["label"]
    if bench.load_torch_baselines() is None:
        assert t["error"] == bench.NO_TORCH
    else:
        assert "error" not in t, t["error"]
        assert t["n"] == 2 and t["params"] > 0
        assert t["ratio"] == pytest.approx(t["median_s"] / t["jax_interleaved_median_s"])
        # torch's faster thread setting is the one compared with
        by_threads = t["median_s_by_threads"]
        assert "1" in by_threads and t["median_s"] == min(by_threads.values())
        assert by_threads[str(t["threads"])] == t["median_s"]
    wait = next(r for r in records if r["kind"] == "input_wait")
    assert 0 <= wait["wait_share"] <= 1 and wait["wall_s_per_step"] > 0


def test_data_and_sampling_records(tiny_report):
    out, records, data = tiny_report
    prep = next(r for r in records if r["kind"] == "prepare_function")
    manifest = json.loads((Path(data) / "manifest.json").read_text())
    assert prep["pieces"] == sum(s["pieces"] for s in manifest["splits"].values())
    assert prep["pieces_per_s"] == pytest.approx(prep["pieces"] / prep["seconds"])
    (s,) = [r for r in records if r["kind"] == "sample"]
    assert s["same_ids"] is True and s["batch"] == 1 and s["steps"] == 4
    missing = next(r for r in records if r["kind"] == "unavailable")
    assert missing["model"] == "not_a_model" and missing["reason"] == "not yet in the zoo"
    text = (out / "report.md").read_text()
    assert "not_a_model: not yet in the zoo" in text
    assert "melody_rnn/tiny model.hidden=16" in text
    # --render writes the same report again from results.jsonl alone
    (out / "report.md").unlink()
    bench.main(["--out", str(out), "--render"])
    assert (out / "report.md").read_text() == text


# ---------------------------------------------------------------- the report writer

ENV = {"versions": {"python": "3.11", "jax": "0.0.test"},
       "device": {"platform": "cpu", "kind": "cpu", "count": 1, "cpu": "test cpu", "cpus": 2},
       "commit": None, "dirty": None}


def _train(label, model_config, median_s, sweep=None, **extra):
    model, preset = label.split(" ")[0].split("/")
    return {"kind": "train", "model": model, "preset": preset, "label": label, "sweep": sweep,
            "overrides": label.split(" ")[1:], "model_config": model_config,
            "batch_size": 64, "seq_len": 128, "params": 1000, "devices": 1,
            "examples_per_step": 64, "events_per_step": 64 * 128, "trace_s": 0.5,
            "compile_s": 2.0, "median_s": median_s, "iqr_s": 0.001,
            "examples_per_s_per_device": 64 / median_s,
            "events_per_s_per_device": 64 * 128 / median_s, "flops_per_step": 4e9,
            "xla_cost_analysis_flops": 1e9, "achieved_gflops": 4 / median_s,
            "flops_utilisation": 0.1 / median_s / 40, "recompiles_after_warmup": 0, **extra}


def test_report_renders_given_json_lines(tmp_path):
    rnn = {"hidden": 128, "num_layers": 2, "unroll": 1}
    attn = {"d_model": 64, "num_heads": 4}
    rec = Recorder(tmp_path, env=ENV)
    rec.add({"kind": "matmul_peak", "jax": {"gflops": 40.0}, "torch": {"gflops": 35.0}})
    rec.add(_train("melody_rnn/basic", rnn, 0.1))
    rec.add({"kind": "torch_train", "label": "melody_rnn/basic", "sweep": None,
             "median_s": 0.15, "jax_interleaved_median_s": 0.1, "ratio": 1.5, "params": 1000,
             "events_per_s": 64 * 128 / 0.15, "threads": 1,
             "median_s_by_threads": {"2": 0.4, "1": 0.15}})
    rec.add(_train("music_transformer/tiny", attn, 0.2))
    rec.add({"kind": "torch_train", "label": "music_transformer/tiny", "sweep": None,
             "error": bench.NO_TORCH})
    for unroll, seconds in ((1, 0.2), (4, 0.1)):
        rec.add(_train(f"melody_rnn/basic model.unroll={unroll}", {**rnn, "unroll": unroll},
                       seconds, sweep="unroll", interleaved_median_s=seconds))
    for batch in (8, 32):
        label = f"melody_rnn/tiny batch_size={batch}"
        rec.add(_train(label, rnn, 0.01 * batch, sweep="batch", batch_size=batch))
        rec.add({"kind": "torch_train", "label": label, "sweep": "batch", "ratio": 0.5,
                 "events_per_s": 1000.0 * batch, "median_s": 0.02 * batch,
                 "jax_interleaved_median_s": 0.01 * batch, "params": 1000})
    rec.add({"kind": "sample", "model": "music_transformer", "preset": "tiny", "batch": 64,
             "steps": 128, "jit_events_per_s": 3000.0, "loop_events_per_s": 1000.0,
             "jit_over_loop": 3.0, "jit_us_per_step": 50.0, "loop_overhead_us_per_step": 99.0,
             "same_ids": True, "recompute_events_per_s": 500.0, "cache_over_recompute": 6.0,
             "jit_first_call_s": 1.0})
    rec.add({"kind": "input_wait", "label": "melody_rnn/basic", "steps": 30, "wall_s_per_step": 0.1,
             "wait_s_per_step": 0.005, "wait_share": 0.05, "batch_build_s": 0.004})
    rec.add({"kind": "unavailable", "model": "musegan", "reason": "not yet in the zoo"})
    rec.add({"kind": "error", "stage": "sampling", "label": "music_vae/tiny",
             "error": "ValueError: boom"})
    rec.add({"kind": "skipped", "stage": "train/batch", "label": "melody_rnn/tiny batch_size=64",
             "reason": "time budget of the run (17 min) spent"})
    records = read_records(tmp_path / "results.jsonl")
    assert [r["kind"] for r in records] == [r["kind"] for r in rec.records]

    text = markdown(records, {"command": "python -m benchmarks --quick", "quick": True,
                              "load_start": 1.5, "load_end": 2.5, "wall_s": 100.0,
                              "notes": ["a note"]})
    lines = text.splitlines()
    row = lambda start: next(line for line in lines if line.startswith(start))
    assert lines[0] == "# music-zoo benchmarks (quick)"
    assert "load average (1 min) at start 1.5, at end 2.5" in text and "> a note" in text
    assert "JAX 40 GFLOP/s, torch 35 GFLOP/s" in text
    assert row("| LSTM training, ours / PyTorch (melody_rnn/basic)") == (
        "| LSTM training, ours / PyTorch (melody_rnn/basic) | 1.50x | >= 1.2x | yes |")
    assert f"| Transformer training, ours / PyTorch (music_transformer/tiny) | {bench.NO_TORCH} |"\
        in text
    side = text.split("## Side by side with PyTorch")[1].splitlines()
    (basic,) = [line for line in side if line.startswith("| melody_rnn/basic | 64x128 |")]
    assert basic.split(" | ")[2:5] == ["100", "400 (2), 150 (1)", "1.50x"]
    assert row("| jitted sampling / per-event loop (music_transformer/tiny, batch 64)") \
        .endswith("| 3.00x | >= 2.0x (CPU) | yes |")
    assert row("| KV cache / full recomputation").split(" | ")[1] == "6.00x"
    assert row("| input wait, share of step time").endswith("| 5.00% | < 2% | no |")
    # the unroll table compares the interleaved medians with unroll 1's
    assert row("| melody_rnn/basic model.unroll=4").split(" | ")[5] == "2.00x"
    assert row("| melody_rnn/tiny batch_size=32").endswith("| 0.50x |")
    assert "- musegan: not yet in the zoo" in text
    assert "- music_vae/tiny (sampling): ValueError: boom" in text
    assert ("- melody_rnn/tiny batch_size=64 (train/batch): skipped, time budget of the run "
            "(17 min) spent") in text
    for heading in ("## Headline figures", "## Training", "## Side by side with PyTorch",
                    "## LSTM scan unroll", "## Throughput against batch size",
                    "## Sampling", "## Data", "## Not measured"):
        assert heading in text, heading

    plots = plot_sweeps(records, tmp_path)
    assert [p.name for p in plots] == ["throughput_vs_batch.png"]   # no seq_len sweep given
    assert plots[0].read_bytes()[:8] == PNG


def test_without_torch_the_torch_rows_say_so(tmp_path, monkeypatch):
    """The torch port is looked up only when a torch row is due; without torch, each row
    records why it is missing (CI has no torch)."""
    monkeypatch.setitem(sys.modules, "torch", None)    # `import torch` raises ImportError
    assert bench.load_torch_baselines() is None
    runner = bench.Runner(bench.Plan(train=()), Recorder(tmp_path, env=ENV))
    runner.torch_case(TrainCase("melody_rnn", "basic"), None, {}, None, {"model": "x"})
    (row,) = runner.rec.records
    assert row["kind"] == "torch_train" and row["error"] == bench.NO_TORCH


def test_a_spent_time_budget_skips_the_remaining_parts(tmp_path):
    plan = bench.Plan(train=(TrainCase("melody_rnn", "tiny", LSTM),),
                      sampling=(("melody_rnn", "tiny", (1,), 4),), budget_s=0.0)
    runner = bench.Runner(plan, Recorder(tmp_path, env=ENV), echo=lambda s: None)
    runner.run()
    assert [(r["kind"], r["stage"]) for r in runner.rec.records] == [
        ("skipped", "matmul peak"), ("skipped", "train"), ("skipped", "sampling")]


def test_benchmarks_import_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import benchmarks.__main__ as b\n"
            "assert b.load_torch_baselines() is None\n"
            "assert 'benchmarks.torch_baselines' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]


# ---------------------------------------------------------------- FLOP counter

def test_flop_counter_is_exact_on_a_matmul_a_scan_and_a_conv():
    a, b = jnp.ones((3, 5)), jnp.ones((5, 7))
    assert count_flops(jnp.matmul, a, b) == (2 * 3 * 5 * 7, True)

    def rnn(h_BxH, xs_TxBxH, w_HxH):
        step = lambda h, x: (jnp.tanh(h @ w_HxH + x), h.sum())
        return jax.lax.scan(step, h_BxH, xs_TxBxH)

    B, T, H = 4, 11, 6
    args = (jnp.ones((B, H)), jnp.ones((T, B, H)), jnp.ones((H, H)))
    assert count_flops(rnn, *args) == (T * 2 * B * H * H, True)
    # its gradient: per step, dL/dh = g @ W^T and dL/dW += h^T @ g, plus the forward again
    grad = jax.grad(lambda *a: rnn(*a)[0].sum(), argnums=(0, 2))
    assert count_flops(grad, *args) == (3 * T * 2 * B * H * H, True)

    x = jnp.ones((2, 3, 9, 9))           # N C H W
    k = jnp.ones((8, 3, 3, 3))           # O I kh kw
    conv = lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), "VALID")
    assert count_flops(conv, x, k) == (2 * (2 * 8 * 7 * 7) * (3 * 3 * 3), True)

    def loop(w):   # a while loop of unknown trip count: its body counted once, not exact
        return jax.lax.while_loop(lambda c: c[1] < c[0].sum(), lambda c: (c[0] @ w, c[1] + 1),
                                  (jnp.ones((2, 2)), 0.0))

    assert count_flops(loop, jnp.ones((2, 2))) == (2 * 2 * 2 * 2, False)


# ---------------------------------------------------------------- sampling loops

def test_per_event_loop_draws_the_jitted_samplers_ids():
    """With END allowed (stop_at_end) and top-k / top-p filtering; the benchmark's own run
    (``test_data_and_sampling_records``) checks the stop_at_end=False path."""
    model = lstm_lm.LstmLM(lstm_lm.Config(vocab_size=12, hidden=16, num_layers=1))
    primer = jnp.asarray([[END, 5, 7], [END, 3, 3]], jnp.int32)
    params = model.init(jax.random.key(0), primer, model.initial_carry(2))["params"]
    rng = jax.random.key(3)
    expected = sample(model, params, primer, rng, num_steps=24, end_id=END, pad_id=PAD, temperature=1.5, top_k=6,
                      top_p=0.9, stop_at_end=True)
    loop = per_event_sampler(model, temperature=1.5, top_k=6, top_p=0.9, stop_at_end=True)
    got = loop(params, primer, rng, 24)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    assert len(np.unique(np.asarray(got))) > 3   # a real draw, not a constant row
    other = loop(params, primer, jax.random.key(4), 24)
    assert not np.array_equal(np.asarray(other), np.asarray(got))


def test_recomputing_sampler_draws_the_cached_samplers_ids():
    cfg = transformer_lm.Config(vocab_size=12, num_layers=1, d_model=16, num_heads=2,
                                ffn_dim=32, max_len=32, max_relative_distance=8)
    model = transformer_lm.TransformerLM(cfg)
    primer = jnp.full((2, 1), END, jnp.int32)
    params = model.init(jax.random.key(0), primer, model.initial_carry(2))["params"]
    rng = jax.random.key(5)
    cached = sample(model, params, primer, rng, num_steps=12, end_id=END, pad_id=PAD, stop_at_end=False)
    full = sample_recomputing(model, params, primer, rng, num_steps=12)
    np.testing.assert_array_equal(np.asarray(full), np.asarray(cached))
    assert len(np.unique(np.asarray(full))) > 2


# ---------------------------------------------------------------- torch ports (optional)

def test_torch_ports_have_our_sizes():
    """Only where torch is installed (the ``bench`` extra): the ports the ratios compare
    against are the same networks (up to torch's extra LSTM bias vectors)."""
    torch = pytest.importorskip("torch")
    from benchmarks import torch_baselines

    lcfg = lstm_lm.Config(vocab_size=12, hidden=16, num_layers=2)
    lm = lstm_lm.LstmLM(lcfg)
    ids = jnp.zeros((2, 5), jnp.int32)
    ours = lm.init(jax.random.key(0), ids, lm.initial_carry(2))["params"]
    count = lambda p: sum(x.size for x in jax.tree.leaves(p))
    theirs = torch_baselines.torch_lstm_lm(lcfg)
    # ours: no bias in layer 1 (the embedding is one-hot x W_ih), one in each later layer's
    # input projection; torch's nn.LSTM: b_ih and b_hh in every layer
    assert torch_baselines._params(theirs) == count(ours) + (2 * 2 - 1) * 4 * 16
    assert tuple(theirs(torch.zeros(2, 5, dtype=torch.long)).shape) == (2, 5, 12)

    tcfg = transformer_lm.Config(vocab_size=12, num_layers=2, d_model=16, num_heads=2,
                                 ffn_dim=32, max_len=32, max_relative_distance=8)
    tm = transformer_lm.TransformerLM(tcfg)
    ours = tm.init(jax.random.key(0), ids, tm.initial_carry(2))["params"]
    assert torch_baselines._params(torch_baselines.torch_transformer_lm(tcfg)) == count(ours)
