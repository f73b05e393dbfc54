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
from zoo.errors import ZooError
from zoo.sampling.autoregressive import sample
from zoo.training.config import TrainConfig
from zoo.training.ngram_baselines import ngram_nll


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
    """Binds a flax model to the engine: parameter init, loss, the data it reads, sampling and
    the evaluation report.

    What the engine calls on any task: ``init_params(rng)``, ``loss(params, batch, rng, train)
    -> (loss, sums)``, ``train_batches(split, process_index, process_count)`` (an object with
    ``iterate(start)``), ``eval_batches(split, batch_size, max_pieces)``, ``summarize(sums)``,
    ``generate(params, num, steps, prefix_ids, rng, **sampling) -> [NoteSequence]`` and
    ``report(trainer, state, splits) -> dict``. A family whose step is not one loss (the GAN)
    may also define ``make_train_step(tx, schedule)`` and ``make_optimizer(cfg)``.
    """

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

    def eval_batches(self, split, batch_size: int, max_pieces: int | None = None
                     ) -> list[dict[str, np.ndarray]]:
        return eval_batches(split, self.cfg.seq_len, batch_size, max_pieces)

    summarize = staticmethod(summarize)

    def generate(self, params, num: int, steps: int, prefix_ids, rng, *, temperature=1.0,
                 top_k=0, top_p=1.0) -> list:
        """``num`` pieces continuing ``prefix_ids`` (END first) by up to ``steps`` events."""
        limit = getattr(self.model, "max_length", None)  # e.g. absolute positions' table size
        if limit is not None and len(prefix_ids) + steps > limit:
            raise ZooError(f"this model holds at most {limit} events: the primer takes "
                           f"{len(prefix_ids)}, so ask for at most "
                           f"{max(limit - len(prefix_ids), 0)} steps")
        primer_BxP = jnp.asarray(np.tile(np.asarray(prefix_ids, np.int32), (num, 1)))
        ids = sample(self.model, params, primer_BxP, rng, num_steps=steps,
                     temperature=temperature, top_k=top_k, top_p=top_p)
        ids = np.asarray(jax.device_get(ids))
        return [self.codec.decode(np.concatenate([prefix_ids[1:], row])) for row in ids]

    def report(self, trainer, state, splits) -> dict:
        """NLL per event on whole splits beside unigram and bigram baselines of the same data."""
        data = trainer.built.data
        rows = {}
        for split in splits:
            if len(data.split(split)) == 0:
                continue
            m = trainer.evaluate(state.params, split, whole=True)
            base = ngram_nll(data.split("train"), data.split(split), data.codec.vocab_size)
            rows[split] = {**m, "unigram_nll": base["unigram"], "bigram_nll": base["bigram"]}
        lines = [f"{'split':<6} {'events':>8} {'NLL/event':>10} {'accuracy':>9} "
                 f"{'perplexity':>10} {'unigram':>8} {'bigram':>8}"]
        for split, m in rows.items():
            lines.append(f"{split:<6} {m['events']:>8} {m['nll']:>10.4f} {m['accuracy']:>9.3f} "
                         f"{m['perplexity']:>10.2f} {m['unigram_nll']:>8.4f} "
                         f"{m['bigram_nll']:>8.4f}")
        return {"splits": rows, "table": lines}
