"""Fixed windows of whole bars cut from prepared melody or drums data, for MusicVAE.

A window is ``steps`` consecutive ids (2 bars = 32 or 16 bars = 256 at 4 steps per quarter);
it needs no END token, since every window has the same length. The rules, applied per piece:

1. The piece is padded with rest to a whole number of 16-step bars (melody: NOTE_OFF then
   NO_EVENTs; drums: empty steps). Pieces start on a bar line (the codecs keep the leading rest
   modulo one bar), so windows start on bar lines.
2. Windows start every ``stride`` steps (one bar by default, as Magenta's slicing).
3. A window is dropped when more than ``max_rest_fraction`` (0.5) of its steps are silent.
   Melody: a step is silent when no note sounds at it, read from the window alone (a leading
   NO_EVENT continues no note: it decodes as rest). Drums: a hit sounds for one quarter note
   (the step of the hit and the 3 after it, inside the window); other steps are silent.
4. Identical windows of one piece are kept once (Magenta's converters deduplicate per piece).

Training batches come from the one seeded batcher (``zoo/data/batcher.py``) over the window index
(piece, start), each example drawing its transposition from its own seeded generator. Evaluation
windows start every ``steps`` (no step counted twice) under the same rules.

Rows: ``inputs`` int32 (B, steps); ``mask`` float32 (B,), 0 for padding rows of the last eval batch.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from zoo.codecs.base import NUM_SPECIAL
from zoo.data.batcher import Batcher
from zoo.data.batcher import eval_batches as pack
from zoo.errors import ZooError

STEPS_PER_BAR = 16
NO_EVENT = NUM_SPECIAL        # melody: hold the note or the rest; drums: an empty step
NOTE_OFF = NUM_SPECIAL + 1    # melody only
FIRST_NOTE_ON = NUM_SPECIAL + 2
DRUM_RING_STEPS = 4           # a drum hit counts as sounding for one quarter note


@dataclasses.dataclass(frozen=True)
class WindowSpec:
    steps: int                       # window length in steps (a whole number of bars)
    stride: int = STEPS_PER_BAR      # steps between training window starts
    max_rest_fraction: float = 0.5   # drop windows with more silent steps than this fraction


def check_codec(codec) -> None:
    from zoo.codecs.drums import DrumsCodec  # here, not at the top: they import note_seq
    from zoo.codecs.melody import MelodyCodec

    if not isinstance(codec, (MelodyCodec, DrumsCodec)):
        raise ZooError(f"MusicVAE reads melody or drums data, not codec '{codec.name}'; "
                       "prepare with --codec melody or --codec drums")


def pad_to_bars(ids: np.ndarray, codec, length: int | None = None) -> np.ndarray:
    """(T,) ids padded with rest to ``length`` steps (default: the next whole bar)."""
    ids = np.asarray(ids, np.int32)
    if length is None:
        length = -(-len(ids) // STEPS_PER_BAR) * STEPS_PER_BAR
    if len(ids) >= length:
        return ids[:length]
    from zoo.codecs.melody import MelodyCodec

    rest = np.full(length - len(ids), NO_EVENT, np.int32)
    if isinstance(codec, MelodyCodec) and len(ids):
        rest[0] = NOTE_OFF  # the piece's last note ends where the piece ends
    return np.concatenate([ids, rest])


def sounding_steps(windows_NxT: np.ndarray, codec) -> np.ndarray:
    """bool (N, T): the steps of each window at which something sounds (rule 3 above)."""
    w = np.asarray(windows_NxT)
    t = np.arange(w.shape[1])
    from zoo.codecs.melody import MelodyCodec

    if isinstance(codec, MelodyCodec):
        # the latest NOTE_ON or NOTE_OFF at or before each step decides
        last = np.maximum.accumulate(np.where(w != NO_EVENT, t, -1), axis=1)
        decided = np.take_along_axis(w, np.maximum(last, 0), axis=1)
        return (last >= 0) & (decided >= FIRST_NOTE_ON)
    last_hit = np.maximum.accumulate(np.where(w != NO_EVENT, t, -DRUM_RING_STEPS), axis=1)
    return t - last_hit < DRUM_RING_STEPS


def piece_window_starts(ids: np.ndarray, codec, spec: WindowSpec, stride: int) -> np.ndarray:
    """int64 (N,): starts of the windows of one piece that pass rules 1-4, ascending."""
    seq = pad_to_bars(ids, codec)
    if len(seq) < spec.steps:
        return np.zeros(0, np.int64)
    starts = np.arange(0, len(seq) - spec.steps + 1, stride)
    windows = np.lib.stride_tricks.sliding_window_view(seq, spec.steps)[starts]
    silent = 1.0 - sounding_steps(windows, codec).mean(axis=1)
    keep = silent <= spec.max_rest_fraction
    starts, windows = starts[keep], windows[keep]
    _, first = np.unique(windows, axis=0, return_index=True)
    return starts[np.sort(first)]


def window_index(split, codec, spec: WindowSpec, stride: int,
                 max_pieces: int | None = None) -> np.ndarray:
    """int64 (N, 2): (piece, start) of every window of the split's first ``max_pieces`` pieces."""
    rows = []
    for i in range(len(split) if max_pieces is None else min(max_pieces, len(split))):
        starts = piece_window_starts(split[i], codec, spec, stride)
        rows.append(np.stack([np.full(len(starts), i), starts], axis=1))
    return np.concatenate(rows) if rows else np.zeros((0, 2), np.int64)


