"""Seeded, resumable batches of multi-track phrases (N whole bars) for the piano-roll GAN.

A piece prepared with the multitrack codec is ``frames_TxKP`` starting on a bar line, so a phrase
is ``N * S`` frames starting at a whole bar, reshaped to ``phrase_KxNxSxP``. Training phrases
start at every bar (overlapping phrases: a 4-bar phrase is seen at 4 positions in its bar
sequence); evaluation phrases follow one another without overlap.

Batch ``k`` is a pure function of (data, seed, k): a grain ``MapDataset`` shuffles the phrases anew
each epoch and each drawn phrase takes its transposition from its own seeded generator, so the
pipeline's whole state is the index of the next batch, and each process builds only its own rows.
"""

from __future__ import annotations

from collections.abc import Iterator

import grain
import numpy as np

from zoo.data.batches import prefetched
from zoo.errors import ZooError


def phrase_starts(lengths: np.ndarray, phrase_frames: int, hop_frames: int) -> np.ndarray:
    """int64 (M, 2): (piece, first frame) of every phrase of ``phrase_frames`` frames starting at
    multiples of ``hop_frames``, pieces in order."""
    rows = [(i, s) for i, n in enumerate(lengths) for s in range(0, n - phrase_frames + 1,
                                                                 hop_frames)]
    return np.asarray(rows, np.int64).reshape(-1, 2)


def phrase_at(split, piece: int, start: int, codec, bars: int) -> np.ndarray:
    """uint8 (K, N, S, P): the ``bars`` bars of ``piece`` from frame ``start``."""
    S = codec.steps_per_bar
    frames = np.asarray(split[piece][start:start + bars * S])
    return np.ascontiguousarray(
        frames.reshape(bars, S, codec.tracks, codec.num_keys).transpose(2, 0, 1, 3))


class _PhraseSource:
    """The phrases of a split as a random-access sequence (what grain shuffles)."""

    def __init__(self, split, codec, bars: int, starts: np.ndarray):
        self.split, self.codec, self.bars, self.starts = split, codec, bars, starts

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> np.ndarray:
        piece, start = self.starts[i]
        return phrase_at(self.split, int(piece), int(start), self.codec, self.bars)


class _Transpose(grain.transforms.RandomMap):
    def __init__(self, codec, semitones: tuple[int, int]):
        self.codec, self.semitones = codec, semitones

    def random_map(self, phrase: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        lo, hi = self.semitones
        if (lo, hi) == (0, 0):
            return phrase
        K, N, S, P = phrase.shape
        frames = phrase.transpose(1, 2, 0, 3).reshape(N * S, K * P)
        moved = self.codec.transpose(frames, int(rng.integers(lo, hi + 1)))
        if moved is None:  # out of range: the phrase as it is
            return phrase
        return np.ascontiguousarray(moved.reshape(N, S, K, P).transpose(2, 0, 1, 3))


def _checked_starts(split, codec, bars: int, hop_bars: int) -> np.ndarray:
    S = codec.steps_per_bar
    starts = phrase_starts(split.lengths, bars * S, hop_bars * S)
    if len(starts) == 0:
        raise ZooError(f"no piece of the {split.name} split has {bars} bars "
                       f"({bars * S} frames); use fewer model.bars or more data")
    return starts


class PhraseBatches:
    """Endless training batches; ``batch(k)`` gives this process's rows of global batch ``k``.

    A row holds ``draws`` phrases (one per critic update of a GAN step):
    ``phrases`` uint8 (B, draws, K, N, S, P) and ``row`` int32 (B,), the row's index in the global
    batch (a generator's noise is drawn per row), with B = global_batch // process_count.
    """

    def __init__(self, split, codec, global_batch: int, bars: int, seed: int, draws: int = 1,
                 transpose: tuple[int, int] = (0, 0), process_index: int = 0,
                 process_count: int = 1):
        if global_batch % process_count:
            raise ValueError(f"batch {global_batch} does not divide over {process_count} processes")
        self.global_batch, self.draws = global_batch, draws
        self.local_batch = global_batch // process_count
        self.row0 = process_index * self.local_batch
        source = _PhraseSource(split, codec, bars, _checked_starts(split, codec, bars, 1))
        self._phrases = (grain.MapDataset.source(source).seed(seed).shuffle().repeat()
                         .random_map(_Transpose(codec, tuple(transpose))))

    def batch(self, k: int) -> dict[str, np.ndarray]:
        first = (k * self.global_batch + self.row0) * self.draws
        rows = [np.stack([self._phrases[first + r * self.draws + d] for d in range(self.draws)])
                for r in range(self.local_batch)]
        return {"phrases": np.stack(rows),
                "row": np.arange(self.row0, self.row0 + self.local_batch, dtype=np.int32)}

    def iterate(self, start: int, prefetch: int = 2) -> Iterator[dict[str, np.ndarray]]:
        return prefetched(self.batch, start, prefetch)


def split_phrases(split, codec, bars: int, max_pieces: int | None = None) -> np.ndarray:
    """uint8 (M, K, N, S, P): every phrase of the split (of its first ``max_pieces`` pieces),
    phrases following one another without overlap; (0, K, N, S, P) when no piece is long enough."""
    S = codec.steps_per_bar
    lengths = split.lengths if max_pieces is None else split.lengths[:max_pieces]
    starts = phrase_starts(lengths, bars * S, bars * S)
    out = np.zeros((len(starts), codec.tracks, bars, S, codec.num_keys), np.uint8)
    for i, (piece, start) in enumerate(starts):
        out[i] = phrase_at(split, int(piece), int(start), codec, bars)
    return out


def eval_phrase_batches(split, codec, bars: int, batch_size: int,
                        max_pieces: int | None = None) -> list[dict[str, np.ndarray]]:
    """Every non-overlapping phrase once, in batches of ``batch_size`` rows: ``phrases`` uint8
    (B, K, N, S, P), ``row`` int32 (B,) (the phrase's index: its noise in the evaluation), and
    ``mask`` float32 (B,), 0 on the padding rows of the last batch."""
    phrases = split_phrases(split, codec, bars, max_pieces)
    if len(phrases) == 0:
        raise ZooError(f"no piece of the {split.name} split has {bars} bars")
    batches = []
    for b in range(0, len(phrases), batch_size):
        rows = phrases[b:b + batch_size]
        pad = batch_size - len(rows)
        batches.append({
            "phrases": np.concatenate([rows, np.zeros((pad, *rows.shape[1:]), np.uint8)]),
            "row": np.arange(b, b + batch_size, dtype=np.int32),
            "mask": np.concatenate([np.ones(len(rows)), np.zeros(pad)]).astype(np.float32),
        })
    return batches
