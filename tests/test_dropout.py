"""zoo.nets.dropout: the hashed mask drops at the asked rate, independently over elements and
calls, keeps the expectation, and is a pure function of the rng key."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo.nets.dropout import Dropout, dropout, fmix32, hash_bits


def test_fmix32_is_a_bijection_on_a_block():
    x = jnp.arange(1 << 16, dtype=jnp.uint32) * jnp.uint32(65_537)
    assert len(np.unique(np.asarray(fmix32(x)))) == 1 << 16


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_rate_independence_and_expectation(rate):
    x = jnp.ones((64, 96, 32))
    a = np.asarray(dropout(x, rate, jax.random.key(1)))
    b = np.asarray(dropout(x, rate, jax.random.key(2)))
    n = a.size
    dropped = a == 0
    assert abs(dropped.mean() - rate) < 4 * np.sqrt(rate * (1 - rate) / n)
    assert np.allclose(a[~dropped], 1 / (1 - rate), rtol=1e-6)
    assert abs(a.mean() - 1.0) < 4 * np.sqrt(rate / (1 - rate) / n)
    # neighbours along every axis, and two keys, are uncorrelated
    limit = 4 / np.sqrt(n / 2)
    for axis in range(3):
        d = np.moveaxis(dropped, axis, 0)
        even, odd = d[0::2], d[1::2]  # element 2k beside element 2k + 1 along the axis
        assert abs(np.corrcoef(even.ravel(), odd.ravel())[0, 1]) < limit
    assert abs(np.corrcoef(dropped.ravel(), (b == 0).ravel())[0, 1]) < 4 / np.sqrt(n)


def test_same_key_same_mask_and_bits_are_uniform():
    key = jax.random.key(7)
    assert np.array_equal(hash_bits(key, (5, 7)), hash_bits(key, (5, 7)))
    bits = np.asarray(hash_bits(key, (1 << 16,))).view(np.uint8)
    ones = np.unpackbits(bits).reshape(-1, 32).mean(axis=0)
    assert np.all(np.abs(ones - 0.5) < 0.02), ones


def test_module_edges_and_gradient():
    x = jnp.arange(1.0, 13.0).reshape(3, 4)
    rngs = {"dropout": jax.random.key(0)}
    assert np.array_equal(Dropout(0.5).apply({}, x, True, rngs=rngs), x)     # deterministic
    assert np.array_equal(Dropout(0.0).apply({}, x, False, rngs=rngs), x)
    assert not np.any(Dropout(1.0).apply({}, x, False, rngs=rngs))
    y = Dropout(0.5).apply({}, x, False, rngs=rngs)
    g = jax.grad(lambda x: jnp.sum(Dropout(0.5).apply({}, x, False, rngs=rngs)))(x)
    assert np.array_equal(np.asarray(g) != 0, np.asarray(y) != 0)
    assert np.allclose(np.asarray(g)[np.asarray(g) != 0], 2.0)
