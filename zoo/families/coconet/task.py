"""The Coconet task: an orderless NADE over voice rolls (``zoo.nets.coconet``), its loss,
evaluation, and the three ways of sampling it: unconditionally, harmonising a melody and
filling in erased bars, all by blocked Gibbs sampling inside jit.

Loss (Magenta's ``compute_loss`` with ``rescale_loss`` and the loss on the erased cells only):
for piece b with D_b = steps x V cells of which the set M_b (k_b = |M_b| >= 1) is erased,

    loss = sum_b (D_b / k_b) sum_{(t,v) in M_b} -log p(x_tv | x_not M_b)  /  sum_b D_b

With k ~ U{1..D} and M uniform given k, (D / k) sum_M -log p is an unbiased estimate of the
NLL of the piece under a random ordering of its cells (Uria et al. 2014), so the loss estimates
the orderless NADE's expected NLL per cell. Metrics (sums plus counts):

- ``nll``: nats per sixteenth-note frame of V voices = the summed estimate / frames, the
  frame-wise NLL of the piece under a random cell ordering, averaged over orderings (an upper
  bound on the NLL of the ensemble over orderings, in expectation);
- ``cell_nll``: the same per cell (``nll`` / V); ``erased_nll`` and ``accuracy``: the
  plain mean NLL and argmax accuracy on the erased cells (no rescaling).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from note_seq.protobuf import music_pb2

from zoo.config import TrainConfig
from zoo.errors import ZooError
from zoo.families.coconet import batches
from zoo.families.coconet.config import Config
from zoo.families.coconet.pieces import parse_bars, read_piece, write_piece
from zoo.families.task import Column, Task
from zoo.nets.coconet import cell_nll, gibbs_sample


def coconet_sums(logits_BxTxVxC, rolls_BxTxV, erased_BxTxV, steps_BxT) -> dict:
    """The loss's sums over a batch (see the module docstring)."""
    nll = cell_nll(logits_BxTxVxC, rolls_BxTxV)
    V = rolls_BxTxV.shape[-1]
    erased = erased_BxTxV * steps_BxT[..., None]
    cells_B = jnp.sum(steps_BxT, axis=1) * V
    k_B = jnp.sum(erased, axis=(1, 2))
    scale_B = jnp.where(k_B > 0, cells_B / jnp.maximum(k_B, 1.0), 0.0)
    erased_sum_B = jnp.sum(erased * nll, axis=(1, 2))
    hit = (jnp.argmax(logits_BxTxVxC, axis=-1) == rolls_BxTxV).astype(jnp.float32)
    return {"nll_sum": jnp.sum(scale_B * erased_sum_B), "cells": jnp.sum(cells_B),
            "frames": jnp.sum(steps_BxT), "erased_nll_sum": jnp.sum(erased_sum_B),
            "erased_hits": jnp.sum(erased * hit), "erased": jnp.sum(k_B)}


@functools.partial(jax.jit, static_argnums=0)
def _logits(model, params, rolls_BxTxV, known_BxTxV):
    return model.apply({"params": params}, rolls_BxTxV, known_BxTxV)


