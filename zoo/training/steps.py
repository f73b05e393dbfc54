"""Pure step functions, jitted by the train loop: the default gradient update on a task's loss,
and the one non-finite guard every update goes through.

``update(params, opt_state, batch, rng, step) -> (params, opt_state, metrics)`` is what a task
may bring instead of the default (``Task.make_update``); ``train_step(state, batch, rng) ->
(state, metrics)`` is what the engine runs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from zoo.training.state import TrainState


def all_finite(tree) -> jax.Array:
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) if leaves else True


def gradient_update(loss_fn, tx: optax.GradientTransformation, schedule):
    """One optimizer update of ``loss_fn(params, batch, rng, step=, train=True)``."""

    def update(params, opt_state, batch, rng, step):
        (loss, sums), grads = jax.value_and_grad(
            lambda p: loss_fn(p, batch, rng, step=step, train=True), has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        metrics = {**sums, "loss": loss, "grad_norm": optax.global_norm(grads),
                   "learning_rate": schedule(step)}
        return params, opt_state, metrics

    return update


def guarded_step(update):
    """``train_step(state, batch, rng)``: the update with this step's rng (``fold_in(rng,
    step)``), and a guard: when the new parameters, optimizer state or metrics hold a non-finite
    value, params and optimizer state stay as they were (the host then stops or goes on, by
    config), so no poisoned state is ever saved. ``metrics["finite"]`` says which happened."""

    def train_step(state: TrainState, batch, rng):
        step_rng = jax.random.fold_in(rng, state.step)
        params, opt_state, metrics = update(state.params, state.opt_state, batch, step_rng,
                                            state.step)
        finite = all_finite(metrics) & all_finite(params) & all_finite(opt_state)
        keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
        new_state = TrainState(step=state.step + 1, params=keep(params, state.params),
                               opt_state=keep(opt_state, state.opt_state))
        return new_state, {**metrics, "finite": finite}

    return train_step


def make_train_step(task, tx: optax.GradientTransformation, schedule):
    """The engine's step for ``task``: its own update (``task.make_update``) or the gradient
    update on its loss, behind the non-finite guard."""
    update = task.make_update(tx, schedule) or gradient_update(task.loss, tx, schedule)
    return guarded_step(update)


def make_eval_step(loss_fn):
    def eval_step(params, batch):
        _, sums = loss_fn(params, batch, jax.random.key(0), step=None, train=False)
        return sums

    return eval_step
