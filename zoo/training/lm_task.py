"""The language-model task: next-event prediction for any model with the interface
``model.apply(params, ids_BxT, carry, train) -> (logits_BxTxV, carry)`` and
``model.initial_carry(B)`` (the LSTM event models and the Music Transformer).

Metrics travel as sums plus a count: ``nll_sum`` (nats), ``correct_sum`` and ``count`` (scored
tokens, PAD targets excluded). NLL per event = nll_sum / count; perplexity = exp of that.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from zoo.data.batches import Augment, TrainBatches, eval_batches
from zoo.training.config import TrainConfig


def token_sums(logits_BxTxV, targets_BxT, mask_BxT) -> dict[str, jax.Array]:
    logp = jax.nn.log_softmax(logits_BxTxV.astype(jnp.float32))
    nll_BxT = -jnp.take_along_axis(logp, targets_BxT[..., None], axis=-1)[..., 0]
    correct_BxT = (jnp.argmax(logits_BxTxV, -1) == targets_BxT).astype(jnp.float32)
    return {"nll_sum": jnp.sum(nll_BxT * mask_BxT), "correct_sum": jnp.sum(correct_BxT * mask_BxT),
            "count": jnp.sum(mask_BxT)}


def summarize(sums: dict) -> dict[str, float]:
    """Metric sums (added over batches and steps) -> means."""
    count = max(float(sums["count"]), 1.0)
    nll = float(sums["nll_sum"]) / count
    return {"nll": nll, "accuracy": float(sums["correct_sum"]) / count,
            "perplexity": math.exp(min(nll, 50.0)), "events": int(sums["count"])}


class LanguageModelTask:
    """Binds a flax model to the engine: parameter init, loss, and the data it reads."""

    def __init__(self, model, codec, train_cfg: TrainConfig):
        self.model, self.codec, self.cfg = model, codec, train_cfg

    def init_params(self, rng):
        ids = jnp.zeros((1, 8), jnp.int32)
        return self.model.init(rng, ids, self.model.initial_carry(1))["params"]

    def loss(self, params, batch, rng, train: bool):
        B = batch["inputs"].shape[0]
        logits, _ = self.model.apply({"params": params}, batch["inputs"],
                                     self.model.initial_carry(B), train, rngs={"dropout": rng})
        sums = token_sums(logits, batch["targets"], batch["mask"])
        return sums["nll_sum"] / jnp.maximum(sums["count"], 1.0), sums

    def train_batches(self, split, process_index: int, process_count: int) -> TrainBatches:
        c = self.cfg
        return TrainBatches(split, self.codec, c.batch_size, c.seq_len, c.seed,
                            Augment(c.transpose, c.stretch), process_index, process_count)

    def eval_batches(self, split, batch_size: int) -> list[dict[str, np.ndarray]]:
        return eval_batches(split, self.cfg.seq_len, batch_size, self.cfg.eval_max_pieces)

    summarize = staticmethod(summarize)
