"""The piano-roll Transformer: shapes, causality, one frame at a time from the KV cache equals the
full pass (also past the attention window), the NADE head stays a normalized distribution over
frames, the jitted sampler draws what the likelihood scores, and `zoo train` lowers the valid
frame NLL on the chorales."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_pianoroll_models import _all_frames, _apply, _params, _random_frames

from zoo.cli import main
from zoo.data.prepared import PreparedData
from zoo.errors import ZooError
from zoo.families.baselines import key_frequency_baseline
from zoo.nets.decoding import sample_frames
from zoo.nets.pianoroll_transformer import Config, PianorollTransformer


def _net(head, keys, position="relative", max_len=16, **kw):
    return PianorollTransformer(Config(
        vocab_size=keys, num_layers=2, d_model=16, num_heads=2, ffn_dim=32, dropout=0.0,
        attention_dropout=0.0, position=position, max_len=max_len, max_relative_distance=4,
        head=head, nade_hidden=12, **kw))


@pytest.mark.parametrize("head", ["bernoulli", "nade"])
def test_shapes_and_carry(head):
    P = 10
    model = _net(head, P)
    params = _params(model, P, noise=0.3)
    x = jnp.asarray(_random_frames(0, (3, 7, P)))
    logp, cond, carry = _apply(model, params, x, x, model.initial_carry(3), method="score")
    assert logp.shape == (3, 7) and logp.dtype == jnp.float32
    assert bool(jnp.all(logp < 0)) and bool(jnp.all(jnp.isfinite(logp)))
    want = {"logits": (3, 7, P)} if head == "bernoulli" else {"b_vis": (3, 7, P),
                                                             "b_hid": (3, 7, 12)}
    assert {k: v.shape for k, v in cond.items()} == want
    assert int(carry["pos"]) == 7 and len(carry["layers"]) == 2
    for layer in carry["layers"]:
        assert layer["k"].shape == layer["v"].shape == (3, 2, 16, 8)  # B x N x L x K
    frames, logits = _apply(model, params, cond, jax.random.key(0), method="sample")
    assert frames.shape == logits.shape == (3, 7, P)
    with pytest.raises(ZooError, match="position 'absolute'"):
        Config(position="absolute")
    with pytest.raises(ZooError, match="head 'rbm'"):
        Config(head="rbm")


@pytest.mark.parametrize("position", ["relative", "rotary"])
def test_causal_and_one_frame_at_a_time_equals_the_full_pass(position):
    """Input t is frame t - 1: changing input 5 leaves the conditioning of frames 0..4 as it was
    and changes frame 5's. Frames fed one at a time (after a 3-frame primer chunk) through the KV
    cache score each frame as the whole window does, also past max_len = 6 (sliding window)."""
    P, T = 12, 11
    model = _net("nade", P, position, max_len=6)
    params = _params(model, P, noise=0.3)
    x = jnp.asarray(_random_frames(5, (2, T, P)), jnp.float32)
    full_logp, full, _ = _apply(model, params, x, x, model.initial_carry(2), method="score")
    changed = x.at[:, 5].set(1.0 - x[:, 5])
    _, other, _ = _apply(model, params, changed, x, model.initial_carry(2), method="score")
    for k in full:
        np.testing.assert_array_equal(full[k][:, :5], other[k][:, :5])
        assert not np.allclose(full[k][:, 5], other[k][:, 5])
    logp, carry = _apply(model, params, x[:, :3], x[:, :3], model.initial_carry(2),
                         method="score")[::2]
    steps = [logp]
    for t in range(3, T):
        logp, _, carry = _apply(model, params, x[:, t : t + 1], x[:, t : t + 1], carry,
                                method="score")
        steps.append(logp)
    assert int(carry["pos"]) == T
    np.testing.assert_allclose(jnp.concatenate(steps, 1), full_logp, rtol=1e-5, atol=1e-5)
    # the window matters: a model that sees 16 frames scores the last ones differently
    wide = _net("nade", P, position, max_len=16)
    wide_logp = _apply(wide, params, x, x, wide.initial_carry(2), method="score")[0]
    np.testing.assert_allclose(wide_logp[:, :6], full_logp[:, :6], rtol=1e-5, atol=1e-5)
    assert not np.allclose(wide_logp[:, 6:], full_logp[:, 6:], atol=1e-4)


def test_nade_frame_probabilities_sum_to_one():
    P = 7
    model = _net("nade", P)
    params = _params(model, P, noise=1.0)
    inputs = jnp.asarray(_random_frames(0, (2, 3, P)))
    cond, _ = _apply(model, params, inputs, model.initial_carry(2))
    frames = _all_frames(P)                                      # every frame of 7 keys
    cond_all = jax.tree.map(lambda a: jnp.broadcast_to(
        a[:, :, None], (2, 3, len(frames), a.shape[-1])), cond)
    probs = np.exp(np.asarray(_apply(model, params, cond_all, frames, method="log_prob")))
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)   # (B, T): each frame's 128
    assert probs.max() > 10 / len(frames), "a distribution this flat tests little"
    assert not np.allclose(probs[:, 0], probs[:, 1], atol=1e-3), "the past conditions the frame"


def test_jitted_sampler_draws_the_joint_the_likelihood_scores():
    """Two frames of 3 keys from ``sample_frames`` (the KV cache carried through its scan): the
    frequency of each of the 64 two-frame sequences matches the model's probability."""
    P, N = 3, 40_000
    model = _net("nade", P)
    params = _params(model, P, noise=1.0)
    out = np.asarray(sample_frames(model, params, jnp.zeros((N, 0, P)), jax.random.key(7),
                                   num_steps=2), np.int64)
    weights = (1 << np.arange(P))[::-1]
    empirical = np.bincount(out[:, 0] @ weights * 8 + out[:, 1] @ weights, minlength=64) / N
    frames = _all_frames(P)
    pairs = jnp.asarray([[f0, f1] for f0 in frames for f1 in frames])  # (64, 2, P), same order
    inputs = jnp.concatenate([jnp.zeros((64, 1, P)), pairs[:, :1]], 1)
    logp = _apply(model, params, inputs, pairs, model.initial_carry(64), method="score")[0]
    model_p = np.exp(np.asarray(logp).sum(-1))
    np.testing.assert_allclose(model_p.sum(), 1.0, rtol=1e-5)
    assert model_p.max() > 3 / 64
    assert np.abs(empirical - model_p).max() < 0.01, np.abs(empirical - model_p).max()


