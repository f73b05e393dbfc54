"""Next-event batches: a piece of ids ``t`` (without specials) is modelled as ``[END] + t + [END]``,
the leading END being the start symbol. A training example is a random window of ``seq_len + 1``
tokens of that sequence (after augmentation), ``inputs = w[:-1]``, ``targets = w[1:]``, padded with
PAD and masked where ``targets == PAD``.
"""

from __future__ import annotations

import numpy as np

from zoo.codecs import END, PAD
from zoo.data.batcher import Augment, Batcher
from zoo.data.batcher import eval_batches as pack


def with_end_symbols(ids: np.ndarray) -> np.ndarray:
    """(T,) ids -> (T + 2,) ``[END] + ids + [END]``."""
    return np.concatenate([[END], np.asarray(ids, np.int32), [END]]).astype(np.int32)


def augmented(codec, ids, augment: Augment, rng: np.random.Generator) -> np.ndarray:
    """One piece's ids randomly transposed (kept as they are where that leaves the codec's range)
    and time-stretched (codecs with ``stretch``), as ``augment`` allows."""
    ids = np.asarray(ids)
    lo, hi = augment.transpose
    if hi > lo or lo != 0:
        moved = codec.transpose(ids, int(rng.integers(lo, hi + 1)))
        ids = ids if moved is None else moved
    s_lo, s_hi = augment.stretch
    if (s_lo, s_hi) != (1.0, 1.0) and hasattr(codec, "stretch"):
        ids = codec.stretch(ids, float(rng.uniform(s_lo, s_hi)))
    return ids


def window_start(length: int, window: int, rng: np.random.Generator) -> int:
    """A uniformly random start of a ``window`` in a sequence of ``length`` (0 if it is shorter)."""
    return int(rng.integers(0, length - window + 1)) if length > window else 0


def padded(seq: np.ndarray, start: int, window: int, fill=PAD) -> np.ndarray:
    """``seq[start:start + window]`` padded with ``fill`` to ``window`` along the first axis."""
    out = np.full((window, *np.shape(seq)[1:]), fill, np.asarray(seq).dtype)
    chunk = seq[start:start + window]
    out[:len(chunk)] = chunk
    return out


def crop(codec, seq_len: int, augment: Augment):
    """``example(ids, rng)``: a random window (and transposition, stretch) of one piece."""

    def example(ids, rng: np.random.Generator) -> np.ndarray:
        seq = with_end_symbols(augmented(codec, ids, augment, rng))
        return padded(seq, window_start(len(seq), seq_len + 1, rng), seq_len + 1)

    return example


def collate(windows: list, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Windows of ``seq_len + 1`` ids -> inputs_BxL, targets_BxL int32, mask_BxL float32."""
    w_BxW = np.stack(windows)
    targets = w_BxW[:, 1:]
    return {"inputs": w_BxW[:, :-1], "targets": targets,
            "mask": (targets != PAD).astype(np.float32), "row": rows}


def train_batches(split, codec, global_batch: int, seq_len: int, seed: int,
                  augment: Augment | None = None, process_index: int = 0,
                  process_count: int = 1) -> Batcher:
    return Batcher(split, crop(codec, seq_len, augment or Augment()), collate, global_batch, seed,
                   process_index=process_index, process_count=process_count)


def eval_batches(split, seq_len: int, batch_size: int, max_pieces: int | None = None
                 ) -> list[dict[str, np.ndarray]]:
    """Every token of every piece (or of ``max_pieces`` evenly spaced ones) exactly once: each
    ``[END] + t + [END]`` is cut into windows of ``seq_len + 1`` overlapping by one token (state is
    reset at each window), packed ``batch_size`` to a batch, the last padded with PAD rows."""
    windows = []
    pieces = np.arange(len(split))
    if max_pieces is not None and max_pieces < len(split):
        # evenly spaced over the split, which is in input order (one book after another)
        pieces = np.unique(np.linspace(0, len(split) - 1, max_pieces).round().astype(int))
    for i in pieces:
        seq = with_end_symbols(split[i])
        for start in range(0, len(seq) - 1, seq_len):
            w = np.full(seq_len + 1, PAD, np.int32)
            chunk = seq[start:start + seq_len + 1]
            w[:len(chunk)] = chunk
            windows.append(w)
    return pack(windows, batch_size, np.full(seq_len + 1, PAD, np.int32),
                lambda rows, real, index: collate(rows, index))
