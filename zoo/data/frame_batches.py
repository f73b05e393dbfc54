"""Fixed-shape, seeded, resumable batches of piano-roll frames (zoo/data/batches.py's design for
frame data).

A piece of frames ``f_TxP`` is modelled as ``[silence] + f``: a silent frame is the input that
predicts the first frame, so every frame of a piece is scored, the first one given the silent
frame and the zero state. A training example is a window of ``seq_len + 1`` frames of that
sequence: ``inputs = w[:-1]``, ``targets = w[1:]``, ``mask = 1`` where the target is a frame of
the piece (0 on padding).

Batch ``k`` of a run is a pure function of (data, seed, k): a grain ``MapDataset`` shuffles the
pieces anew each epoch, and each example draws its crop and transposition from its own seeded
generator, so the pipeline's whole state is the index of the next batch. Each process builds only
its own rows of the global batch.

Rows: uint8 ``inputs_BxLxP`` and ``targets_BxLxP``, float32 ``mask_BxL``.
"""

from __future__ import annotations

import grain
import numpy as np

from zoo.data.batches import Augment, TrainBatches

EVAL_LEN_STEP = 16  # evaluation batches are padded to a multiple of this many frames


class _CropFrames(grain.transforms.RandomMap):
    def __init__(self, codec, seq_len: int, augment: Augment):
        self.codec, self.seq_len, self.augment = codec, seq_len, augment

    def random_map(self, frames: np.ndarray, rng: np.random.Generator):
        frames = np.asarray(frames, np.uint8)
        lo, hi = self.augment.transpose
        if hi > lo or lo != 0:
            moved = self.codec.transpose(frames, int(rng.integers(lo, hi + 1)))
            frames = frames if moved is None else moved  # a key would leave the range: as is
        seq = np.concatenate([np.zeros((1, frames.shape[1]), np.uint8), frames])
        window = self.seq_len + 1
        start = int(rng.integers(0, len(seq) - window + 1)) if len(seq) > window else 0
        chunk = seq[start : start + window]
        out = np.zeros((window, frames.shape[1]), np.uint8)
        out[: len(chunk)] = chunk
        real = np.zeros(window, bool)
        real[: len(chunk)] = True
        return out, real


def _as_frame_batch(windows_BxWxP: np.ndarray, real_BxW: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "inputs": windows_BxWxP[:, :-1],
        "targets": windows_BxWxP[:, 1:],
        "mask": real_BxW[:, 1:].astype(np.float32),
    }


class TrainFrameBatches(TrainBatches):
    """Endless training batches; ``batch(k)`` gives this process's rows of global batch ``k``
    (B = global_batch // process_count rows of ``seq_len`` frames). Prefetching as TrainBatches."""

    def __init__(self, split, codec, global_batch: int, seq_len: int, seed: int,
                 augment: Augment | None = None, process_index: int = 0,
                 process_count: int = 1):
        super().__init__(split, codec, global_batch, seq_len, seed, augment or Augment(),
                         process_index, process_count)

    def _crop(self, codec, seq_len: int, augment: Augment) -> grain.transforms.RandomMap:
        return _CropFrames(codec, seq_len, augment)

    def batch(self, k: int) -> dict[str, np.ndarray]:
        first = k * self.global_batch + self.row0
        rows = [self._examples[first + i] for i in range(self.local_batch)]
        return _as_frame_batch(np.stack([w for w, _ in rows]), np.stack([r for _, r in rows]))


def eval_frame_batches(split, batch_size: int, max_pieces: int | None = None
                       ) -> list[dict[str, np.ndarray]]:
    """Every frame of every piece exactly once, each piece whole in one row, so the recurrent
    state is never reset inside a piece and the NLL is exact. Pieces are sorted by length and
    packed ``batch_size`` rows to a batch (the last padded with masked rows); a batch is as long
    as its longest piece rounded up to a multiple of EVAL_LEN_STEP (each batch shape compiles
    once per run, as the batches are the same at every evaluation)."""
    n = len(split) if max_pieces is None else min(max_pieces, len(split))
    if n == 0:
        return []
    order = sorted(range(n), key=lambda i: len(split[i]))
    num_keys = np.asarray(split[order[0]]).shape[1]
    batches = []
    for b in range(0, n, batch_size):
        pieces = [np.asarray(split[i], np.uint8) for i in order[b : b + batch_size]]
        longest = max(len(p) for p in pieces)
        window = -(-longest // EVAL_LEN_STEP) * EVAL_LEN_STEP + 1
        out = np.zeros((batch_size, window, num_keys), np.uint8)
        real = np.zeros((batch_size, window), bool)
        for row, piece in enumerate(pieces):
            out[row, 1 : len(piece) + 1] = piece   # row 0 of each window: the silent frame
            real[row, : len(piece) + 1] = True
        batches.append(_as_frame_batch(out, real))
    return batches
