"""The language-model family: next-event prediction for any network with the interface
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

from zoo.codecs import END, PAD
from zoo.data.batcher import Augment, Batcher
from zoo.errors import ZooError
from zoo.families.baselines import ngram_nll
from zoo.families.lm import batches
from zoo.families.task import Column, Task
from zoo.nets.decoding import sample


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


class LanguageModelTask(Task):
    """Binds an event network (LSTM, Transformer) to the engine: next-event NLL, random windows of
    pieces, sampling inside jit, and unigram and bigram baselines of the same data."""

    report_columns = (Column("events", "events", "d", 8), Column("nll", "NLL/event", ".4f", 10),
                      Column("accuracy", "accuracy", ".3f", 9),
                      Column("perplexity", "perplexity", ".2f", 10),
                      Column("unigram_nll", "unigram", ".4f", 8),
                      Column("bigram_nll", "bigram", ".4f", 8))

    def loss(self, params, batch, rng, *, step=None, train: bool = False):
        B = batch["inputs"].shape[0]
        logits, _ = self.model.apply({"params": params}, batch["inputs"],
                                     self.model.initial_carry(B), train, rngs={"dropout": rng})
        sums = token_sums(logits, batch["targets"], batch["mask"])
        return sums["nll_sum"] / jnp.maximum(sums["count"], 1.0), sums

    def summarize(self, sums: dict) -> dict[str, float]:
        return summarize(sums)

    def train_batches(self, split, process_index: int, process_count: int) -> Batcher:
        c = self.cfg
        return batches.train_batches(split, self.codec, c.batch_size, c.seq_len, c.seed,
                                     Augment(c.transpose, c.stretch), process_index,
                                     process_count)

    def eval_batches(self, split, batch_size: int, max_pieces: int | None = None
                     ) -> list[dict[str, np.ndarray]]:
        return batches.eval_batches(split, self.cfg.seq_len, batch_size, max_pieces)

    def baselines(self, train, split) -> dict[str, float]:
        base = ngram_nll(train, split, self.codec.vocab_size)
        return {"unigram_nll": base["unigram"], "bigram_nll": base["bigram"]}

    def generate(self, params, num: int, steps: int, prefix_ids, rng, *, temperature=1.0,
                 top_k=0, top_p=1.0) -> list:
        """``num`` pieces continuing ``prefix_ids`` (END first) by up to ``steps`` events."""
        limit = self.model.max_length  # e.g. absolute positions' table size; None: unbounded
        if limit is not None and len(prefix_ids) + steps > limit:
            raise ZooError(f"this model holds at most {limit} events: the primer takes "
                           f"{len(prefix_ids)}, so ask for at most "
                           f"{max(limit - len(prefix_ids), 0)} steps")
        primer_BxP = jnp.asarray(np.tile(np.asarray(prefix_ids, np.int32), (num, 1)))
        ids = sample(self.model, params, primer_BxP, rng, num_steps=steps, end_id=END,
                     pad_id=PAD, temperature=temperature, top_k=top_k, top_p=top_p)
        ids = np.asarray(jax.device_get(ids))
        return [self.codec.decode(np.concatenate([prefix_ids[1:], row])) for row in ids]
