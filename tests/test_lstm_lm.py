"""The LSTM event model: shapes, causality, and that the carry makes step-by-step decoding equal
the full forward pass (what sampling relies on)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo.nets.lstm_lm import Config, LstmLM, RecentAttention, lstm_scan

V = 13


def _model_params(attn=0, layers=2):
    model = LstmLM(Config(vocab_size=V, hidden=16, num_layers=layers, dropout=0.0,
                          attn_length=attn))
    ids = jnp.zeros((2, 5), jnp.int32)
    params = model.init(jax.random.key(0), ids, model.initial_carry(2))["params"]
    return model, params


def _ids(B=2, T=11, seed=1):
    return jax.random.randint(jax.random.key(seed), (B, T), 0, V)


@pytest.mark.parametrize("attn", [0, 4])
def test_shapes_and_float32_logits(attn):
    model, params = _model_params(attn)
    logits, carry = model.apply({"params": params}, _ids(), model.initial_carry(2))
    assert logits.shape == (2, 11, V) and logits.dtype == jnp.float32
    assert len(carry["lstm"]) == 2 and carry["lstm"][0][0].shape == (2, 16)


@pytest.mark.parametrize("attn", [0, 4])
def test_causal(attn):
    """Changing the token at position t leaves every logit before t unchanged."""
    model, params = _model_params(attn)
    ids = _ids()
    t = 6
    changed = ids.at[:, t].set((ids[:, t] + 1) % V)
    a, _ = model.apply({"params": params}, ids, model.initial_carry(2))
    b, _ = model.apply({"params": params}, changed, model.initial_carry(2))
    np.testing.assert_array_equal(a[:, :t], b[:, :t])
    assert not np.allclose(a[:, t:], b[:, t:])


@pytest.mark.parametrize("attn", [0, 4])
def test_step_by_step_equals_full_pass(attn):
    model, params = _model_params(attn)
    ids = _ids()
    full, _ = model.apply({"params": params}, ids, model.initial_carry(2))
    carry = model.initial_carry(2)
    # a prefix of 4 at once, then one token at a time, as sampling after a primer does
    first, carry = model.apply({"params": params}, ids[:, :4], carry)
    steps = [first]
    for t in range(4, ids.shape[1]):
        out, carry = model.apply({"params": params}, ids[:, t:t + 1], carry)
        steps.append(out)
    np.testing.assert_allclose(jnp.concatenate(steps, axis=1), full, rtol=1e-5, atol=1e-5)


def test_attention_window_is_exactly_k_outputs():
    """RecentAttention at position t sees y[t-k..t]: a change at t-k-1 leaves it unchanged,
    a change at t-k does not."""
    k, t = 3, 8
    attn = RecentAttention(k)
    y = jax.random.normal(jax.random.key(0), (1, 10, 16))
    hist, mask = jnp.zeros((1, k, 16)), jnp.zeros((1, k), bool)
    params = attn.init(jax.random.key(1), y, hist, mask)
    base, _, _ = attn.apply(params, y, hist, mask)
    outside, _, _ = attn.apply(params, y.at[0, t - k - 1].add(1.0), hist, mask)
    inside, _, _ = attn.apply(params, y.at[0, t - k].add(1.0), hist, mask)
    np.testing.assert_allclose(outside[0, t], base[0, t], rtol=1e-6)
    assert not np.allclose(inside[0, t], base[0, t])


def test_bfloat16_compute_keeps_float32_params():
    model = LstmLM(Config(vocab_size=V, hidden=16, num_layers=1, dtype="bfloat16"))
    params = model.init(jax.random.key(0), _ids(), model.initial_carry(2))["params"]
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(params))
    logits, _ = model.apply({"params": params}, _ids(), model.initial_carry(2))
    assert logits.dtype == jnp.float32 and np.isfinite(np.asarray(logits)).all()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_hand_written_lstm_gradient_equals_autodiff(dtype):
    """lstm_scan's custom VJP against jax.grad of the same recurrence written as a plain scan,
    for every input: weights, the projected inputs and the initial state."""
    T, B, H = 9, 3, 5
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.normal(size=(H, 4 * H)) * 0.5, jnp.float32)
    xw = jnp.asarray(rng.normal(size=(T, B, 4 * H)), jnp.float32)
    c0, h0 = (jnp.asarray(rng.normal(size=(B, H)) * 0.5, jnp.float32) for _ in range(2))
    target = jnp.asarray(rng.normal(size=(T, B, H)), jnp.float32)
    cd = jnp.dtype(dtype)

    def plain(w, xw, carry):
        def step(carry, x):
            c, h = carry
            z = (x.astype(cd) + h.astype(cd) @ w.astype(cd)).astype(jnp.float32)
            i, g, f, o = jnp.split(z, 4, axis=-1)
            c = jax.nn.sigmoid(f + 1.0) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (c, h), h
        last, hs = jax.lax.scan(step, carry, xw)
        return hs, last

    def loss(scan):
        def f(w, xw, carry):
            hs, (c, h) = scan(w, xw, carry)
            return jnp.sum(hs * target) + jnp.sum(jnp.sin(c)) + jnp.sum(h * h)
        return jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)))

    want = loss(plain)(w, xw, (c0, h0))
    got = loss(lambda w, xw, carry: lstm_scan(w, xw, carry, dtype))(w, xw, (c0, h0))
    tol = 1e-5 if dtype == "float32" else 3e-2
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32),
                                   rtol=tol, atol=tol)