class CoconetTask(Task):
    """Binds a Coconet network to the multitrack codec's chorales (see the module docstring)."""

    eval_metrics = ("nll", "cell_nll")
    report_columns = (Column("frames", "scored", "d", 7),
                      Column("nll", "NLL/frame", ".4f", 10),
                      Column("cell_nll", "NLL/cell", ".4f", 9),
                      Column("accuracy", "acc.", ".4f", 7),
                      Column("unigram_nll", "unigram/frame", ".4f", 13))
    report_info = {"metric": "orderless-nade-frame-nll"}

    def __init__(self, model, codec, train_cfg: TrainConfig, config: Config | None = None):
        if getattr(codec, "kind", None) != "frames" or not hasattr(codec, "tracks"):
            raise ZooError("coconet reads voice rolls; prepare the data with `--codec multitrack`")
        super().__init__(model, codec, train_cfg, config)
        self.net = model.config
        if codec.tracks != self.net.voices:
            raise ZooError(f"the data has {codec.tracks} tracks but the model has "
                           f"{self.net.voices} voices")
        self.grid = batches.RollGrid(codec, self.config.lowest_pitch, self.net.pitches)
        self.report_notes = (
            f"NLL/frame: nats per sixteenth of {self.net.voices} voices, the orderless-NADE "
            f"estimate ({self.config.eval_draws} random masks per piece, k ~ U{{1..D}}; scored: "
            f"frames x {self.config.eval_draws}); unigram: each voice's class frequencies in "
            f"train",)

    @staticmethod
    def default_config() -> Config:
        return Config()

    # ---- objective
    def loss(self, params, batch, rng, *, step=None, train: bool = False):
        rolls = batch["inputs"]
        known = 1.0 - batch["erased"]
        logits = self.model.apply({"params": params}, rolls, known)
        sums = coconet_sums(logits, rolls, batch["erased"], batch["mask"])
        return sums["nll_sum"] / jnp.maximum(sums["cells"], 1.0), sums

    def summarize(self, sums: dict) -> dict[str, float]:
        frames = max(float(sums["frames"]), 1.0)
        erased = max(float(sums["erased"]), 1.0)
        return {"nll": float(sums["nll_sum"]) / frames,
                "cell_nll": float(sums["nll_sum"]) / max(float(sums["cells"]), 1.0),
                "erased_nll": float(sums["erased_nll_sum"]) / erased,
                "accuracy": float(sums["erased_hits"]) / erased,
                "frames": int(sums["frames"])}

    # ---- data
    def train_batches(self, split, process_index: int, process_count: int):
        c = self.cfg
        return batches.train_batches(split, self.grid, c.batch_size, c.seq_len, c.seed,
                                     c.transpose, process_index, process_count)

    def eval_batches(self, split, batch_size: int, max_pieces: int | None = None):
        return batches.eval_batches(split, self.grid, batch_size, self.config.eval_draws,
                                    max_pieces)

    def baselines(self, train, split) -> dict[str, float]:
        """NLL per frame of each voice's class frequencies in train (add-one smoothed)."""
        C, V = self.net.classes, self.net.voices
        counts = np.ones((V, C))
        for rolls in batches.split_rolls(train, self.grid):
            for v in range(V):
                counts[v] += np.bincount(rolls[:, v], minlength=C)
        logp = np.log(counts / counts.sum(axis=1, keepdims=True))
        total, frames = 0.0, 0
        for rolls in batches.split_rolls(split, self.grid):
            total -= sum(logp[v, rolls[:, v]].sum() for v in range(V))
            frames += len(rolls)
        return {"unigram_nll": total / max(frames, 1)}

    def chain_rule_nll(self, params, rolls_TxV: np.ndarray, rng: np.random.Generator, *,
                       chronological: bool = False, within: str = "truth", chunk: int = 32
                       ) -> np.ndarray:
        """-log p of each frame of one piece by the chain rule over one ordering (Magenta's
        ``FrameEvaluator``): frames in a random order (or in time order), the V voices of a
        frame in a random order; frame k of the order is predicted given the frames before it
        in the order, whole and true, and the voices of its own frame already predicted: true
        ones (``within="truth"``: an exact log-likelihood of the model under this ordering) or
        the model's argmax guesses (``within="argmax"``, as Magenta's evaluator does).
        Returns (T,) nats; their mean is the piece's NLL per frame. Costs V network passes over
        T copies of the piece (in batches of ``chunk``)."""
        if within not in ("truth", "argmax"):
            raise ZooError(f"within must be truth or argmax, not {within}")
        rolls = np.asarray(rolls_TxV, np.int32)
        T, V = rolls.shape
        order = np.arange(T) if chronological else rng.permutation(T)
        voice_order = np.argsort(rng.random((T, V)), axis=1)          # per frame
        rank = np.empty(T, np.int64)
        rank[order] = np.arange(T)
        nll = np.zeros(T)
        for c0 in range(0, T, chunk):
            ks = np.arange(c0, min(c0 + chunk, T))
            frames = order[ks]                                           # predicted frame
            known = np.repeat((rank[None, :] < ks[:, None])[:, :, None], V, axis=2)
            known = known.astype(np.float32)                             # (n, T, V)
            xs = np.repeat(rolls[None], len(ks), axis=0)
            rows = np.arange(len(ks))
            for j in range(V):
                voices = voice_order[frames, j]
                logits = np.asarray(_logits(self.model, params, xs, known))[rows, frames, voices]  # (n, C)
                logp = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
                nll[frames] -= logp[rows, rolls[frames, voices]]
                if within == "argmax":
                    xs[rows, frames, voices] = np.argmax(logits, axis=-1)
                known[rows, frames, voices] = 1.0
        return nll

    # ---- sampling
    def gibbs(self, params, rolls_BxTxV, given_BxTxV, rng, steps: int | None = None,
              temperature: float | None = None) -> np.ndarray:
        """Blocked Gibbs (``zoo.nets.coconet.gibbs_sample``) with the task's schedule."""
        c = self.config
        out = gibbs_sample(self.model, params, jnp.asarray(rolls_BxTxV, jnp.int32),
                           jnp.asarray(given_BxTxV, jnp.float32), rng,
                           steps=c.gibbs_steps if steps is None else int(steps),
                           temperature=c.temperature if temperature is None else temperature,
                           pmin=c.pmin, pmax=c.pmax, alpha=c.alpha)
        return np.asarray(out)

    def _to_sequence(self, rolls_TxV: np.ndarray) -> music_pb2.NoteSequence:
        return self.codec.decode(self.grid.frames(rolls_TxV))

    def generate(self, params, num: int, steps: int, prefix, rng, *, temperature=1.0, top_k=0,
                 top_p=1.0) -> list:
        """``num`` pieces of ``steps`` sixteenths, every voice drawn by Gibbs sampling; a frame
        primer (the codec's frames) is kept exactly as the pieces' first steps. ``temperature``
        1.0 means the task's own (Magenta's 0.99)."""
        V, P = self.net.voices, self.net.pitches
        rolls = np.full((num, steps, V), P, np.int32)
        given = np.zeros((num, steps, V), np.float32)
        if np.ndim(prefix) == 2 and len(prefix):
            primer = self.grid.rolls(prefix)[:steps]
            rolls[:, :len(primer)] = primer
            given[:, :len(primer)] = 1.0
        temp = None if temperature == 1.0 else float(temperature)
        out = self.gibbs(params, rolls, given, rng, temperature=temp)
        return [self._to_sequence(r) for r in out]

    def harmonize(self, params, ns: music_pb2.NoteSequence, rng, *, num: int = 1,
                  source: str = "the melody", temperature: float | None = None,
                  steps: int | None = None) -> list:
        """Alto, tenor and bass for the melody (the piece's highest voice by mean pitch; its
        other voices are ignored): ``num`` NoteSequences, each holding the melody's notes as
        they were (instrument 0) and the generated voices (instruments 1..V-1)."""
        from zoo.codecs.base import notes_by_voice

        lowest, P = self.config.lowest_pitch, self.net.pitches
        voices = [[n for n in v if not n.is_drum] for v in notes_by_voice(ns).values()]
        voices = [v for v in voices if v]
        if not voices:
            raise ZooError(f"{source}: no pitched notes")
        melody = max(voices, key=lambda v: np.mean([n.pitch for n in v]))
        only = music_pb2.NoteSequence()
        only.CopyFrom(ns)
        del only.notes[:]
        for n in melody:
            only.notes.add().CopyFrom(n)
            only.notes[-1].part, only.notes[-1].instrument = 0, 0
        piece = read_piece(only, self.net.voices, lowest, P, source, max_voices=1)
        given = np.zeros((num, *piece.rolls.shape), np.float32)
        given[:, :, 0] = 1.0
        rolls = np.repeat(piece.rolls[None], num, axis=0)
        out = self.gibbs(params, rolls, given, rng, steps, temperature)
        return [write_piece(piece, r, [0], None, lowest, P) for r in out]

    def infill(self, params, ns: music_pb2.NoteSequence, bars: str, rng, *, num: int = 1,
               source: str = "the piece", temperature: float | None = None,
               steps: int | None = None) -> list:
        """Every voice of ``bars`` ("3-4": bars from 1 at the piece's start, inclusive) erased
        and drawn again given the rest of the piece, which is kept note for note."""
        lowest, P = self.config.lowest_pitch, self.net.pitches
        piece = read_piece(ns, self.net.voices, lowest, P, source)
        t0, t1 = parse_bars(bars, piece)
        given = np.ones((num, *piece.rolls.shape), np.float32)
        given[:, t0:t1] = 0.0
        rolls = np.repeat(piece.rolls[None], num, axis=0)
        out = self.gibbs(params, rolls, given, rng, steps, temperature)
        return [write_piece(piece, r, [], (t0, t1), lowest, P) for r in out]
