"""Conditioned LSTM event language model: Magenta's Improv RNN (a melody that follows a chord per
step) and conditioned Performance RNN (events that follow note-density and pitch-class controls).

    ids_BxT, cond_BxTxC -> Embed(ids) + cond @ W_c     (the first layer's 4H input projection:
                                                         one-hot(event) ++ condition, times W_ih)
                        -> N stacked LSTM layers (``zoo.nets.lstm_lm.lstm_stack``), dropout
                        -> logits_BxTxV

Alignment (Magenta's ``ConditionalEventSequenceEncoderDecoder``): the condition read with input
``t`` is the condition of the event the network predicts there (target ``t``), so the melody at
step s is drawn knowing the chord at step s.

The condition schedule travels in the carry (``cond_BxSxC`` and the position ``pos`` reached), so
the same ``__call__(ids, carry)`` trains on whole windows and samples one token at a time inside
``zoo.nets.decoding.sample``: each call reads ``cond[:, pos:pos + T]`` and advances ``pos`` by T.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoo.nets.lstm_lm import lstm_stack

Carry = dict  # {"lstm": ((c_BxH, h_BxH), ...), "cond": cond_BxSxC float32, "pos": int32 ()}


@dataclasses.dataclass(frozen=True)
class Config:
    vocab_size: int = 40       # the codec's ids, set at build time
    event_vocab: int = 0       # ids read and predicted; 0 = vocab_size. Improv: the melody's 40
                               # (its codec packs melody and chord into one id per step)
    condition_size: int = 49   # C: width of the condition vector per step
    hidden: int = 64           # LSTM units per layer
    num_layers: int = 2
    dropout: float = 0.5       # drop rate on each layer's output (Magenta: keep prob 0.5)
    unroll: int = 1            # lax.scan unroll
    dtype: str = "float32"     # compute dtype; parameters stay float32

    @property
    def num_events(self) -> int:
        return self.event_vocab or self.vocab_size


def conditioned_carry(config: Config, cond_BxSxC) -> Carry:
    """Zero LSTM state, positioned at the start of the condition schedule ``cond_BxSxC``."""
    cond = jnp.asarray(cond_BxSxC, jnp.float32)
    zeros = jnp.zeros((cond.shape[0], config.hidden), jnp.float32)
    return {"lstm": tuple((zeros, zeros) for _ in range(config.num_layers)),
            "cond": cond, "pos": jnp.int32(0)}


class ConditionedLM(nn.Module):
    """``(ids_BxT, carry) -> (logits_BxTxV float32, carry)``; the carry holds the conditions."""

    config: Config

    @nn.compact
    def __call__(self, ids_BxT, carry: Carry, train: bool = False):
        cfg = self.config
        dtype = jnp.dtype(cfg.dtype)
        H, T = cfg.hidden, ids_BxT.shape[1]
        if carry["cond"].shape[1] < T:  # a schedule shorter than the inputs: zeros after it
            carry = {**carry, "cond": jnp.pad(carry["cond"],
                                              ((0, 0), (0, T - carry["cond"].shape[1]), (0, 0)))}
        cond_BxTxC = jax.lax.dynamic_slice_in_dim(carry["cond"], carry["pos"], T, axis=1)
        xw = nn.Embed(cfg.num_events, 4 * H, name="input_projection")(ids_BxT).astype(dtype)
        xw = xw + nn.Dense(4 * H, use_bias=False, dtype=dtype, name="condition_projection")(
            cond_BxTxC.astype(dtype))
        y, new_lstm = lstm_stack(xw, carry["lstm"], cfg, dtype, train)
        logits = nn.Dense(cfg.num_events, dtype=dtype, name="logits")(y)
        new_carry = {"lstm": new_lstm, "cond": carry["cond"], "pos": carry["pos"] + T}
        return logits.astype(jnp.float32), new_carry

    def carry_for(self, cond_BxSxC) -> Carry:
        """The start state for a condition schedule of S steps (at least the inputs to come)."""
        return conditioned_carry(self.config, cond_BxSxC)

    def initial_carry(self, batch: int) -> Carry:
        """No schedule: every step reads a zero condition (only for shapes and tests)."""
        return conditioned_carry(self.config, jnp.zeros((batch, 1, self.config.condition_size)))

    @nn.nowrap
    def init_params(self, rng):
        ids = jnp.zeros((1, 8), jnp.int32)
        carry = self.carry_for(jnp.zeros((1, 8, self.config.condition_size)))
        return self.init(rng, ids, carry)["params"]

    @property
    def max_length(self) -> None:
        """No limit on the events a recurrent network continues to."""
        return None


Model = ConditionedLM
