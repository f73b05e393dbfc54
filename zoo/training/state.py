"""The train state: one pytree holding everything a step changes."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
    step: jax.Array      # int32 scalar: optimizer updates done (also the next batch's index)
    params: Any
    opt_state: Any


def create_state(init_params, tx: optax.GradientTransformation, rng: jax.Array) -> TrainState:
    """``init_params(rng) -> params``; wrap them with a fresh optimizer state at step 0."""
    params = init_params(rng)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))
