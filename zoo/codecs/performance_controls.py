"""Performance control signals (Magenta's conditioned Performance RNN), computed from the ids of
``zoo.codecs.performance`` with numpy, equal to note-seq's ``performance_controls`` values:

- note density: NOTE_ONs per second in the window of ``window_seconds`` (3.0) starting at each
  event's time, the window shortened at the end of the piece
  (``NoteDensityPerformanceControlSignal``); encoded one-hot over the bins
  ``[0, 1), [1, 2), [2, 4), ... [64, inf)`` notes/s (``DENSITY_BINS``: 8 classes);
- pitch-class histogram: seconds each pitch class sounds in the window of ``window_seconds``
  (5.0) from each event, plus a prior of 0.01, normalised to sum to 1
  (``PitchHistogramPerformanceControlSignal`` and its encoder).

As in note-seq, events after a non-TIME_SHIFT event repeat the value of the event before them
(the window starts at the first event of its time step); a pitch counts once however many of
its notes sound. Arrays are per event: ``ids (N,) -> (N,)`` or ``(N, 12)``. The encoding itself
(``zoo.codecs.performance``) is untouched: these are values computed from it.
"""

from __future__ import annotations

import json

import numpy as np

from zoo.codecs.base import NUM_SPECIAL, regular_ids
from zoo.errors import ZooError

DENSITY_BINS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)  # notes per second (Magenta's defaults)
DEFAULT_DENSITY = 15.0  # notes per second, note-seq's default control value
DENSITY_WINDOW = 3.0   # seconds
HISTOGRAM_WINDOW = 5.0  # seconds
PRIOR_COUNT = 0.01
_PITCHES = 128
_NAMES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}


def _events(ids: np.ndarray, codec):
    """-> (is_note_on (N,), pitch (N,) or -1, shift_steps (N,), steps_before (N + 1,))."""
    ids = np.asarray(ids, np.int64)
    on = (ids >= NUM_SPECIAL) & (ids < NUM_SPECIAL + _PITCHES)
    off = (ids >= NUM_SPECIAL + _PITCHES) & (ids < NUM_SPECIAL + 2 * _PITCHES)
    shift_lo = NUM_SPECIAL + 2 * _PITCHES
    is_shift = (ids >= shift_lo) & (ids < shift_lo + codec.max_shift_steps)
    shift = np.where(is_shift, ids - shift_lo + 1, 0)
    pitch = np.where(on | off, (ids - NUM_SPECIAL) % _PITCHES, -1)
    before = np.concatenate([[0], np.cumsum(shift)])
    return on, off, pitch, shift, before


def _windows(shift, before, window_steps: int):
    """Run start r(i) of each event (first event of its time step) and the end k(i) of the
    window from r(i): the first event at least ``window_steps`` later (N: none)."""
    n = len(shift)
    starts = np.concatenate([[True], shift[:-1] > 0]) if n else np.zeros(0, bool)
    r = np.maximum.accumulate(np.where(starts, np.arange(n), 0)) if n else np.zeros(0, int)
    k = np.searchsorted(before[:n], before[r] + window_steps, side="left")
    return r, k


def note_density(ids: np.ndarray, codec, window_seconds: float = DENSITY_WINDOW) -> np.ndarray:
    """float64 (N,): notes per second in the window from each event (``ids``: regular ids)."""
    on, _, _, shift, before = _events(ids, codec)
    w = int(round(window_seconds * codec.steps_per_second))
    r, k = _windows(shift, before, w)
    count = np.concatenate([[0], np.cumsum(on)])
    span = np.minimum(before[k] - before[r], w)
    return np.where(span > 0, (count[k] - count[r]) * codec.steps_per_second
                    / np.maximum(span, 1), 0.0)


