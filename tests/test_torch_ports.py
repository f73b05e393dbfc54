"""The PyTorch side of the benchmark report (benchmarks/torch_baselines.py) for MusicVAE, the
piano-roll LSTM-NADE and token-by-token sampling.

Without torch (CI): the report writes the new rows from given records, a model family is told
from its config, and the sampler rows say torch is missing. With torch (the ``bench`` extra):
each port is the same network as ours (parameter count up to torch's second LSTM bias vector),
its loss at initialization is the value ours starts from (same init distributions, not the same
weights; ``python -m benchmarks.torch_parity`` puts the two side by side at the presets' sizes),
the optimizer follows our schedule, and cached decoding equals the full forward pass.
No timing is asserted (the machine is shared)."""

import dataclasses
import math
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repo root holds benchmarks/

from benchmarks import __main__ as bench  # noqa: E402
from benchmarks.report import Recorder, family_of, markdown, read_records  # noqa: E402
from zoo.codecs import END, PAD, get_codec  # noqa: E402
from zoo.config import TrainConfig  # noqa: E402
from zoo.nets import lstm_lm, music_vae, pianoroll, transformer_lm  # noqa: E402
from zoo.registry import build_task, get_preset  # noqa: E402

ENV = {"versions": {"python": "3.11", "jax": "0.0.test"},
       "device": {"platform": "cpu", "kind": "cpu", "count": 1, "cpu": "test cpu", "cpus": 2},
       "commit": None, "dirty": None}


def _train(label, model_config, median_s):
    model, preset = label.split("/")
    return {"kind": "train", "model": model, "preset": preset, "label": label, "sweep": None,
            "overrides": [], "model_config": model_config, "batch_size": 16, "seq_len": 64,
            "params": 1000, "devices": 1, "examples_per_step": 16, "events_per_step": 1024,
            "trace_s": 0.5, "compile_s": 2.0, "median_s": median_s, "iqr_s": 0.001,
            "examples_per_s_per_device": 16 / median_s, "events_per_s_per_device": 1024 / median_s,
            "flops_per_step": 1e9, "xla_cost_analysis_flops": 1e9, "achieved_gflops": 1.0,
            "recompiles_after_warmup": 0}


def _torch(label, ratio, params=1010):
    return {"kind": "torch_train", "label": label, "sweep": None, "median_s": 0.1 * ratio,
            "jax_interleaved_median_s": 0.1, "ratio": ratio, "params": params, "threads": 1,
            "median_s_by_threads": {"2": 0.5, "1": 0.1 * ratio}}


def test_family_of_tells_the_piano_roll_lstm_from_the_event_lstm():
    as_record = lambda cfg: {"model_config": dataclasses.asdict(cfg)}
    assert family_of(as_record(pianoroll.Config(head="nade"))) == "frames"
    assert family_of(as_record(lstm_lm.Config())) == "lstm"
    assert family_of(as_record(music_vae.Config())) == "vae"


