"""The Music Transformer: skewing equals the naive relative logits, causality, cached decoding
equals the full forward pass (relative, absolute, rotary; past max_len on a sliding window), the
jitted sampler follows the model, the step compiles once, and `zoo` trains and samples MIDI."""

import functools
import json

import jax
import jax.numpy as jnp
import note_seq
import numpy as np
import pytest

from zoo.cli import main
from zoo.codecs import END, PAD
from zoo.errors import ZooError
from zoo.nets.decoding import sample
from zoo.nets.transformer_lm import (
    Config,
    Dropout,
    TransformerLM,
    relative_logits_gathered,
    relative_logits_skewed,
)
from zoo.runs import RunSpec, train_and_evaluate

V = 13
POSITIONS = ("relative", "absolute", "rotary")


def _model(position="relative", max_len=32, dtype="float32"):
    return TransformerLM(Config(vocab_size=V, num_layers=2, d_model=32, num_heads=4, ffn_dim=64,
                                dropout=0.0, attention_dropout=0.0, position=position,
                                max_len=max_len, max_relative_distance=5, dtype=dtype))


@functools.cache
def _params(position):
    """Parameters do not depend on max_len (but for absolute) or dtype: one init per kind."""
    model = _model(position)
    return jax.jit(model.init)(jax.random.key(0), jnp.zeros((2, 4), jnp.int32),
                               model.initial_carry(2))["params"]


def _model_params(position="relative", max_len=32, dtype="float32"):
    return _model(position, max_len, dtype), _params(position)


@functools.cache
def _apply(model):
    """``model.apply`` jitted (the tests call it for many positions with few shapes)."""
    return jax.jit(lambda params, ids, carry: model.apply({"params": params}, ids, carry))


def _ids(B=2, T=20, seed=1):
    return jnp.asarray(np.random.default_rng(seed).integers(0, V, (B, T)), jnp.int32)


def _naive_relative_logits(q_BxTxNxK, rel_NxRxK):
    """Shaw et al.'s formulation with the T x T x K tensor of embeddings the skewing avoids."""
    T, R = q_BxTxNxK.shape[1], rel_NxRxK.shape[1]
    distance_TxT = np.minimum(np.maximum(np.arange(T)[:, None] - np.arange(T)[None, :], 0), R - 1)
    e_NxTxTxK = np.asarray(rel_NxRxK)[:, distance_TxT]
    return np.einsum("btnk,ntsk->bnts", np.asarray(q_BxTxNxK), e_NxTxTxK)


