"""Seeded, resumable batches of multi-track phrases (N whole bars) for the piano-roll GAN.

A piece prepared with the multitrack codec is ``frames_TxKP`` starting on a bar line, so a phrase
is ``N * S`` frames starting at a whole bar, reshaped to ``phrase_KxNxSxP``. Training phrases
start at every bar (overlapping phrases: a 4-bar phrase is seen at 4 positions in its bar
sequence); evaluation phrases follow one another without overlap.

Training batches come from the one seeded batcher (``zoo/data/batcher.py``), a row holding one
phrase per critic update of a GAN step.
"""

from __future__ import annotations

import numpy as np

from zoo.data.batcher import Batcher
from zoo.data.batcher import eval_batches as pack
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


def transposed(codec, semitones: tuple[int, int]):
    """``example(phrase, rng)``: the phrase moved by a uniform number of semitones in
    [lo, hi] (as it is when a key would leave the range)."""

    def example(phrase: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        lo, hi = semitones
        if (lo, hi) == (0, 0):
            return phrase
        K, N, S, P = phrase.shape
        frames = phrase.transpose(1, 2, 0, 3).reshape(N * S, K * P)
        moved = codec.transpose(frames, int(rng.integers(lo, hi + 1)))
        if moved is None:  # out of range: the phrase as it is
            return phrase
        return np.ascontiguousarray(moved.reshape(N, S, K, P).transpose(2, 0, 1, 3))

    return example


def collate(rows: list, row_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Rows of ``draws`` phrases -> inputs uint8 (B, draws, K, N, S, P), mask (B,), row (B,)."""
    return {"inputs": np.stack([np.stack(r) for r in rows]),
            "mask": np.ones(len(rows), np.float32), "row": row_ids}


def _checked_starts(split, codec, bars: int, hop_bars: int) -> np.ndarray:
    S = codec.steps_per_bar
    starts = phrase_starts(split.lengths, bars * S, hop_bars * S)
    if len(starts) == 0:
        raise ZooError(f"no piece of the {split.name} split has {bars} bars "
                       f"({bars * S} frames); use fewer model.bars or more data")
    return starts


def train_batches(split, codec, global_batch: int, bars: int, seed: int, draws: int = 1,
                  transpose: tuple[int, int] = (0, 0), process_index: int = 0,
                  process_count: int = 1) -> Batcher:
    """Endless batches of phrases starting at every bar; a row holds ``draws`` phrases (one per
    critic update) and ``row`` (its number in the global batch: a generator's noise is drawn per
    row)."""
    source = _PhraseSource(split, codec, bars, _checked_starts(split, codec, bars, 1))
    return Batcher(source, transposed(codec, tuple(transpose)), collate, global_batch,
                   seed, draws=draws, process_index=process_index, process_count=process_count)


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
    """Every non-overlapping phrase once, in batches of ``batch_size`` rows: ``inputs`` uint8
    (B, K, N, S, P), ``row`` int32 (B,) (the phrase's index: its noise in the evaluation), and
    ``mask`` float32 (B,), 0 on the padding rows of the last batch."""
    phrases = split_phrases(split, codec, bars, max_pieces)
    if len(phrases) == 0:
        raise ZooError(f"no piece of the {split.name} split has {bars} bars")
    return pack(list(phrases), batch_size, np.zeros(phrases.shape[1:], np.uint8),
                lambda rows, real, index: {"inputs": np.stack(rows), "row": index, "mask": real})
