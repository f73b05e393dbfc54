"""Rhythm and texture statistics of one piece, on the grid of ``Notes`` (T steps from time 0 to
the last offset). All notes count, drums included: they make rhythm too. nan where undefined.

Definitions follow MusPy (Dong et al., 2020, "MusPy: A toolkit for symbolic music generation",
ISMIR, sec. 5) and Yang and Lerch (2020, "On the evaluation of generative models in music",
Neural Computing and Applications 32, table 1).
"""

from __future__ import annotations

import numpy as np

from zoo.eval import Notes

# Yang and Lerch's note-length classes, in quarter notes: whole, half, quarter, 8th, 16th, their
# dotted forms, and the half, quarter and 8th triplets.
DURATION_CLASSES = (4.0, 2.0, 1.0, 0.5, 0.25, 3.0, 1.5, 0.75, 0.375, 4 / 3, 2 / 3, 1 / 3)
DURATION_NAMES = ("1", "1/2", "1/4", "1/8", "1/16", "1/2.", "1/4.", "1/8.", "1/16.", "1/2t",
                  "1/4t", "1/8t")


def sounding_counts(notes: Notes) -> np.ndarray:
    """int (T,): how many notes sound in each step (a note sounds in [start, end))."""
    delta = np.zeros(notes.num_steps + 1, np.int64)
    np.add.at(delta, notes.start, 1)
    np.add.at(delta, notes.end, -1)
    return np.cumsum(delta)[:-1]


def _empty_span_rate(notes: Notes, span_steps: int) -> float:
    """The share of consecutive spans of ``span_steps`` steps (the last one may be partial) in
    which no note sounds."""
    if not len(notes):
        return np.nan
    sounding = sounding_counts(notes) > 0
    spans = -(-sounding.size // span_steps)
    padded = np.zeros(spans * span_steps, bool)
    padded[: sounding.size] = sounding
    return float((~padded.reshape(spans, span_steps).any(axis=1)).mean())


def empty_beat_rate(notes: Notes) -> float:
    """The share of beats in which no note sounds, over the beats from time 0 to the last offset
    (MusPy ``empty_beat_rate``; a beat of the first time signature, a quarter in 4/4)."""
    return _empty_span_rate(notes, notes.steps_per_beat)


def empty_bar_rate(notes: Notes) -> float:
    """The share of bars in which no note sounds, over the bars from time 0 to the last offset
    (MusPy ``empty_measure_rate``; MuseGAN's EB for one track)."""
    return _empty_span_rate(notes, notes.steps_per_bar)


def polyphony(notes: Notes) -> float:
    """The mean number of notes sounding in a step, over the steps where any sounds (MusPy
    ``polyphony``): 1.0 for a melody, about 4 for a four-part chorale."""
    counts = sounding_counts(notes)
    counts = counts[counts > 0]
    return float(counts.mean()) if counts.size else np.nan


def polyphony_rate(notes: Notes, min_pitches: int = 2) -> float:
    """The share of steps in which at least ``min_pitches`` notes sound, over all steps from time
    0 to the last offset (MusPy ``polyphony_rate``; MuseGAN's polyphonicity)."""
    counts = sounding_counts(notes)
    return float((counts >= min_pitches).mean()) if counts.size else np.nan


def duration_histogram(notes: Notes) -> np.ndarray:
    """float (12,) summing to 1: the share of notes in each of ``DURATION_CLASSES`` (Yang and
    Lerch's note-length histogram, NLH), a note going to the class nearest its length on a log
    scale; nan (12,) without notes."""
    if not len(notes):
        return np.full(len(DURATION_CLASSES), np.nan)
    quarters = (notes.end - notes.start) / notes.steps_per_quarter
    distance_MxC = np.abs(np.log2(quarters)[:, None] - np.log2(DURATION_CLASSES)[None, :])
    counts = np.bincount(distance_MxC.argmin(axis=1), minlength=len(DURATION_CLASSES))
    return counts / counts.sum()


def mean_duration(notes: Notes) -> float:
    """Mean note length in quarter notes."""
    if not len(notes):
        return np.nan
    return float(((notes.end - notes.start) / notes.steps_per_quarter).mean())


def onset_bars(notes: Notes) -> np.ndarray:
    """bool (bars, steps_per_bar): True where some note starts; the last bar is padded."""
    bar = notes.steps_per_bar
    bars = -(-notes.num_steps // bar) if len(notes) else 0
    onsets = np.zeros(bars * bar, bool)
    onsets[notes.start] = True
    return onsets.reshape(bars, bar)


def groove_consistency(notes: Notes) -> float:
    """1 minus the mean Hamming distance between the onset patterns of consecutive bars, each
    divided by the steps in a bar (MusPy ``groove_consistency``, after Wu and Yang, 2020, "The Jazz
    Transformer on the front line"): 1.0 when every bar has the same rhythm. nan under two bars."""
    bars = onset_bars(notes)
    if len(bars) < 2:
        return np.nan
    return float(1.0 - (bars[1:] != bars[:-1]).mean())


def note_density(notes: Notes) -> float:
    """Notes per beat, over the beats from time 0 to the last offset (a chord of three counts
    three)."""
    if not len(notes):
        return np.nan
    return len(notes) / -(-notes.num_steps // notes.steps_per_beat)


def mean_inter_onset_interval(notes: Notes) -> float:
    """Mean time between consecutive distinct onsets, in quarter notes (Yang and Lerch's IOI).
    nan under two onsets."""
    onsets = np.unique(notes.start)
    if onsets.size < 2:
        return np.nan
    return float(np.diff(onsets).mean() / notes.steps_per_quarter)