@pytest.fixture(scope="module")
def chorale_pianoroll(tmp_path_factory):
    from zoo.codecs import get_codec
    from zoo.data.prepare import prepare

    out = tmp_path_factory.mktemp("data") / "embedded-chorales-pianoroll"
    return str(prepare("embedded-chorales", None, get_codec("pianoroll"), out=out, workers=2,
                       echo=lambda s: None))


def test_zoo_train_lowers_the_valid_frame_nll_and_samples(chorale_pianoroll, tmp_path):
    wd = tmp_path / "run"
    assert main(["train", "pianoroll_transformer", "--preset", "tiny", "--data",
                 chorale_pianoroll, "--workdir", str(wd), "--set", "steps=60",
                 "--set", "eval_every=30", "--set", "eval_max_pieces=20",
                 "--set", "checkpoint_every=60", "--no-progress"]) == 0
    records = [json.loads(line) for line in (wd / "metrics.jsonl").read_text().splitlines()]
    valid = [r["nll"] for r in records if r.get("split") == "valid"]
    assert len(valid) == 2
    assert valid[1] < valid[0] - 0.5, valid
    data = PreparedData(chorale_pianoroll)
    pieces = data.split("valid")
    pieces = [pieces[i] for i in range(min(20, len(pieces)))]   # eval_max_pieces: the first 20
    baseline = key_frequency_baseline(data.split("train"), pieces)["nll"]
    assert valid[1] < baseline - 1.0, (valid, baseline)       # learned more than key frequencies
    assert main(["sample", "--workdir", str(wd), "--num", "2", "--steps", "12"]) == 0
    assert len(list((wd / "samples").glob("sample_*.mid"))) == 2


@pytest.mark.parametrize("network", ["transformer", "lstm"])
def test_long_pieces_are_scored_in_chunks_exactly_as_whole(network):
    """A piece longer than eval_chunk is scored chunk by chunk with the KV cache (or the LSTM
    state) carried: the same NLL as one pass over the whole piece (which the Transformer's
    sliding window of max_len frames makes the same function), padding ignored."""
    from test_pianoroll_models import _net as _lstm_net

    from zoo.config import TrainConfig
    from zoo.families.frames.config import Config as FrameConfig
    from zoo.families.frames.task import FrameModelTask

    class Codec:
        kind, vocab_size = "frames", 10

    P, T = 10, 40
    model = (_net("bernoulli", P, max_len=12) if network == "transformer"
             else _lstm_net("bernoulli", P))
    params = _params(model, P, noise=0.3)
    frames = _random_frames(3, (2, T + 1, P))
    mask = np.ones((2, T), np.float32)
    mask[1, 30:] = 0  # the second piece is shorter: its tail is padding
    batch = {"inputs": frames[:, :-1], "targets": frames[:, 1:], "mask": mask}
    whole = FrameModelTask(model, Codec(), TrainConfig(), FrameConfig(accuracy_samples=2, eval_chunk=T))
    chunked = FrameModelTask(model, Codec(), TrainConfig(), FrameConfig(accuracy_samples=2, eval_chunk=16))
    rng = jax.random.key(0)
    nll_whole, s_whole = jax.jit(lambda p, b: whole.loss(p, b, rng))(params, batch)
    nll_chunked, s_chunked = jax.jit(lambda p, b: chunked.loss(p, b, rng))(params, batch)
    assert float(s_chunked["count"]) == float(s_whole["count"]) == T + 30
    np.testing.assert_allclose(float(nll_chunked), float(nll_whole), rtol=2e-6)
    assert 0 < float(s_chunked["tp_sum"]) and float(s_chunked["fn_sum"]) > 0
