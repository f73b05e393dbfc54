"""One seeded, resumable batcher for every family, and the padding of evaluation batches.

Batch ``k`` of a run is a pure function of (items, seed, k): a grain ``MapDataset`` shuffles the
items anew each epoch and each drawn example takes its crop and augmentation from its own seeded
generator (``example(item, rng)``). The pipeline's whole state is therefore the index of the next
batch, saved in every checkpoint. Each process builds only its rows of the global batch, and the
next batches are built ahead in a background thread while the current step runs.

A family gives only ``example(item, rng)`` and ``collate(examples, rows)``; the agreed schema of a
batch is a dict of numpy arrays with the batch first:

    inputs   what the network reads: ids_BxT, frames_BxTxP, windows_BxT, phrases_Bx...
    targets  what it predicts, when that is not ``inputs`` itself
    mask     float32 weights of what is scored, (B,) or (B, T); 0 on padding
    row      int32 (B,): the row's number in the global batch (seeds per-row noise)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np


@dataclasses.dataclass(frozen=True)
class Augment:
    """Batch-time augmentation: a uniform transposition in [lo, hi] semitones (rejected
    transpositions that leave the codec's range fall back to 0), and for codecs with ``stretch``
    a uniform time-stretch factor in [stretch_lo, stretch_hi]."""

    transpose: tuple[int, int] = (0, 0)
    stretch: tuple[float, float] = (1.0, 1.0)


_Example = None   # grain.transforms.RandomMap calling ``example(item, rng)``; see _example_map


def _example_map(example: Callable[[object, np.random.Generator], object]):
    """grain's RandomMap of ``example``. grain is imported on first use, so this module (and
    the families' batch code above it) imports without grain, e.g. for synthetic-batch
    benchmarks; the class is made once and kept as ``_Example`` (picklable by that name)."""
    global _Example
    if _Example is None:
        import grain

        class _Example(grain.transforms.RandomMap):
            def __init__(self, example):
                self.example = example

            def random_map(self, item, rng: np.random.Generator):
                return self.example(item, rng)

        _Example.__qualname__ = "_Example"
    return _Example(example)


class Batcher:
    """Endless training batches; ``batch(k)`` is this process's rows of global batch ``k``.

    ``items``: a random-access sequence (pieces, window starts, phrases); ``draws``: examples per
    row (the GAN draws one phrase per critic update), so row r of batch k holds examples
    ``(k G + r) draws + d`` of the shuffled stream, G the global batch.
    ``collate(examples, rows)``: the row's examples (a list of ``draws`` examples per row when
    draws > 1) and their global row numbers -> the batch dict.
    """

    def __init__(self, items: Sequence, example, collate, global_batch: int, seed: int, *,
                 draws: int = 1, process_index: int = 0, process_count: int = 1):
        if len(items) == 0:
            raise ValueError("the training split has no examples")
        if global_batch % process_count:
            raise ValueError(f"batch {global_batch} does not divide over {process_count} processes")
        self.global_batch, self.draws, self.collate = global_batch, draws, collate
        self.local_batch = global_batch // process_count
        self.row0 = process_index * self.local_batch
        import grain

        self._examples = (grain.MapDataset.source(items).seed(seed).shuffle().repeat()
                          .random_map(_example_map(example)))

    def batch(self, k: int) -> dict[str, np.ndarray]:
        first = (k * self.global_batch + self.row0) * self.draws
        if self.draws == 1:
            rows = [self._examples[first + r] for r in range(self.local_batch)]
        else:
            rows = [[self._examples[first + r * self.draws + d] for d in range(self.draws)]
                    for r in range(self.local_batch)]
        return self.collate(rows, np.arange(self.row0, self.row0 + self.local_batch,
                                            dtype=np.int32))

    def iterate(self, start: int, prefetch: int = 2) -> Iterator[dict[str, np.ndarray]]:
        """batch(start), batch(start + 1), ... each built ahead in a background thread."""
        with ThreadPoolExecutor(1) as pool:
            pending = [pool.submit(self.batch, start + i) for i in range(prefetch)]
            k = start + prefetch
            while True:
                yield pending.pop(0).result()
                pending.append(pool.submit(self.batch, k))
                k += 1


def eval_batches(examples: list, batch_size: int, blank, collate) -> list[dict[str, np.ndarray]]:
    """Every example once, ``batch_size`` to a batch, the last one filled with ``blank`` rows:
    ``collate(examples, real)`` gets the rows and a float32 (B,) mask of the real ones."""
    batches = []
    for b in range(0, len(examples), batch_size):
        rows = list(examples[b:b + batch_size])
        real = np.zeros(batch_size, np.float32)
        real[:len(rows)] = 1.0
        rows += [blank] * (batch_size - len(rows))
        batches.append(collate(rows, real, np.arange(b, b + batch_size, dtype=np.int32)))
    return batches
