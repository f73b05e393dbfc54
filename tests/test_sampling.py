"""Sampling inside jit: filters, determinism, END handling, and agreement with the model."""

import jax
import jax.numpy as jnp
import numpy as np

from zoo.codecs import END, PAD
from zoo.nets.decoding import draw, filter_logits, sample
from zoo.nets.lstm_lm import Config, LstmLM

V = 9


def _model():
    model = LstmLM(Config(vocab_size=V, hidden=16, num_layers=1, dropout=0.0))
    params = model.init(jax.random.key(0), jnp.zeros((1, 3), jnp.int32),
                        model.initial_carry(1))["params"]
    return model, params


def test_top_k_and_top_p_keep_the_right_ids():
    logits = jnp.log(jnp.array([[0.5, 0.25, 0.15, 0.1]]))
    kept = lambda f: np.isfinite(np.asarray(f))[0].tolist()
    assert kept(filter_logits(logits, 1.0, 2, 1.0)) == [True, True, False, False]
    assert kept(filter_logits(logits, 1.0, 0, 0.7)) == [True, True, False, False]
    assert kept(filter_logits(logits, 1.0, 0, 0.75)) == [True, True, False, False]
    assert kept(filter_logits(logits, 1.0, 0, 0.76)) == [True, True, True, False]
    assert kept(filter_logits(logits, 1.0, 0, 0.01)) == [True, False, False, False]
    assert kept(filter_logits(logits, 1.0, 0, 1.0)) == [True] * 4


def test_sampling_is_deterministic_and_never_draws_pad():
    model, params = _model()
    primer = jnp.full((4, 1), END, jnp.int32)
    a = sample(model, params, primer, jax.random.key(3), num_steps=40, end_id=END, pad_id=PAD, stop_at_end=False)
    b = sample(model, params, primer, jax.random.key(3), num_steps=40, end_id=END, pad_id=PAD, stop_at_end=False)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4, 40)
    assert not np.any(np.asarray(a) == PAD) and not np.any(np.asarray(a) == END)


def test_rows_stop_at_end_then_pad():
    model, params = _model()
    # Force END to be certain after the first token by biasing the output layer.
    params = jax.tree.map(lambda x: x, params)
    params["logits"]["bias"] = params["logits"]["bias"].at[END].set(50.0)
    ids = np.asarray(sample(model, params, jnp.full((2, 1), END, jnp.int32), jax.random.key(0),
                            num_steps=10, end_id=END, pad_id=PAD))
    assert (ids[:, 0] == END).all() and (ids[:, 1:] == PAD).all()


def test_greedy_sampling_follows_the_model():
    """At a tiny temperature the sampler picks argmax of the model's own logits at each step."""
    model, params = _model()
    ids = np.asarray(sample(model, params, jnp.full((1, 1), END, jnp.int32), jax.random.key(0),
                            num_steps=12, end_id=END, pad_id=PAD, temperature=1e-4, stop_at_end=False))
    seq = jnp.concatenate([jnp.array([[END]]), jnp.asarray(ids)], axis=1)
    logits, _ = model.apply({"params": params}, seq[:, :-1], model.initial_carry(1))
    masked = logits.at[..., PAD].set(-jnp.inf).at[..., END].set(-jnp.inf)
    np.testing.assert_array_equal(np.argmax(masked, -1)[0], ids[0])


def test_inverse_cdf_draw_has_the_softmax_distribution():
    """``draw`` at evenly spread uniforms gives each id the share of its probability (to one
    uniform's width), never an id at -inf, and u at the top of [0, 1) still a possible id."""
    probs = np.array([0.0, 0.5, 0.0, 0.2, 0.3, 0.0], np.float32)
    logits_V = jnp.log(jnp.asarray(probs))                   # zeros -> -inf
    n = 10_000
    u_N = (jnp.arange(n, dtype=jnp.float32) + 0.5) / n
    ids = np.asarray(draw(jnp.broadcast_to(logits_V, (n, probs.size)), u_N))
    counts = np.bincount(ids, minlength=probs.size) / n
    np.testing.assert_allclose(counts, probs, atol=2 / n)
    top = np.asarray(draw(logits_V[None], jnp.array([np.nextafter(np.float32(1), 0)])))
    assert top.tolist() == [4]                               # the last id with probability > 0
    assert np.asarray(draw(logits_V[None], jnp.zeros(1))).tolist() == [1]


def test_sampled_frequencies_follow_the_model():
    """Many rows from one primer: the first event's ids are distributed as the model's own
    softmax (the draw is exact sampling, not a cheaper approximation)."""
    model, params = _model()
    B = 4000
    ids = np.asarray(sample(model, params, jnp.full((B, 1), END, jnp.int32), jax.random.key(5),
                            num_steps=1, end_id=END, pad_id=PAD, stop_at_end=False))[:, 0]
    logits, _ = model.apply({"params": params}, jnp.full((1, 1), END, jnp.int32),
                            model.initial_carry(1))
    p = np.asarray(jax.nn.softmax(logits[0, -1].at[PAD].set(-jnp.inf).at[END].set(-jnp.inf)))
    freq = np.bincount(ids, minlength=V) / B
    sd = np.sqrt(p * (1 - p) / B)
    assert np.all(np.abs(freq - p) <= 5 * sd + 1e-9), (freq, p)
