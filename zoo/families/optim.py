"""The optax chain every family trains with, set from TrainConfig."""

from __future__ import annotations

import optax

from zoo.config import TrainConfig
from zoo.errors import ZooError


def make_schedule(cfg: TrainConfig) -> optax.Schedule:
    """Linear warmup to ``learning_rate``, then constant, cosine to ``min_learning_rate`` at
    ``steps``, or exponential decay by ``decay_rate`` per step floored at ``min_learning_rate``."""
    peak, floor = cfg.learning_rate, min(cfg.min_learning_rate, cfg.learning_rate)
    decay_steps = max(cfg.steps - cfg.warmup_steps, 1)
    if cfg.decay == "constant":
        after = optax.constant_schedule(peak)
    elif cfg.decay == "cosine":
        after = optax.cosine_decay_schedule(peak, decay_steps, alpha=floor / peak)
    elif cfg.decay == "exponential":
        after = optax.exponential_decay(peak, 1, cfg.decay_rate, end_value=floor)
    else:
        raise ZooError(f"unknown decay '{cfg.decay}'; use constant, cosine or exponential")
    if cfg.warmup_steps <= 0:
        return after
    warmup = optax.linear_schedule(0.0, peak, cfg.warmup_steps)
    return optax.join_schedules([warmup, after], [cfg.warmup_steps])


def make_optimizer(cfg: TrainConfig) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """Adam (AdamW when ``weight_decay`` > 0) after global-norm clipping at ``clip_norm``."""
    schedule = make_schedule(cfg)
    parts = [optax.clip_by_global_norm(cfg.clip_norm)] if cfg.clip_norm > 0 else []
    if cfg.weight_decay > 0:
        parts.append(optax.adamw(schedule, weight_decay=cfg.weight_decay))
    else:
        parts.append(optax.adam(schedule))
    return optax.chain(*parts), schedule
