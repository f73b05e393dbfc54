"""Statistics of four-part writing on a voice grid: voice ranges, parallel fifths and octaves,
chord-tone rate, voice crossings. For harmonisations (Coconet) beside real chorales.

A grid is ``pitches_TxV`` (int): per sixteenth step and voice the sounding MIDI pitch, -1 for a
rest; voice 0 is the highest part (soprano), as in the chorales.

- Parallel fifths / octaves: between two successive sonorities (the grid at the steps where any
  voice changes), a pair of voices both sounding in both, both moving in the same direction, a
  perfect fifth (interval mod 12 = 7) in both, or an octave or unison (mod 12 = 0) in both.
  Counted per bar of ``steps_per_bar`` steps.
- Chord-tone rate: for each beat, the triad (12 roots x major, minor, diminished) that covers the
  most sounding steps of the beat's pitch classes; the rate is the covered share of all sounding
  voice-steps over the piece.
- Voice crossing rate: share of steps with two adjacent voices sounding where the higher part
  is below the lower.
"""

from __future__ import annotations

import numpy as np
from note_seq.protobuf import music_pb2

from zoo.codecs.base import notes_by_voice

TRIADS = np.array([[(root + i) % 12 for i in shape] for shape in ((0, 4, 7), (0, 3, 7), (0, 3, 6))
                   for root in range(12)])  # (36, 3) pitch classes
_TEMPLATES = np.zeros((len(TRIADS), 12))
_TEMPLATES[np.arange(len(TRIADS))[:, None], TRIADS] = 1.0


def voice_grid(ns: music_pb2.NoteSequence, voices: int = 4, steps_per_quarter: int = 4
               ) -> np.ndarray:
    """NoteSequence -> pitches (T, voices): voices by part (or instrument), at their own numbers
    when those are all below ``voices`` (a decoded roll, an empty voice kept in place), else
    ascending; time from 0 at the first tempo; a voice's highest note wins a step; -1 for rests
    and missing voices."""
    qpm = ns.tempos[0].qpm if ns.tempos else 120.0
    per_step = 60.0 / qpm / steps_per_quarter
    by_voice = {k: [n for n in v if not n.is_drum] for k, v in notes_by_voice(ns).items()}
    by_voice = {k: v for k, v in by_voice.items() if v}
    if all(0 <= k < voices for k in by_voice):  # voice numbers are the voices (a decoded roll)
        groups = [by_voice.get(k, []) for k in range(voices)]
    else:
        groups = (list(by_voice.values()) + [[] for _ in range(voices)])[:voices]
    notes = [n for g in groups for n in g]
    length = max([int(round(n.end_time / per_step)) for n in notes], default=0)
    grid = np.full((length, voices), -1, np.int64)
    for v, group in enumerate(groups):
        for n in sorted(group, key=lambda n: n.pitch):
            start = int(round(n.start_time / per_step))
            grid[start:max(int(round(n.end_time / per_step)), start + 1), v] = n.pitch
    return grid


def voice_ranges(grid: np.ndarray) -> np.ndarray:
    """(V, 3): lowest, highest and mean sounding pitch of each voice (nan if silent)."""
    out = np.full((grid.shape[1], 3), np.nan)
    for v in range(grid.shape[1]):
        p = grid[:, v][grid[:, v] >= 0]
        if len(p):
            out[v] = p.min(), p.max(), p.mean()
    return out


def sonorities(grid: np.ndarray) -> np.ndarray:
    """The grid at step 0 and at every step where some voice changes: (S, V)."""
    if len(grid) == 0:
        return grid
    change = np.concatenate([[True], np.any(grid[1:] != grid[:-1], axis=1)])
    return grid[change]


def parallel_counts(grid: np.ndarray) -> tuple[int, int]:
    """(parallel fifths, parallel octaves and unisons) over the piece (see the docstring)."""
    s = sonorities(grid)
    if len(s) < 2:
        return 0, 0
    a, b = s[:-1], s[1:]
    fifths = octaves = 0
    V = grid.shape[1]
    for i in range(V):
        for j in range(i + 1, V):
            sounding = (a[:, i] >= 0) & (a[:, j] >= 0) & (b[:, i] >= 0) & (b[:, j] >= 0)
            mi, mj = b[:, i] - a[:, i], b[:, j] - a[:, j]
            same = sounding & (mi != 0) & (mj != 0) & (np.sign(mi) == np.sign(mj))
            ia, ib = (a[:, i] - a[:, j]) % 12, (b[:, i] - b[:, j]) % 12
            fifths += int(np.sum(same & (ia == 7) & (ib == 7)))
            octaves += int(np.sum(same & (ia == 0) & (ib == 0)))
    return fifths, octaves


def chord_tone_rate(grid: np.ndarray, steps_per_beat: int = 4) -> float:
    """Covered share of sounding voice-steps, each beat's best triad (nan if nothing sounds)."""
    covered = total = 0.0
    for start in range(0, len(grid), steps_per_beat):
        beat = grid[start:start + steps_per_beat]
        p = beat[beat >= 0]
        if len(p) == 0:
            continue
        hist = np.bincount(p % 12, minlength=12).astype(np.float64)
        covered += float((_TEMPLATES @ hist).max())
        total += float(hist.sum())
    return covered / total if total else float("nan")


def voice_crossing_rate(grid: np.ndarray) -> float:
    """Share of (step, adjacent voice pair) with both sounding where the higher part is lower."""
    upper, lower = grid[:, :-1], grid[:, 1:]
    both = (upper >= 0) & (lower >= 0)
    n = int(both.sum())
    return float(np.sum(both & (upper < lower))) / n if n else float("nan")


def harmony_statistics(grids: list[np.ndarray], steps_per_bar: int = 16,
                       steps_per_beat: int = 4) -> dict:
    """Over pieces: parallel fifths and octaves per bar (total over total bars), the chord-tone
    rate (mean over pieces), voice crossings, and each voice's range (lowest, highest, mean of
    the pieces' means)."""
    bars = sum(len(g) for g in grids) / steps_per_bar
    counts = np.array([parallel_counts(g) for g in grids]).reshape(-1, 2).sum(axis=0)
    ranges = np.array([voice_ranges(g) for g in grids])          # (N, V, 3)
    return {
        "pieces": len(grids), "bars": bars,
        "parallel_fifths_per_bar": float(counts[0] / bars) if bars else float("nan"),
        "parallel_octaves_per_bar": float(counts[1] / bars) if bars else float("nan"),
        "chord_tone_rate": float(np.nanmean([chord_tone_rate(g, steps_per_beat)
                                             for g in grids])),
        "voice_crossing_rate": float(np.nanmean([voice_crossing_rate(g) for g in grids])),
        "voice_lowest": np.nanmin(ranges[:, :, 0], axis=0).tolist(),
        "voice_highest": np.nanmax(ranges[:, :, 1], axis=0).tolist(),
        "voice_mean": np.nanmean(ranges[:, :, 2], axis=0).tolist(),
    }
