"""Fixed-shape, seeded, resumable batches for event language models.

Batch ``k`` of a run is a pure function of (data, seed, k): a grain ``MapDataset`` shuffles the
pieces anew each epoch, and each example draws its crop and augmentation from its own seeded
generator. The pipeline's whole state is therefore the index of the next batch, saved in every
checkpoint, and each process builds only its own rows of the global batch.

A piece of ids ``t`` (without specials) is modelled as ``[END] + t + [END]``: the leading END is the
start symbol. A training example is a window of ``seq_len + 1`` tokens of that sequence,
``inputs = w[:-1]``, ``targets = w[1:]``, padded with PAD and masked where ``targets == PAD``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import grain
import numpy as np

from zoo.codecs import END, PAD


@dataclasses.dataclass(frozen=True)
class Augment:
    """Batch-time augmentation: a uniform transposition in [lo, hi] semitones (rejected
    transpositions that leave the codec's range fall back to 0), and for codecs with ``stretch``
    a uniform time-stretch factor in [stretch_lo, stretch_hi]."""

    transpose: tuple[int, int] = (0, 0)
    stretch: tuple[float, float] = (1.0, 1.0)


def with_end_symbols(ids: np.ndarray) -> np.ndarray:
    """(T,) ids -> (T + 2,) ``[END] + ids + [END]``."""
    return np.concatenate([[END], np.asarray(ids, np.int32), [END]]).astype(np.int32)


class _CropExample(grain.transforms.RandomMap):
    def __init__(self, codec, seq_len: int, augment: Augment):
        self.codec, self.seq_len, self.augment = codec, seq_len, augment

    def random_map(self, ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        ids = np.asarray(ids)
        lo, hi = self.augment.transpose
        if hi > lo or lo != 0:
            moved = self.codec.transpose(ids, int(rng.integers(lo, hi + 1)))
            ids = ids if moved is None else moved
        s_lo, s_hi = self.augment.stretch
        if (s_lo, s_hi) != (1.0, 1.0) and hasattr(self.codec, "stretch"):
            ids = self.codec.stretch(ids, float(rng.uniform(s_lo, s_hi)))
        seq = with_end_symbols(ids)
        window = self.seq_len + 1
        start = int(rng.integers(0, len(seq) - window + 1)) if len(seq) > window else 0
        out = np.full(window, PAD, np.int32)
        chunk = seq[start : start + window]
        out[: len(chunk)] = chunk
        return out


def _as_lm_batch(windows_BxW: np.ndarray) -> dict[str, np.ndarray]:
    targets = windows_BxW[:, 1:]
    return {
        "inputs": windows_BxW[:, :-1],
        "targets": targets,
        "mask": (targets != PAD).astype(np.float32),
    }


class TrainBatches:
    """Endless training batches; ``batch(k)`` gives this process's rows of global batch ``k``.

    Rows are int32 ``inputs_BxL``, ``targets_BxL`` and float32 ``mask_BxL`` with
    B = global_batch // process_count.
    """

    def __init__(self, split, codec, global_batch: int, seq_len: int, seed: int,
                 augment: Augment = Augment(), process_index: int = 0, process_count: int = 1):
        if len(split) == 0:
            raise ValueError("the training split has no pieces")
        if global_batch % process_count:
            raise ValueError(f"batch {global_batch} does not divide over {process_count} processes")
        self.global_batch = global_batch
        self.local_batch = global_batch // process_count
        self.row0 = process_index * self.local_batch
        self._examples = (
            grain.MapDataset.source(split).seed(seed).shuffle().repeat()
            .random_map(self._crop(codec, seq_len, augment))
        )

    def _crop(self, codec, seq_len: int, augment: Augment) -> grain.transforms.RandomMap:
        """The per-example transform: a random window (and transposition) of one piece."""
        return _CropExample(codec, seq_len, augment)

    def batch(self, k: int) -> dict[str, np.ndarray]:
        first = k * self.global_batch + self.row0
        rows = [self._examples[first + i] for i in range(self.local_batch)]
        return _as_lm_batch(np.stack(rows))

    def iterate(self, start: int, prefetch: int = 2) -> Iterator[dict[str, np.ndarray]]:
        return prefetched(self.batch, start, prefetch)


def prefetched(batch: Callable[[int], dict], start: int, prefetch: int = 2) -> Iterator[dict]:
    """batch(start), batch(start + 1), ... each built ahead in a background thread."""
    with ThreadPoolExecutor(1) as pool:
        pending = [pool.submit(batch, start + i) for i in range(prefetch)]
        k = start + prefetch
        while True:
            yield pending.pop(0).result()
            pending.append(pool.submit(batch, k))
            k += 1


def eval_batches(split, seq_len: int, batch_size: int, max_pieces: int | None = None
                 ) -> list[dict[str, np.ndarray]]:
    """Every token of every piece (or of ``max_pieces`` evenly spaced ones) exactly once: each
    ``[END] + t + [END]`` is cut into windows of
    ``seq_len + 1`` overlapping by one token (state is reset at each window), and the windows are
    packed into batches of ``batch_size`` rows, the last one padded with masked rows."""
    windows = []
    pieces = np.arange(len(split))
    if max_pieces is not None and max_pieces < len(split):
        # evenly spaced over the split, which is in input order (one book after another)
        pieces = np.unique(np.linspace(0, len(split) - 1, max_pieces).round().astype(int))
    for i in pieces:
        seq = with_end_symbols(split[i])
        for start in range(0, len(seq) - 1, seq_len):
            w = np.full(seq_len + 1, PAD, np.int32)
            chunk = seq[start : start + seq_len + 1]
            w[: len(chunk)] = chunk
            windows.append(w)
    batches = []
    for b in range(0, len(windows), batch_size):
        rows = windows[b : b + batch_size]
        rows += [np.full(seq_len + 1, PAD, np.int32)] * (batch_size - len(rows))
        batches.append(_as_lm_batch(np.stack(rows)))
    return batches
