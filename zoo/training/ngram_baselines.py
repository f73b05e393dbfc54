"""Unigram and bigram baselines for ``zoo eval``: what a model must beat to have learned anything.

Both are fitted on the train split with add-one smoothing and scored on exactly the events the
model is scored on: every token after the first of each ``[END] + ids + [END]``, in nats per event.
"""

from __future__ import annotations

import numpy as np

from zoo.data.batches import with_end_symbols


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
