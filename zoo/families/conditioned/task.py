"""The conditioned event-model family: the LM family's next-event NLL, windows and sampler, with a
condition vector per step read by ``zoo.nets.conditioned_lm`` (Magenta's
``ConditionalEventSequenceEncoderDecoder`` models: Improv RNN, conditioned Performance RNN).

A subclass says what the condition is:

- ``track(ids, rng) -> (events (L,), cond (L, C))``: a prepared piece as the network's ids
  (``[END] + events + [END]``) and the condition of each position (the batch schema:
  ``families/conditioned/batches.py``);
- ``schedule(prefix_ids, steps, **conditions) -> (primer (P,), cond (P - 1 + steps, C), extra)``:
  what a sample starts from and the condition of each of its steps (primer steps first), from a
  user's arguments (chords, density, histogram);
- ``piece(events, extra) -> NoteSequence``: a sampled row back to music.

Metrics are the LM family's sums (``nll_sum``, ``correct_sum``, ``count``); baselines are the
unigram and bigram models of the event ids the network predicts.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from zoo.codecs import END, PAD
from zoo.data.batcher import Augment, Batcher
from zoo.errors import ZooError
from zoo.families.baselines import ngram_nll
from zoo.families.conditioned import batches
from zoo.families.lm.task import LanguageModelTask, token_sums
from zoo.nets.decoding import sample


class _Events:
    """A split seen through ``task.track``: the event ids of each piece, for the baselines."""

    def __init__(self, task, split):
        self.task, self.split = task, split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.task.track(np.asarray(self.split[i]), None)[0][1:-1]


class ConditionedTask(LanguageModelTask):
    """Next-event prediction given a condition per step; see the module docstring."""

    stop_at_end = True          # sampled rows stop at END (False: every row runs ``steps``)
    condition_names: tuple[str, ...] = ()   # keyword arguments ``generate`` takes

    def __init__(self, net, codec, train, config=None):
        super().__init__(net, codec, train, config)
        self.check_network()

    @property
    def condition_size(self) -> int:
        raise NotImplementedError

    def check_network(self) -> None:
        """The network's condition width and event vocabulary must be this task's."""
        cfg = self.model.config
        if cfg.condition_size != self.condition_size:
            raise ZooError(f"the network reads conditions of width {cfg.condition_size} but "
                           f"this task gives {self.condition_size}: set "
                           f"model.condition_size={self.condition_size}")

    # ---- subclass hooks
    def track(self, ids: np.ndarray, rng: np.random.Generator | None):
        raise NotImplementedError

    def schedule(self, prefix_ids: np.ndarray, steps: int, **conditions):
        raise NotImplementedError

    def piece(self, events: np.ndarray, extra):
        raise NotImplementedError

    # ---- the contract
    def loss(self, params, batch, rng, *, step=None, train: bool = False):
        carry = self.model.carry_for(batch["cond"])
        logits, _ = self.model.apply({"params": params}, batch["inputs"], carry, train,
                                     rngs={"dropout": rng})
        sums = token_sums(logits, batch["targets"], batch["mask"])
        return sums["nll_sum"] / jnp.maximum(sums["count"], 1.0), sums

    def train_batches(self, split, process_index: int, process_count: int) -> Batcher:
        c = self.cfg
        return batches.train_batches(split, self.codec, self.track, c.batch_size, c.seq_len,
                                     c.seed, Augment(c.transpose, c.stretch), process_index,
                                     process_count)

    def eval_batches(self, split, batch_size: int, max_pieces: int | None = None,
                     track=None) -> list[dict[str, np.ndarray]]:
        return batches.eval_batches(split, track or self.track, self.cfg.seq_len, batch_size,
                                    self.condition_size, max_pieces)

    def baselines(self, train, split) -> dict[str, float]:
        base = ngram_nll(_Events(self, train), _Events(self, split), self.model.config.num_events)
        return {"unigram_nll": base["unigram"], "bigram_nll": base["bigram"]}

    def nll(self, params, split, track) -> float:
        """NLL per event of ``split`` with the conditions ``track`` gives (e.g. shuffled)."""
        loss = jax.jit(lambda p, b: self.loss(p, b, jax.random.key(0))[1])
        total = count = 0.0
        for b in self.eval_batches(split, self.cfg.batch_size, track=track):
            s = jax.device_get(loss(params, {k: v for k, v in b.items() if k != "row"}))
            total, count = total + float(s["nll_sum"]), count + float(s["count"])
        return total / max(count, 1.0)

    def sample_events(self, params, primer_BxP, cond_BxSxC, steps: int, rng, *,
                      temperature=1.0, top_k=0, top_p=1.0) -> np.ndarray:
        """int32 (B, steps): events continuing ``primer_BxP`` under the schedule ``cond_BxSxC``
        (S >= P - 1 + steps: the condition of each step after the start symbol)."""
        ids = sample(self.model, params, jnp.asarray(primer_BxP, jnp.int32), rng,
                     num_steps=steps, end_id=END, pad_id=PAD, temperature=temperature,
                     top_k=top_k, top_p=top_p, stop_at_end=self.stop_at_end,
                     carry=self.model.carry_for(jnp.asarray(cond_BxSxC, jnp.float32)))
        return np.asarray(jax.device_get(ids))

    def generate(self, params, num: int, steps: int, prefix_ids, rng, *, temperature=1.0,
                 top_k=0, top_p=1.0, **conditions) -> list:
        """``num`` pieces continuing ``prefix_ids`` (END first) by up to ``steps`` events under
        the conditions given (see ``condition_names``; each has a default)."""
        unknown = sorted(set(conditions) - set(self.condition_names))
        if unknown:
            raise ZooError(f"this model takes the conditions {', '.join(self.condition_names)}, "
                           f"not {', '.join(unknown)}")
        if steps < 1:
            raise ZooError(f"steps must be at least 1, not {steps}")
        primer, cond, extra = self.schedule(np.asarray(prefix_ids, np.int32), steps,
                                            **{k: v for k, v in conditions.items()
                                               if v is not None})
        rows = self.sample_events(params, np.tile(primer, (num, 1)),
                                  np.tile(cond[None], (num, 1, 1)), steps, rng,
                                  temperature=temperature, top_k=top_k, top_p=top_p)
        return [self.piece(np.concatenate([primer[1:], row]), extra) for row in rows]