def pitch_histogram(ids: np.ndarray, codec, window_seconds: float = HISTOGRAM_WINDOW,
                    prior_count: float = PRIOR_COUNT) -> np.ndarray:
    """float64 (N, 12): the normalised pitch-class histogram of the window from each event."""
    on, off, pitch, shift, before = _events(ids, codec)
    n = len(shift)
    w = int(round(window_seconds * codec.steps_per_second))
    r, k = _windows(shift, before, w)
    # distinct sounding pitches per class after each event: a pitch's state is its last NOTE_ON
    # or NOTE_OFF; its changes (+1 off -> on, -1 on -> off) summed per class over the events
    rows = np.flatnonzero(on | off)
    order = rows[np.lexsort((rows, pitch[rows]))]  # by pitch, then time
    state = on[order].astype(np.int64)
    first = np.concatenate([[True], pitch[order][1:] != pitch[order][:-1]]) if len(order) else \
        np.zeros(0, bool)
    previous = np.where(first, 0, np.concatenate([[0], state[:-1]]))
    change = np.zeros((n, 12), np.int64)
    np.add.at(change, (order, pitch[order] % 12), state - previous)
    by_class = np.cumsum(change, axis=0)
    seconds = by_class * (shift / codec.steps_per_second)[:, None]
    total = np.concatenate([np.zeros((1, 12)), np.cumsum(seconds, axis=0)])
    hist = prior_count + total[k] - total[r]
    return hist / hist.sum(axis=1, keepdims=True)


def density_one_hot(density: np.ndarray, bins=DENSITY_BINS) -> np.ndarray:
    """float32 (N, len(bins) + 1): the bin of each density (note-seq's NoteDensityOneHotEncoding:
    bin i holds [bins[i-1], bins[i]))."""
    cls = np.searchsorted(np.asarray(bins), np.asarray(density, np.float64), side="right")
    return np.eye(len(bins) + 1, dtype=np.float32)[cls]


def realised(ids: np.ndarray, codec) -> tuple[float, np.ndarray]:
    """(notes per second, pitch-class histogram (12,) by sounding time, no prior) of a whole
    piece (ids may hold END and PAD); for comparing samples with the controls asked for."""
    ids = regular_ids(ids)
    on, _, _, _, before = _events(ids, codec)
    seconds = before[-1] / codec.steps_per_second if len(ids) else 0.0
    density = float(on.sum() / seconds) if seconds else 0.0
    if not len(ids):
        return density, np.full(12, 1 / 12)
    hist = pitch_histogram(ids, codec, window_seconds=before[-1] / codec.steps_per_second + 1,
                           prior_count=1e-9)[0]
    return density, hist


def key_histogram(name: str) -> np.ndarray:
    """A key name ("C major", "F# minor", "Bb major") -> its scale as a histogram (12,): the
    seven scale degrees equally weighted, the tonic and dominant doubled (normalised)."""
    parts = name.strip().lower().split()
    if len(parts) != 2 or parts[1] not in _SCALES or not parts[0] or parts[0][0] not in _NAMES:
        raise ZooError(f"cannot read the key '{name}': give e.g. \"C major\" or \"F# minor\"")
    root = _NAMES[parts[0][0]]
    for accidental in parts[0][1:]:
        if accidental not in "#b":
            raise ZooError(f"cannot read the key '{name}': accidentals are # and b")
        root += 1 if accidental == "#" else -1
    hist = np.zeros(12)
    for degree in _SCALES[parts[1]]:
        hist[(root + degree) % 12] = 1.0
    hist[root % 12] += 1.0
    hist[(root + 7) % 12] += 1.0
    return hist / hist.sum()


def parse_histogram(text: str) -> np.ndarray:
    """``--pitch-histogram``: a JSON list of 12 non-negative weights (C first) or a key name ->
    a normalised histogram (12,)."""
    text = text.strip()
    if not text.startswith("["):
        return key_histogram(text)
    try:
        values = np.asarray(json.loads(text), np.float64)
    except (ValueError, TypeError):
        raise ZooError(f"cannot read the pitch histogram '{text}': give 12 numbers, e.g. "
                       "\"[2,0,1,0,1,1,0,1,0,1,0,1]\", or a key such as \"C major\"") from None
    if values.shape != (12,) or np.any(values < 0) or not np.isfinite(values).all() \
            or values.sum() <= 0:
        raise ZooError(f"the pitch histogram '{text}' needs 12 non-negative weights, not all 0")
    return values / values.sum()
