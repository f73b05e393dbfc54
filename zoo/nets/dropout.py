"""Inverted dropout whose mask comes from a counter-based hash, for every network of the zoo.

Per call, one threefry draw from the module's ``dropout`` rng gives two 32-bit keys (k0, k1);
element i (flat, row-major index) of ``x`` gets the bits

    u_i = fmix32(fmix32(i ^ k0) ^ k1)        (fmix32: MurmurHash3's 32-bit finaliser)

and is kept when u_i >= round(rate * 2^32), scaled by 2^32 / (2^32 - that threshold) so the
expectation is x. fmix32 is a bijection of uint32 with full avalanche, so for one key pair the
bits of distinct elements are distinct and look independent, and a new key pair (every call,
every step: the engine folds the step into the rng) gives a fresh mask.

Why not ``jax.random.bernoulli``: threefry costs about 10 ns an element on a CPU core, which for
a small LSTM or Transformer step is a tenth of the step or more (melody_rnn/tiny: 5 ms of about
50); the hash is a dozen integer operations that fuse with the multiply (about 1 ns). The keys
still come from threefry, so runs stay reproducible from their seed.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def fmix32(h):
    """MurmurHash3's finaliser on uint32 arrays (a bijection; every input bit flips about half
    of the output bits)."""
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def hash_bits(key, shape) -> jax.Array:
    """uint32 bits of ``shape`` from one threefry draw of ``key`` and the elements' indices."""
    k = jax.random.bits(key, (2,), jnp.uint32)
    index = jnp.zeros(shape, jnp.uint32)
    stride = 1
    for axis in reversed(range(len(shape))):
        index = index + jax.lax.broadcasted_iota(jnp.uint32, shape, axis) * jnp.uint32(stride)
        stride = (stride * shape[axis]) % (1 << 32)
    return fmix32(fmix32(index ^ k[0]) ^ k[1])


def dropout(x, rate: float, key):
    """``x`` with each element zeroed with probability ``rate`` (rounded to 2^-32), the rest
    scaled to keep the expectation."""
    if rate >= 1.0:
        return jnp.zeros_like(x)
    threshold = min(round(rate * 2.0 ** 32), (1 << 32) - 1)
    if threshold == 0:
        return x
    keep = hash_bits(key, x.shape) >= jnp.uint32(threshold)
    scale = 2.0 ** 32 / (2.0 ** 32 - threshold)
    return jnp.where(keep, x * scale, 0).astype(x.dtype)


class Dropout(nn.Module):
    """``Dropout(rate)(x, deterministic)``: ``dropout`` with the module's ``dropout`` rng."""

    rate: float

    @nn.compact
    def __call__(self, x, deterministic: bool):
        if deterministic or self.rate == 0.0:
            return x
        return dropout(x, self.rate, self.make_rng("dropout"))
