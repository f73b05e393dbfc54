"""Voice rolls from the multitrack codec's frames, and seeded batches with orderless masks.

The chorales are prepared with the ``multitrack`` codec (``frames_TxKP``: V = 4 tracks of 84
keys, 16 steps a 4/4 bar); a voice's roll is its one sounding key per step, as a class
(``zoo.nets.coconet``: class c is pitch ``lowest + c``, class P a rest). A key outside the P
pitches reads as a rest (none in the chorales: their voices span 36..81, Magenta's range).

A training example is a crop of ``seq_len`` steps of a piece (shorter pieces padded, the padding
masked) moved by a uniform transposition, with an orderless-NADE mask (Uria et al. 2014, Magenta's
``maskout_method="orderless"``): k ~ U{1..D} of the D = steps x V cells erased, chosen uniformly.
Evaluation scores every piece whole, ``eval_draws`` times, each with its own mask drawn from
the piece's index, padded to one length for one compiled step.

Batch schema: ``inputs`` int32 (B, T, V) classes, ``erased`` float32 (B, T, V), ``mask`` float32
(B, T) (1 on the piece's steps), ``row`` int32 (B,).
"""

from __future__ import annotations

import numpy as np

from zoo.data.batcher import Batcher
from zoo.data.batcher import eval_batches as pack
from zoo.errors import ZooError


def frames_to_rolls(frames_TxKP: np.ndarray, voices: int, keys: int, first_key: int,
                    pitches: int) -> np.ndarray:
    """frames (T, V * keys) -> rolls int32 (T, V): per voice and step the class of its highest
    sounding key (class c is key ``first_key + c``), P (rest) where none sounds or the key lies
    outside the P classes."""
    tracks = np.asarray(frames_TxKP).reshape(-1, voices, keys)
    sounding = tracks.any(axis=-1)
    top = keys - 1 - np.argmax(tracks[..., ::-1], axis=-1)           # highest sounding key
    classes = top - first_key
    ok = sounding & (classes >= 0) & (classes < pitches)
    return np.where(ok, classes, pitches).astype(np.int32)


def rolls_to_frames(rolls_TxV: np.ndarray, keys: int, first_key: int, pitches: int) -> np.ndarray:
    """rolls int32 (T, V) -> frames uint8 (T, V * keys), class c at key ``first_key + c``,
    rests silent (the inverse of ``frames_to_rolls`` on one-note-per-voice rolls)."""
    rolls = np.asarray(rolls_TxV)
    T, V = rolls.shape
    out = np.zeros((T, V, keys), np.uint8)
    t, v = np.nonzero(rolls < pitches)
    out[t, v, rolls[t, v] + first_key] = 1
    return out.reshape(T, V * keys)


class RollGrid:
    """How a task's classes sit on its codec's keys: ``first_key`` is class 0's key index."""

    def __init__(self, codec, lowest_pitch: int, pitches: int):
        self.voices, self.keys, self.pitches = codec.tracks, codec.num_keys, pitches
        self.lowest = lowest_pitch
        self.first_key = lowest_pitch - codec.min_pitch
        if self.first_key < 0 or self.first_key + pitches > codec.num_keys:
            raise ZooError(f"the model's pitches {lowest_pitch}..{lowest_pitch + pitches - 1} do "
                           f"not fit the codec's keys {codec.min_pitch}..{codec.max_pitch}")

    def rolls(self, frames: np.ndarray) -> np.ndarray:
        return frames_to_rolls(frames, self.voices, self.keys, self.first_key, self.pitches)

    def frames(self, rolls: np.ndarray) -> np.ndarray:
        return rolls_to_frames(rolls, self.keys, self.first_key, self.pitches)


def orderless_mask(real_steps: int, length: int, voices: int, rng: np.random.Generator
                   ) -> np.ndarray:
    """float32 (length, voices): k ~ U{1..D} of the D = real_steps x voices cells erased, a
    uniform choice; padding steps (from ``real_steps`` on) never erased."""
    D = real_steps * voices
    k = int(rng.integers(1, D + 1))
    erased = np.zeros(length * voices, np.float32)
    erased[rng.permutation(D)[:k]] = 1.0
    return erased.reshape(length, voices)


