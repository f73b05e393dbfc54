"""Piano-roll frame batches. A piece is ``frames_TxP`` (0/1); a model reads ``[silence] + frames``
and predicts each next frame, so every frame is scored, the first one given a silent frame.

Training examples are random windows of ``seq_len + 1`` frames (after transposition); evaluation
runs every piece whole in one row, so a recurrent state is never reset inside a piece.
"""

from __future__ import annotations

import numpy as np

from zoo.data.batcher import Augment, Batcher
from zoo.data.batcher import eval_batches as pack

EVAL_LEN_STEP = 16  # evaluation batches are padded to a multiple of this many frames


def crop(codec, seq_len: int, augment: Augment):
    """``example(frames, rng)`` -> (window_WxP uint8, real_W bool), W = seq_len + 1."""

    def example(frames, rng: np.random.Generator):
        frames = np.asarray(frames, np.uint8)
        lo, hi = augment.transpose
        if hi > lo or lo != 0:
            moved = codec.transpose(frames, int(rng.integers(lo, hi + 1)))
            frames = frames if moved is None else moved  # a key would leave the range: as is
        seq = np.concatenate([np.zeros((1, frames.shape[1]), np.uint8), frames])
        window = seq_len + 1
        start = int(rng.integers(0, len(seq) - window + 1)) if len(seq) > window else 0
        chunk = seq[start:start + window]
        out = np.zeros((window, frames.shape[1]), np.uint8)
        out[:len(chunk)] = chunk
        real = np.zeros(window, bool)
        real[:len(chunk)] = True
        return out, real

    return example


def collate(examples: list, rows: np.ndarray) -> dict[str, np.ndarray]:
    """(window, real) pairs -> inputs_BxTxP, targets_BxTxP uint8, mask_BxT float32."""
    w_BxWxP = np.stack([w for w, _ in examples])
    real_BxW = np.stack([r for _, r in examples])
    return {"inputs": w_BxWxP[:, :-1], "targets": w_BxWxP[:, 1:],
            "mask": real_BxW[:, 1:].astype(np.float32), "row": rows}


def train_batches(split, codec, global_batch: int, seq_len: int, seed: int,
                  augment: Augment | None = None, process_index: int = 0,
                  process_count: int = 1) -> Batcher:
    return Batcher(split, crop(codec, seq_len, augment or Augment()), collate, global_batch,
                   seed, process_index=process_index, process_count=process_count)


def eval_batches(split, batch_size: int, max_pieces: int | None = None
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
    pieces = [np.asarray(split[i], np.uint8) for i in order]
    blank = np.zeros((0, pieces[0].shape[1]), np.uint8)

    def padded(rows, real, index):
        window = -(-max(len(p) for p in rows) // EVAL_LEN_STEP) * EVAL_LEN_STEP + 1
        out = np.zeros((len(rows), window, blank.shape[1]), np.uint8)
        mask = np.zeros((len(rows), window), bool)
        for r, piece in enumerate(rows):
            out[r, 1:len(piece) + 1] = piece   # row 0 of each window: the silent frame
            mask[r, :len(piece) + 1] = real[r] > 0
        return collate(list(zip(out, mask)), index)

    return pack(pieces, batch_size, blank, padded)
