"""Pure step functions ``(state, batch, rng) -> (state, metrics)``, jitted by the train loop.

A task supplies ``loss(params, batch, rng, train) -> (loss, sums)``, where ``sums`` holds metric
sums plus their counts over the global batch (so padded rows average exactly).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from zoo.training.state import TrainState


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def make_train_step(loss_fn, tx: optax.GradientTransformation, schedule):
    """One optimizer update. A non-finite loss or gradient leaves params and optimizer state as
    they were (the host then stops or goes on, by config), so no poisoned state is ever saved."""

    def train_step(state: TrainState, batch, rng):
        step_rng = jax.random.fold_in(rng, state.step)
        (loss, sums), grads = jax.value_and_grad(
            lambda p: loss_fn(p, batch, step_rng, True), has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        finite = jnp.isfinite(loss) & _all_finite(grads)
        keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
        new_state = TrainState(step=state.step + 1, params=keep(params, state.params),
                               opt_state=keep(opt_state, state.opt_state))
        metrics = {**sums, "loss": loss, "grad_norm": optax.global_norm(grads),
                   "finite": finite, "learning_rate": schedule(state.step)}
        return new_state, metrics

    return train_step


def make_eval_step(loss_fn):
    def eval_step(params, batch):
        _, sums = loss_fn(params, batch, jax.random.key(0), False)
        return sums

    return eval_step