def transpose_rolls(rolls: np.ndarray, semitones: int, pitches: int) -> np.ndarray | None:
    """Every pitch class moved ``semitones`` (rests stay); None when one leaves the range."""
    sounding = rolls < pitches
    moved = np.where(sounding, rolls + semitones, rolls)
    if np.any(sounding & ((moved < 0) | (moved >= pitches))):
        return None
    return moved.astype(np.int32)


def _padded(rolls: np.ndarray, length: int, pitches: int) -> np.ndarray:
    out = np.full((length, rolls.shape[1]), pitches, np.int32)
    out[:len(rolls)] = rolls[:length]
    return out


def make_example(length: int, pitches: int, transpose: tuple[int, int]):
    """``example(rolls, rng)``: a random crop of ``length`` steps, transposed, masked."""

    def example(rolls: np.ndarray, rng: np.random.Generator) -> dict:
        T, V = rolls.shape
        start = int(rng.integers(0, T - length + 1)) if T > length else 0
        crop = rolls[start:start + length]
        lo, hi = transpose
        if (lo, hi) != (0, 0):
            moved = transpose_rolls(crop, int(rng.integers(lo, hi + 1)), pitches)
            crop = crop if moved is None else moved
        real = len(crop)
        steps = np.zeros(length, np.float32)
        steps[:real] = 1.0
        return {"inputs": _padded(crop, length, pitches),
                "erased": orderless_mask(real, length, V, rng), "mask": steps}

    return example


def collate(examples: list[dict], rows: np.ndarray) -> dict[str, np.ndarray]:
    out = {k: np.stack([e[k] for e in examples]) for k in examples[0]}
    out["row"] = rows
    return out


def split_rolls(split, grid: RollGrid, max_pieces: int | None = None) -> list[np.ndarray]:
    """The rolls (T, V) of every piece of a split (its first ``max_pieces``)."""
    n = len(split) if max_pieces is None else min(len(split), max_pieces)
    return [grid.rolls(np.asarray(split[i])) for i in range(n)]


def train_batches(split, grid: RollGrid, global_batch: int, length: int, seed: int,
                  transpose=(0, 0), process_index: int = 0, process_count: int = 1) -> Batcher:
    pieces = [r for r in split_rolls(split, grid) if len(r)]
    if not pieces:
        raise ZooError(f"the {split.name} split has no piece")
    return Batcher(pieces, make_example(length, grid.pitches, tuple(transpose)), collate,
                   global_batch, seed, process_index=process_index, process_count=process_count)


def eval_batches(split, grid: RollGrid, batch_size: int, draws: int,
                 max_pieces: int | None = None) -> list[dict[str, np.ndarray]]:
    """Every piece whole, ``draws`` times with masks from seeds (draw, piece index), padded to
    the split's longest piece rounded up to a bar (16 steps)."""
    pieces = [r for r in split_rolls(split, grid, max_pieces) if len(r)]
    if not pieces:
        raise ZooError(f"the {split.name} split has no piece")
    length = -(-max(len(r) for r in pieces) // 16) * 16
    V, P = grid.voices, grid.pitches
    examples = []
    for d in range(draws):
        for i, rolls in enumerate(pieces):
            steps = np.zeros(length, np.float32)
            steps[:len(rolls)] = 1.0
            mask = orderless_mask(len(rolls), length, V, np.random.default_rng((d, i)))
            examples.append({"inputs": _padded(rolls, length, P), "erased": mask, "mask": steps})
    blank = {"inputs": np.full((length, V), P, np.int32),
             "erased": np.zeros((length, V), np.float32), "mask": np.zeros(length, np.float32)}

    def collate_eval(rows, real, index):
        out = collate(rows, index)
        out["mask"] = out["mask"] * real[:, None]
        return out

    return pack(examples, batch_size, blank, collate_eval)