def test_report_has_the_vae_nade_and_torch_sampling_rows(tmp_path):
    vae = dataclasses.asdict(music_vae.Config(z_size=8))
    nade = dataclasses.asdict(pianoroll.Config(head="nade"))
    rec = Recorder(tmp_path, env=ENV)
    rec.add(_train("music_vae/tiny", vae, 0.1))
    rec.add(_torch("music_vae/tiny", 1.5))
    rec.add(_train("pianoroll_rnn_nade/cpu", nade, 0.1))
    rec.add(_torch("pianoroll_rnn_nade/cpu", 0.8))
    base = {"kind": "sample", "model": "melody_rnn", "preset": "tiny", "steps": 128,
            "jit_events_per_s": 3000.0, "loop_events_per_s": 1000.0, "jit_over_loop": 3.0,
            "jit_us_per_step": 50.0, "loop_overhead_us_per_step": 99.0, "same_ids": True,
            "jit_first_call_s": 1.0}
    rec.add({**base, "batch": 1, "jit_interleaved_events_per_s": 5000.0,
             "torch_median_s_by_threads": {"2": 0.256, "1": 0.064}, "jit_over_torch": 2.5})
    rec.add({**base, "batch": 64, "torch_error": bench.NO_TORCH})
    text = markdown(read_records(tmp_path / "results.jsonl"), {"command": "x"})
    lines = text.splitlines()
    row = lambda start: next(line for line in lines if line.startswith(start))
    assert row("| MusicVAE training, ours / PyTorch (music_vae/tiny)").endswith(
        "| 1.50x | >= 1.2x | yes |")
    assert row("| Piano-roll LSTM (NADE head: LSTM-NADE) training, ours / PyTorch "
               "(pianoroll_rnn_nade/cpu)").endswith("| 0.80x | >= 1.2x | no |")
    side = text.split("## Side by side with PyTorch")[1].split("##")[0]
    assert "| 1.50x | >= 1.2x (yes) | 1,000 / 1,010 |" in side
    assert row("| jitted sampling / PyTorch token-by-token loop (melody_rnn/tiny, batch 1)"
               ).endswith("| 2.50x | >= 2.0x | yes |")
    assert row("| jitted sampling / PyTorch token-by-token loop (melody_rnn/tiny, batch 64)"
               ) .endswith(f"| {bench.NO_TORCH} | >= 2.0x | - |")
    sampling = text.split("## Sampling")[1]
    # torch's events/s at each thread count: 1 x 128 events over 0.256 s and 0.064 s
    assert "| melody_rnn/tiny | 1 | 128 | 5,000 | 500 (2), 2,000 (1) | 2.50x | >= 2.0x (yes) |" \
        in sampling
    # the jitted-vs-own-loop table stays, after the torch one
    assert sampling.index("PyTorch user") < sampling.index("Second view")


def test_without_torch_the_sampling_rows_say_so(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)    # `import torch` raises ImportError
    runner = bench.Runner(bench.Plan(train=()), Recorder(tmp_path, env=ENV))
    against = runner.torch_sampling(lstm_lm.Config(), 1, 4)
    assert against(lambda: 0.0) == {"torch_error": bench.NO_TORCH}
    no_torch = bench.Runner(bench.Plan(train=(), torch=False), Recorder(tmp_path, env=ENV))
    assert no_torch.torch_sampling(lstm_lm.Config(), 1, 4) is None


# ---------------------------------------------------------------- with torch

@pytest.fixture(autouse=True)
def _one_torch_thread():
    """torch's OpenMP threads on a shared 2-core machine cost more than they give at these
    sizes; one thread keeps the tests fast (nothing here is timed)."""
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

def _our_count(name, preset, model_cfg) -> int:
    """Our network's parameter count, from shapes alone (``jax.eval_shape``: nothing compiled)."""
    p = dataclasses.replace(get_preset(name, preset), model=model_cfg)
    task = build_task(name, p, get_codec(p.codec))
    shapes = jax.eval_shape(task.init, jax.random.key(0))
    return sum(math.prod(x.shape) for x in jax.tree.leaves(shapes))


VAE_CASES = {  # (preset, network, extra torch parameters: one more LSTM bias per layer and
    #            direction, the conductor's W_ih on its constant input of width 1)
    "flat": ("tiny", music_vae.Config(vocab_size=40, z_size=8, encoder_hidden=16,
                                      decoder_hidden=16, decoder_layers=2, num_bars=2),
             2 * 4 * 16 + 2 * 4 * 16),
    "hierarchical": ("hier_tiny", music_vae.Config(
        vocab_size=40, z_size=8, encoder_hidden=8, decoder_hidden=16, decoder_layers=1,
        conductor_hidden=16, conductor_layers=1, num_bars=4), 2 * 4 * 8 + 2 * 4 * 16 + 4 * 16),
}


@pytest.mark.parametrize("kind", list(VAE_CASES))
def test_torch_music_vae_is_our_network_with_our_loss(kind):
    pytest.importorskip("torch")
    from benchmarks import torch_baselines as tb

    preset, cfg, extra = VAE_CASES[kind]
    train = TrainConfig(batch_size=8, seq_len=cfg.num_steps, learning_rate=1e-3, clip_norm=1.0)
    rng = np.random.default_rng(0)
    batch = {"inputs": rng.integers(2, 40, (8, cfg.num_steps)).astype(np.int32),
             "mask": np.array([1.0] * 7 + [0.0], np.float32)}
    step, theirs_count = tb._port(cfg, train, get_preset("music_vae", preset).task)
    assert theirs_count == _our_count("music_vae", preset, cfg) + extra
    theirs = [float(step(batch)) for _ in range(3)]   # the first is the loss at init
    # at init ours and the port predict nearly uniform ids (beta = 0 at step 0): T ln V nats a
    # window (ours beside the port at the presets' sizes: python -m benchmarks.torch_parity)
    uniform = cfg.num_steps * math.log(40)
    assert abs(theirs[0] - uniform) < 0.02 * uniform, theirs
    assert theirs[2] < theirs[0]                      # the step trains