def window_of(ids: np.ndarray, codec, steps: int) -> np.ndarray:
    """The first ``steps`` ids of a piece, padded with rest if shorter (for user input)."""
    return pad_to_bars(ids, codec, steps)


def cut(split, codec, steps: int, transpose: tuple[int, int]):
    """``example((piece, start), rng)``: the window, moved by a uniform transposition."""

    def example(row: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        piece, start = int(row[0]), int(row[1])
        window = pad_to_bars(split[piece], codec)[start:start + steps]
        lo, hi = transpose
        if (lo, hi) != (0, 0):
            moved = codec.transpose(window, int(rng.integers(lo, hi + 1)))
            window = window if moved is None else moved
        return np.asarray(window, np.int32)

    return example


def collate(windows: list, rows: np.ndarray) -> dict[str, np.ndarray]:
    return {"inputs": np.stack(windows), "mask": np.ones(len(windows), np.float32), "row": rows}


def train_batches(split, codec, spec: WindowSpec, global_batch: int, seed: int,
                  transpose: tuple[int, int] = (0, 0), process_index: int = 0,
                  process_count: int = 1) -> Batcher:
    """Endless batches of windows: ``inputs`` int32 (B, steps), ``mask`` float32 (B,) of ones."""
    check_codec(codec)
    index = window_index(split, codec, spec, spec.stride)
    if len(index) == 0:
        raise ZooError(f"the training split has no window of {spec.steps // STEPS_PER_BAR} "
                       f"bars that is at most {spec.max_rest_fraction:.0%} rest")
    return Batcher(index, cut(split, codec, spec.steps, transpose), collate, global_batch, seed,
                   process_index=process_index, process_count=process_count)


def eval_window_batches(split, codec, spec: WindowSpec, batch_size: int,
                        max_pieces: int | None = None) -> list[dict[str, np.ndarray]]:
    """Every non-overlapping window (start every ``spec.steps``) of the first ``max_pieces``
    pieces that passes the rules, in batches of ``batch_size`` rows; the last batch is padded
    with masked rows of rest."""
    check_codec(codec)
    index = window_index(split, codec, spec, spec.steps, max_pieces)
    windows = [pad_to_bars(split[p], codec)[s:s + spec.steps] for p, s in index]
    return pack(windows, batch_size, np.full(spec.steps, NO_EVENT, np.int32),
                lambda rows, real, index: {"inputs": np.stack(rows).astype(np.int32),
                                           "mask": real, "row": index})
