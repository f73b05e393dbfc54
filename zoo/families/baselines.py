"""Baselines for ``zoo eval``: what a model must beat to have learned anything.

- ``ngram_nll``: unigram and bigram event models, fitted on the train split with add-one
  smoothing and scored on exactly the events a language model is scored on: every token after the
  first of each ``[END] + ids + [END]``, in nats per event.
- ``key_frequency_baseline``: independent per-key Bernoullis for piano-roll frames.
"""

from __future__ import annotations

import numpy as np

from zoo.families.lm.batches import with_end_symbols


def _pairs(split) -> tuple[np.ndarray, np.ndarray]:
    seqs = [with_end_symbols(split[i]) for i in range(len(split))]
    if not seqs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    prev = np.concatenate([s[:-1] for s in seqs]).astype(np.int64)
    nxt = np.concatenate([s[1:] for s in seqs]).astype(np.int64)
    return prev, nxt


def ngram_nll(train_split, eval_split, vocab_size: int, alpha: float = 1.0) -> dict[str, float]:
    """{"unigram": nats/event, "bigram": nats/event, "events": n} on ``eval_split``."""
    tr_prev, tr_next = _pairs(train_split)
    ev_prev, ev_next = _pairs(eval_split)
    uni = np.bincount(tr_next, minlength=vocab_size) + alpha
    uni_logp = np.log(uni / uni.sum())
    bi = np.full((vocab_size, vocab_size), alpha)
    np.add.at(bi, (tr_prev, tr_next), 1.0)
    bi_logp = np.log(bi / bi.sum(axis=1, keepdims=True))
    n = max(len(ev_next), 1)
    return {"unigram": float(-uni_logp[ev_next].sum() / n),
            "bigram": float(-bi_logp[ev_prev, ev_next].sum() / n), "events": len(ev_next)}


def key_frequency_baseline(train, split) -> dict[str, float]:
    """NLL per frame (nats) and expected accuracy of ``split`` under independent per-key
    Bernoullis fitted on ``train`` (add-one smoothing): the model that has learned nothing
    temporal (about 11 nats on the 2012 sets). ``train``, ``split``: sequences of (T, P) frames."""
    ons, frames = 0.0, 0
    for i in range(len(train)):
        ons = ons + np.asarray(train[i], np.float64).sum(axis=0)
        frames += len(train[i])
    p_on = (ons + 1.0) / (frames + 2.0)
    nll, tp, fp, fn, count = 0.0, 0.0, 0.0, 0.0, 0
    for i in range(len(split)):
        v = np.asarray(split[i], np.float64)
        nll -= float(np.sum(v * np.log(p_on) + (1 - v) * np.log1p(-p_on)))
        tp, fp, fn = tp + np.sum(v * p_on), fp + np.sum((1 - v) * p_on), fn + np.sum(v * (1 - p_on))
        count += len(v)
    return {"nll": nll / max(count, 1), "accuracy": float(tp / max(tp + fp + fn, 1e-9)),
            "frames": count}
