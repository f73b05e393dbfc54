"""LSTM event language model: Magenta's Melody / Performance / Drums / Polyphony RNN in flax.linen.

    ids_BxT -> input projection (an embedding of width 4H, i.e. one-hot inputs times W_ih)
            -> N stacked LSTM layers (each: the input projection for the whole sequence outside the
               scan, only h @ W_hh inside it), dropout on every layer's output
            -> optional attention over the last k top-layer outputs (Magenta's attention_rnn)
            -> logits_BxTxV

The carry (one (c, h) pair per layer, plus the attention history) is explicit, so the same
``__call__`` trains on whole windows and samples one token at a time inside ``lax.scan``.
Unlike Magenta's AttentionCellWrapper, the attention context is not fed back into the next step's
input: that keeps the recurrence a plain LSTM whose input projection is hoisted out of the scan.
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoo.nets.dropout import Dropout

Carry = dict  # {"lstm": ((c_BxH, h_BxH), ...), "hist": h_BxKxH, "hist_mask": BxK}


@dataclasses.dataclass(frozen=True)
class Config:
    vocab_size: int = 40       # set from the codec at build time
    hidden: int = 128          # LSTM units per layer
    num_layers: int = 2
    dropout: float = 0.5       # drop rate on each layer's output (Magenta: keep prob 0.5)
    attn_length: int = 0       # attend over the last k outputs; 0 = no attention
    unroll: int = 1            # lax.scan unroll (same results; timings: benchmarks/results/)
    dtype: str = "float32"     # compute dtype; parameters stay float32


def initial_carry(config: Config, batch: int) -> Carry:
    """Zero state for ``batch`` sequences (also the start of sampling)."""
    zeros = jnp.zeros((batch, config.hidden), jnp.float32)
    k = max(config.attn_length, 1)
    return {
        "lstm": tuple((zeros, zeros) for _ in range(config.num_layers)),
        "hist": jnp.zeros((batch, k, config.hidden), jnp.float32),
        "hist_mask": jnp.zeros((batch, k), bool),
    }


class LSTMLayer(nn.Module):
    """One LSTM layer over a pre-projected input sequence ``xw_BxTx4H`` (gates i, g, f, o)."""

    hidden: int
    unroll: int = 1
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, xw_BxTx4H, carry):
        w_hh = self.param("w_hh", nn.initializers.orthogonal(), (self.hidden, 4 * self.hidden))
        h_TxBxH, carry = lstm_scan(w_hh, xw_BxTx4H.swapaxes(0, 1), carry, self.dtype, self.unroll)
        return h_TxBxH.swapaxes(0, 1), carry


def lstm_gates(z_xx4H):
    """Pre-activations (..., 4H) -> float32 activations (i, g, f, o), forget-gate bias 1.

    sigmoid(x) is computed as 0.5 tanh(x / 2) + 0.5, all four gates in one tanh: XLA's CPU
    logistic is slower than its tanh (timings: benchmarks/results/report.md)."""
    H = z_xx4H.shape[-1] // 4
    half, one = jnp.full((H,), 0.5, jnp.float32), jnp.ones((H,), jnp.float32)
    scale = jnp.concatenate([half, one, half, half])
    shift = jnp.concatenate([0 * half, 0 * half, half, 0 * half])  # the forget bias, halved
    ti, g, tf, to = jnp.split(jnp.tanh(z_xx4H.astype(jnp.float32) * scale + shift), 4, axis=-1)
    return 0.5 * ti + 0.5, g, 0.5 * tf + 0.5, 0.5 * to + 0.5


def _lstm_forward(w_hh, xw_TxBx4H, carry, dtype, unroll):
    """-> ((h_TxBxH, (c_T, h_T)), what the backward pass needs)."""
    w = w_hh.astype(dtype)

    step = functools.partial(_lstm_cell, w, dtype=dtype)
    last, (h_TxBxH, c_prev, acts_TxBx4H, tanh_c) = jax.lax.scan(step, carry, xw_TxBx4H,
                                                                unroll=unroll)
    h_prev = jnp.concatenate([carry[1][None], h_TxBxH[:-1]], axis=0)
    return (h_TxBxH, last), (w_hh, h_prev, c_prev, acts_TxBx4H, tanh_c)


def lstm_scan(w_hh, xw_TxBx4H, carry, dtype=jnp.float32, unroll: int = 1):
    """The recurrence over time: ``(w_hh Hx4H, xw TxBx4H, (c_BxH, h_BxH)) -> (h_TxBxH, (c, h))``,
    matmuls in ``dtype``, state and gates in float32.

    Its gradient is written by hand so that dW_hh = sum_t h_{t-1}^T dz_t is one large matmul
    after the backward loop instead of a small one inside each of its T steps; dz_t is also the
    gradient of xw."""
    dtype = jnp.dtype(dtype)
    if xw_TxBx4H.shape[0] == 1:  # one event (sampling): the cell itself, no loop around it
        (c, h), _ = _lstm_cell(w_hh.astype(dtype), carry, xw_TxBx4H[0].astype(dtype), dtype)
        return h[None], (c, h)
    return _lstm_scan(w_hh, xw_TxBx4H.astype(dtype), carry, dtype, unroll)


def _lstm_cell(w, carry, xw_Bx4H, dtype):
    """One step: ((c, h) at t, what the backward pass keeps: h_t, c_{t-1}, gates, tanh c_t)."""
    c_prev, h_prev = carry
    i, g, f, o = lstm_gates(xw_Bx4H + h_prev.astype(dtype) @ w)
    c = f * c_prev + i * g
    tanh_c = jnp.tanh(c)
    h = o * tanh_c
    return (c, h), (h, c_prev, jnp.concatenate([i, g, f, o], axis=-1), tanh_c)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _lstm_scan(w_hh, xw_TxBx4H, carry, dtype, unroll):
    return _lstm_forward(w_hh, xw_TxBx4H, carry, dtype, unroll)[0]


def _lstm_backward(dtype, unroll, saved, cotangents):
    w_hh, h_prev, c_prev, acts_TxBx4H, tanh_c = saved
    dh_TxBxH, (dc_last, dh_last) = cotangents
    w_t = w_hh.astype(dtype).T

    def step(carry, xs):
        dc, dh_next = carry  # gradients reaching c_t and h_t from step t + 1
        dh_out, c_before, acts, tc = xs
        i, g, f, o = jnp.split(acts, 4, axis=-1)
        dh = dh_out + dh_next
        dc = dc + dh * o * (1 - tc * tc)
        dz = jnp.concatenate([dc * g * i * (1 - i), dc * i * (1 - g * g),
                              dc * c_before * f * (1 - f), dh * tc * o * (1 - o)], axis=-1)
        return (dc * f, (dz.astype(dtype) @ w_t).astype(jnp.float32)), dz

    (dc0, dh0), dz_TxBx4H = jax.lax.scan(step, (dc_last, dh_last),
                                         (dh_TxBxH, c_prev, acts_TxBx4H, tanh_c),
                                         reverse=True, unroll=unroll)
    dw_hh = jnp.einsum("tbh,tbg->hg", h_prev, dz_TxBx4H).astype(w_hh.dtype)
    return dw_hh, dz_TxBx4H.astype(dtype), (dc0, dh0)


_lstm_scan.defvjp(_lstm_forward, _lstm_backward)


def lstm_stack(xw_BxTx4H, carry_lstm, cfg, dtype, train: bool):
    """The stacked layers, called inside a network's compact ``__call__`` (the layers are its
    submodules ``lstm_i`` and ``proj_i``): the first layer's projected input ``xw_BxTx4H`` ->
    (top outputs y_BxTxH, the new ((c, h), ...)). ``cfg``: hidden, num_layers, dropout, unroll."""
    H, new, y, xw = cfg.hidden, [], None, xw_BxTx4H
    for layer in range(cfg.num_layers):
        if layer > 0:
            xw = nn.Dense(4 * H, dtype=dtype, name=f"proj_{layer}")(y)
        y, c = LSTMLayer(H, cfg.unroll, dtype, name=f"lstm_{layer}")(xw, carry_lstm[layer])
        y = Dropout(cfg.dropout)(y, not train)
        new.append(c)
    return y, tuple(new)


class RecentAttention(nn.Module):
    """Additive attention of each output y_t over the k outputs before it (Bahdanau scores
    v . tanh(W1 s + W2 y_t), as Magenta's attention_rnn), with a running softmax over the k
    offsets so memory stays O(B T H). Returns Dense([y_t, context_t]) of width H."""

    length: int

    @nn.compact
    def __call__(self, y_BxTxH, hist_BxKxH, hist_mask_BxK):
        B, T, H = y_BxTxH.shape
        K = self.length
        s_BxSxH = jnp.concatenate([hist_BxKxH.astype(y_BxTxH.dtype), y_BxTxH], axis=1)
        valid_BxS = jnp.concatenate([hist_mask_BxK, jnp.ones((B, T), bool)], axis=1)
        keys_BxSxH = nn.Dense(H, use_bias=False, name="w1")(s_BxSxH)
        query_BxTxH = nn.Dense(H, name="w2")(y_BxTxH)
        v_H = self.param("v", nn.initializers.normal(0.1), (H,))

        def offset(acc, j):  # position t attends to s[t - j], j = 1..K
            m, l, ctx = acc
            k_BxTxH = jax.lax.dynamic_slice_in_dim(keys_BxSxH, K - j, T, axis=1)
            s_j = jax.lax.dynamic_slice_in_dim(s_BxSxH, K - j, T, axis=1)
            ok_BxT = jax.lax.dynamic_slice_in_dim(valid_BxS, K - j, T, axis=1)
            score = jnp.tanh(k_BxTxH + query_BxTxH) @ v_H
            score = jnp.where(ok_BxT, score.astype(jnp.float32), -jnp.inf)
            m_new = jnp.maximum(m, score)
            scale = jnp.where(jnp.isfinite(m_new), jnp.exp(m - m_new), 0.0)
            p = jnp.where(ok_BxT, jnp.exp(score - m_new), 0.0)
            ctx = ctx * scale[..., None] + p[..., None] * s_j.astype(jnp.float32)
            return (m_new, l * scale + p, ctx), None

        init = (jnp.full((B, T), -jnp.inf), jnp.zeros((B, T)), jnp.zeros((B, T, H)))
        (_, l, ctx), _ = jax.lax.scan(offset, init, jnp.arange(1, K + 1))
        context_BxTxH = ctx / jnp.maximum(l, 1e-9)[..., None]
        out = nn.Dense(H, name="out")(jnp.concatenate(
            [y_BxTxH, context_BxTxH.astype(y_BxTxH.dtype)], axis=-1))
        return out, s_BxSxH[:, -K:].astype(jnp.float32), valid_BxS[:, -K:]


class LstmLM(nn.Module):
    """``(ids_BxT, carry) -> (logits_BxTxV float32, carry)``."""

    config: Config

    @nn.compact
    def __call__(self, ids_BxT, carry: Carry, train: bool = False):
        cfg = self.config
        dtype = jnp.dtype(cfg.dtype)
        H = cfg.hidden
        # One-hot input times W_ih is a lookup: the first layer's input projection is an embedding.
        xw = nn.Embed(cfg.vocab_size, 4 * H, name="input_projection")(ids_BxT).astype(dtype)
        y, new_lstm = lstm_stack(xw, carry["lstm"], cfg, dtype, train)
        new_carry = {"lstm": new_lstm, "hist": carry["hist"],
                     "hist_mask": carry["hist_mask"]}
        if cfg.attn_length:
            y, new_carry["hist"], new_carry["hist_mask"] = RecentAttention(
                cfg.attn_length, name="attention")(y, carry["hist"], carry["hist_mask"])
        logits = nn.Dense(cfg.vocab_size, dtype=dtype, name="logits")(y)
        return logits.astype(jnp.float32), new_carry

    def initial_carry(self, batch: int) -> Carry:
        return initial_carry(self.config, batch)

    @nn.nowrap
    def init_params(self, rng):
        ids = jnp.zeros((1, 8), jnp.int32)
        return self.init(rng, ids, self.initial_carry(1))["params"]

    @property
    def max_length(self) -> None:
        """No limit on the events a recurrent network continues to."""
        return None

Model = LstmLM