def test_torch_lstm_nade_is_our_network_with_our_loss():
    pytest.importorskip("torch")
    from benchmarks import torch_baselines as tb

    cfg = pianoroll.Config(vocab_size=88, hidden=16, num_layers=2, dropout=0.2, head="nade",
                           nade_hidden=8)
    train = TrainConfig(batch_size=4, seq_len=12, learning_rate=5e-3, clip_norm=5.0)
    rng = np.random.default_rng(0)
    frames = (rng.random((4, 13, 88)) < 0.05).astype(np.uint8)
    batch = {"inputs": frames[:, :-1], "targets": frames[:, 1:],
             "mask": np.ones((4, 12), np.float32)}
    step, theirs_count = tb._port(cfg, train)
    assert theirs_count == _our_count("pianoroll_rnn_nade", "cpu", cfg) + 2 * 4 * 16  # b_hh
    theirs = [float(step(batch)) for _ in range(3)]
    # near 88 ln 2 = 61 nats per frame at init (keys at about even odds), as ours
    assert abs(theirs[0] - 88 * math.log(2)) < 0.1 * 88 * math.log(2), theirs
    assert theirs[2] < theirs[0]


def test_torch_schedule_is_ours():
    pytest.importorskip("torch")
    from benchmarks.torch_baselines import schedule_factor
    from zoo.families.optim import make_schedule

    for cfg in (TrainConfig(steps=100, learning_rate=2e-3, warmup_steps=10, decay="cosine",
                            min_learning_rate=1e-4),
                TrainConfig(steps=100, learning_rate=3e-3, decay="exponential", decay_rate=0.95,
                            min_learning_rate=3e-4),
                TrainConfig(steps=100, learning_rate=1e-3)):
        ours, theirs = make_schedule(cfg), schedule_factor(cfg)
        for step in (0, 5, 10, 40, 99, 150):
            assert theirs(step) * cfg.learning_rate == pytest.approx(float(ours(step)),
                                                                     rel=1e-5, abs=1e-9)


def test_torch_token_samplers_equal_the_full_forward_and_never_draw_pad_or_end():
    torch = pytest.importorskip("torch")
    from benchmarks import torch_baselines as tb

    transformer = transformer_lm.Config(vocab_size=12, num_layers=2, d_model=16, num_heads=2,
                                        ffn_dim=32, max_len=6, max_relative_distance=4)
    for cfg in (transformer, dataclasses.replace(transformer, position="absolute", max_len=16),
                lstm_lm.Config(vocab_size=12, hidden=16, num_layers=2)):
        torch.manual_seed(0)
        is_lstm = isinstance(cfg, lstm_lm.Config)
        model = (tb.torch_lstm_lm if is_lstm else tb.torch_transformer_lm)(cfg).eval()
        ids = torch.randint(0, 12, (3, 14))
        with torch.no_grad():
            full = model(ids)   # past max_len 6 the relative model slides its window
            cache, state, stepped = model.new_cache(3, 14) if not is_lstm else None, None, []
            for i in range(14):
                if is_lstm:
                    logits, state = model.step(ids[:, i:i + 1], state)
                else:
                    logits = model.step(ids[:, i:i + 1], cache, i)
                stepped.append(logits)
        torch.testing.assert_close(torch.stack(stepped, 1), full, atol=1e-5, rtol=1e-5)
        run, _ = tb.torch_sampler(cfg, END, PAD)
        out = run(4, 14).numpy()   # absolute positions end at max_len (16), as ours
        assert out.shape == (4, 14) and out.min() >= 0 and out.max() < 12
        assert not np.isin(out, [END, PAD]).any() and len(np.unique(out)) > 3
