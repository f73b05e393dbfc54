"""Pitch statistics of one piece. Drum notes are left out; a piece without pitched notes gives nan.

Definitions follow MusPy (Dong, Chen, Berg-Kirkpatrick and McAuley, 2020, "MusPy: A toolkit for
symbolic music generation", ISMIR, sec. 5) and Yang and Lerch (2020, "On the evaluation of
generative models in music", Neural Computing and Applications 32, table 1). A note counts once
whatever its length, as in both.
"""

from __future__ import annotations

import numpy as np

from zoo.eval import Notes

MAJOR_SCALE = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)  # C D E F G A B
MINOR_SCALE = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0], bool)  # C D Eb F G Ab Bb (natural)
PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def scale_masks() -> np.ndarray:
    """bool (24, 12): row 2 * root + mode (0 major, 1 minor) marks that scale's pitch classes."""
    roots = np.arange(12)[:, None]
    classes = np.arange(12)[None, :]
    major = MAJOR_SCALE[(classes - roots) % 12]
    minor = MINOR_SCALE[(classes - roots) % 12]
    return np.stack([major, minor], axis=1).reshape(24, 12)


def pitch_range(notes: Notes) -> float:
    """Highest minus lowest pitch, in semitones (MusPy ``pitch_range``; Yang and Lerch's PR)."""
    p = notes.pitched.pitch
    return float(p.max() - p.min()) if p.size else np.nan


def num_pitches(notes: Notes) -> float:
    """Distinct MIDI pitches used (MusPy ``n_pitches_used``; Yang and Lerch's PC)."""
    p = notes.pitched.pitch
    return float(np.unique(p).size) if p.size else np.nan


def pitch_class_counts(notes: Notes) -> np.ndarray:
    """int (12,): notes per pitch class, C = 0."""
    return np.bincount(notes.pitched.pitch % 12, minlength=12)


def num_pitch_classes(notes: Notes) -> float:
    """Distinct pitch classes used, 1-12 (MusPy ``n_pitch_classes_used``)."""
    counts = pitch_class_counts(notes)
    return float(np.count_nonzero(counts)) if counts.any() else np.nan


def pitch_class_histogram(notes: Notes) -> np.ndarray:
    """float (12,) summing to 1: the share of notes in each pitch class, C = 0 (Yang and Lerch's
    PCH, octave-independent, not transposed to a key); nan (12,) without notes."""
    counts = pitch_class_counts(notes).astype(np.float64)
    total = counts.sum()
    return counts / total if total else np.full(12, np.nan)


def pitch_class_entropy(notes: Notes) -> float:
    """Shannon entropy of the pitch-class histogram, in bits: 0 for one pitch class, log2(12) =
    3.585 for all twelve equally often; low means a clear tonality (MusPy
    ``pitch_class_entropy``)."""
    h = pitch_class_histogram(notes)
    if np.isnan(h).any():
        return np.nan
    h = h[h > 0]
    return float(-(h * np.log2(h)).sum())


def scale_fit(notes: Notes) -> tuple[float, int, str]:
    """(consistency, root, mode) of the major or natural minor scale holding the most notes; root
    is a pitch class (C = 0), mode "major" or "minor"; (nan, -1, "") without notes."""
    counts = pitch_class_counts(notes)
    total = counts.sum()
    if not total:
        return np.nan, -1, ""
    in_scale_24 = scale_masks() @ counts
    # a major scale and its relative minor hold the same notes: prefer the one whose tonic is
    # played more often, then the lower root, major first
    tonic_24 = np.repeat(counts, 2)
    best = int(np.argmax(in_scale_24 * (total + 1) + tonic_24))
    return float(in_scale_24[best] / total), best // 2, ("major", "minor")[best % 2]


def scale_consistency(notes: Notes) -> float:
    """The largest share of notes that lie in one major or minor scale, over the 24 scales
    (MusPy ``scale_consistency``, after Mogren, 2016, "C-RNN-GAN"). 1.0 for a piece that stays
    in one scale; a C major scale gives 1.0."""
    return scale_fit(notes)[0]


def in_scale_rate(notes: Notes, root: int = 0, mode: str = "major") -> float:
    """The share of notes in a given scale, by default C major (MuseGAN's in-scale rate, Dong et
    al., 2018; pypianoroll ``in_scale_rate``). Unlike ``scale_consistency`` the key is fixed, so it
    tells whether a model keeps to the key its data were transposed to."""
    if mode not in ("major", "minor"):
        raise ValueError(f"mode must be 'major' or 'minor', not {mode!r}")
    counts = pitch_class_counts(notes)
    total = counts.sum()
    if not total:
        return np.nan
    mask = scale_masks()[2 * (root % 12) + (mode == "minor")]
    return float(counts[mask].sum() / total)


def mean_abs_interval(notes: Notes) -> float:
    """Mean absolute interval between consecutive notes in onset order, in semitones (Yang and
    Lerch's PI, average pitch interval); notes sharing an onset follow one another low to high.
    nan with fewer than two notes."""
    p = notes.pitched.pitch
    return float(np.abs(np.diff(p)).mean()) if p.size > 1 else np.nan
