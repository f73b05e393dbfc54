"""Conditioned next-event batches: the LM family's windows (``zoo.families.lm.batches``) with a
condition vector per position. A piece becomes ``events (L,)`` = ``[END] + ids + [END]`` and
``cond (L, C)``, ``cond[t]`` the condition of the event at position t; a training example is a
random window of ``seq_len + 1`` positions of both (after augmentation):

    inputs = events[:-1], targets = events[1:], cond = cond[1:]   (the target's condition)

``track(ids, rng) -> (events, cond)`` is the task's: the chords of an improv piece, the controls
computed from a performance (rng: which optional controls an example leaves out; None in
evaluation).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from zoo.codecs import PAD
from zoo.data.batcher import Augment, Batcher
from zoo.data.batcher import eval_batches as pack
from zoo.families.lm.batches import augmented, padded, window_start

Track = Callable[[np.ndarray, np.random.Generator | None], tuple[np.ndarray, np.ndarray]]


def crop(codec, seq_len: int, augment: Augment, track: Track):
    """``example(ids, rng) -> (events (W,), cond (W, C))``, W = seq_len + 1."""

    def example(ids, rng: np.random.Generator):
        events, cond = track(augmented(codec, ids, augment, rng), rng)
        start = window_start(len(events), seq_len + 1, rng)
        return padded(events, start, seq_len + 1), padded(cond, start, seq_len + 1, 0.0)

    return example


def collate(windows: list, rows: np.ndarray) -> dict[str, np.ndarray]:
    """(events, cond) windows -> inputs_BxL, targets_BxL int32, cond_BxLxC, mask_BxL float32."""
    events_BxW = np.stack([w[0] for w in windows])
    targets = events_BxW[:, 1:]
    return {"inputs": events_BxW[:, :-1], "targets": targets,
            "cond": np.stack([w[1] for w in windows])[:, 1:].astype(np.float32),
            "mask": (targets != PAD).astype(np.float32), "row": rows}


def train_batches(split, codec, track: Track, global_batch: int, seq_len: int, seed: int,
                  augment: Augment | None = None, process_index: int = 0,
                  process_count: int = 1) -> Batcher:
    return Batcher(split, crop(codec, seq_len, augment or Augment(), track), collate,
                   global_batch, seed, process_index=process_index, process_count=process_count)


def eval_batches(split, track: Track, seq_len: int, batch_size: int, condition_size: int,
                 max_pieces: int | None = None) -> list[dict[str, np.ndarray]]:
    """Every position of every piece (or of ``max_pieces`` evenly spaced ones) scored once, in
    windows of ``seq_len + 1`` overlapping by one (as ``zoo.families.lm.batches.eval_batches``)."""
    pieces = np.arange(len(split))
    if max_pieces is not None and max_pieces < len(split):
        pieces = np.unique(np.linspace(0, len(split) - 1, max_pieces).round().astype(int))
    windows = []
    for i in pieces:
        events, cond = track(np.asarray(split[i]), None)
        for start in range(0, len(events) - 1, seq_len):
            windows.append((padded(events, start, seq_len + 1),
                            padded(cond, start, seq_len + 1, 0.0)))
    blank = (np.full(seq_len + 1, PAD, np.int32), np.zeros((seq_len + 1, condition_size),
                                                           np.float32))
    return pack(windows, batch_size, blank, lambda rows, real, index: collate(rows, index))