@pytest.mark.parametrize("T,R", [(7, 3), (9, 16)])  # clipped; every distance
def test_skewing_equals_naive_relative_logits(T, R):
    rng = np.random.default_rng(0)
    q, rel = rng.normal(size=(2, T, 3, 4)), rng.normal(size=(3, R, 4))
    naive = _naive_relative_logits(q, rel)
    lower = np.tril(np.ones((T, T), bool))
    skewed = np.asarray(jax.jit(relative_logits_skewed)(q, rel))
    np.testing.assert_allclose(skewed[..., lower], naive[..., lower], rtol=1e-5, atol=1e-5)
    distance = jnp.arange(T)[:, None] - jnp.arange(T)[None, :]
    gathered = np.asarray(jax.jit(relative_logits_gathered)(q, rel, distance))
    np.testing.assert_allclose(gathered[..., lower], naive[..., lower], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("position", ["relative", "absolute"])  # einsum+skew; dot_product_attention
def test_causal(position):
    """A change at position t leaves every logit before t unchanged, and changes later ones."""
    model, params = _model_params(position)
    ids = _ids()
    t = 9
    changed = ids.at[:, t].set((ids[:, t] + 1) % V)
    a, _ = _apply(model)(params, ids, model.initial_carry(2))
    b, _ = _apply(model)(params, changed, model.initial_carry(2))
    np.testing.assert_allclose(a[:, :t], b[:, :t], rtol=1e-6, atol=1e-6)
    assert not np.allclose(a[:, t:], b[:, t:], atol=1e-4)


def test_no_gradient_flows_from_the_future():
    """d logits[:, t] / d embedding of token s is zero exactly when s > t."""
    model, params = _model_params("relative")
    ids = jnp.arange(12)[None] % V  # distinct tokens: each embedding row is one position
    t = 5

    def logit_at_t(embedding):
        p = {**params, "embed": {"embedding": embedding}}
        logits, _ = model.apply({"params": p}, ids, model.initial_carry(1))
        return logits[0, t].sum()

    grad = jax.jit(jax.grad(logit_at_t))(params["embed"]["embedding"])
    ids_np = np.asarray(ids[0])
    past, future = set(ids_np[: t + 1]), set(ids_np[t + 1:]) - set(ids_np[: t + 1])
    assert all(np.abs(grad[i]).sum() > 0 for i in past)
    assert all(np.abs(grad[i]).sum() == 0 for i in future)


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("position", POSITIONS)
def test_cached_decoding_equals_full_pass(position, batch):
    """The start symbol, then single events, then chunks of 4 through the KV cache give the
    logits of one forward pass over the whole sequence. Relative and rotary models run past
    their max_len of 6 on the ring-buffer cache, as the whole pass does with its window.
    Batch 1 and 2: a single event reads the cache before its write at batch 1, after it
    otherwise (``SelfAttention``)."""
    max_len = 32 if position == "absolute" else 6
    model, params = _model_params(position, max_len)
    ids = _ids(T=20)[:batch]
    full, _ = _apply(model)(params, ids, model.initial_carry(batch))
    out, carry = _apply(model)(params, ids[:, :1], model.initial_carry(batch))
    steps = [out]
    for start, stop in [(t, t + 1) for t in range(1, 8)] + [(t, t + 4) for t in range(8, 20, 4)]:
        out, carry = _apply(model)(params, ids[:, start:stop], carry)
        steps.append(out)
    assert int(carry["pos"]) == ids.shape[1]
    np.testing.assert_allclose(jnp.concatenate(steps, axis=1), full, rtol=1e-5, atol=1e-5)
    if position == "relative":  # the window is real: without it the later logits differ
        wide = _model(position, max_len=32)
        unwindowed, _ = _apply(wide)(params, ids, wide.initial_carry(batch))
        np.testing.assert_allclose(unwindowed[:, :6], full[:, :6], rtol=1e-5, atol=1e-5)
        assert not np.allclose(unwindowed[:, 6:], full[:, 6:], atol=1e-4)


@pytest.mark.parametrize("position", ["relative", "absolute"])
def test_jitted_sampler_follows_the_model(position):
    """Greedy sampling with the cache inside the jitted loop picks the argmax of the model's
    own full-pass logits at every step (past max_len too for relative positions)."""
    model, params = _model_params(position, max_len=6 if position == "relative" else 32)
    primer = jnp.asarray([[END, 5, 7, 9]], jnp.int32)
    ids = np.asarray(sample(model, params, primer, jax.random.key(0), num_steps=20, end_id=END, pad_id=PAD,
                            temperature=1e-4, stop_at_end=False))
    seq = jnp.concatenate([primer, jnp.asarray(ids)], axis=1)
    logits, _ = _apply(model)(params, seq[:, :-1], model.initial_carry(1))
    masked = logits.at[..., PAD].set(-jnp.inf).at[..., END].set(-jnp.inf)
    np.testing.assert_array_equal(np.argmax(masked, -1)[0, 3:], ids[0])


def test_absolute_positions_stop_at_max_len():
    from zoo.codecs import get_codec
    from zoo.config import TrainConfig
    from zoo.families.lm.task import LanguageModelTask

    model, params = _model_params("absolute", max_len=32)
    with pytest.raises(ZooError, match="longer than model.max_len=32"):
        _apply(model)(params, _ids(T=33), model.initial_carry(2))
    task = LanguageModelTask(model, get_codec("melody"), TrainConfig())
    with pytest.raises(ZooError, match="ask for at most 29 steps"):
        task.generate(params, 1, 30, np.array([END, 5, 6], np.int32), jax.random.key(0))


def test_bad_config_is_one_clear_error():
    with pytest.raises(ZooError, match="unknown model.position 'sinusoid'"):
        Config(position="sinusoid")
    with pytest.raises(ZooError, match="does not divide over 3 heads"):
        Config(d_model=32, num_heads=3)
    with pytest.raises(ZooError, match="unknown model.dtype 'float8'"):
        Config(dtype="float8")


def test_dropout_rate_and_scale():
    x = jnp.ones((64, 4, 33))
    y = Dropout(0.25).apply({}, x, False, rngs={"dropout": jax.random.key(0)})
    kept = np.asarray(y) > 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(np.asarray(y)[kept], 1 / 0.75, rtol=1e-6)
    np.testing.assert_array_equal(Dropout(0.25).apply({}, x, True), x)


def test_bfloat16_compute_keeps_float32_params():
    model, params = _model_params(dtype="bfloat16")
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(params))
    logits, carry = _apply(model)(params, _ids(), model.initial_carry(2))
    assert logits.dtype == jnp.float32 and carry["layers"][0]["k"].dtype == jnp.bfloat16
    exact, _ = _apply(_model())(params, _ids(), model.initial_carry(2))
    np.testing.assert_allclose(logits, exact, atol=0.15)


SMALL = ("model.num_layers=1", "model.d_model=32", "model.ffn_dim=64", "model.max_len=32",
         "model.max_relative_distance=16", "batch_size=8", "seq_len=32", "eval_max_pieces=4",
         "log_every=5")


def test_train_resume_and_sample_from_the_cli(chorale_performances, tmp_path, capsys):
    """The engine's step compiles once and the loss falls; `zoo train` resumes the run, `zoo
    sample` writes MIDI that note-seq reads, primer first; a bad setting is one line."""
    wd = tmp_path / "run"
    spec = RunSpec("music_transformer", "tiny", chorale_performances,
                   SMALL + ("steps=30", "eval_every=100", "learning_rate=3e-3", "warmup_steps=5"))
    summary = train_and_evaluate(wd, spec, progress=False)
    assert summary["train_step_compiles"] == 1
    train = [json.loads(line) for line in (wd / "metrics.jsonl").open() if '"train"' in line]
    assert train[-1]["nll"] < train[0]["nll"] - 0.5, (train[0]["nll"], train[-1]["nll"])

    assert main(["train", "music_transformer", "--preset", "tiny", "--workdir", str(wd),
                 "--set", "steps=34", "--no-progress"]) == 0
    assert "to step 34" in capsys.readouterr().out
    assert main(["sample", "--workdir", str(wd), "--num", "2", "--steps", "48", "--top-k", "20",
                 "--top-p", "0.95", "--primer-pitches", "60,64,67"]) == 0
    for i in range(2):
        ns = note_seq.midi_file_to_note_sequence(str(wd / "samples" / f"sample_{i}.mid"))
        assert [n.pitch for n in sorted(ns.notes, key=lambda n: n.start_time)[:3]] == [60, 64, 67]
        assert (wd / "samples" / f"sample_{i}.png").stat().st_size > 1000
    capsys.readouterr()
    assert main(["train", "music_transformer", "--preset", "tiny", "--data",
                 chorale_performances, "--workdir", str(tmp_path / "bad"), "--set",
                 "model.position=sinusoid"]) == 2
    assert "unknown model.position 'sinusoid'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
