"""MuseGAN's multi-track metrics over binary piano-roll phrases (Dong et al., 2018).

Letters: N phrases, R tracks, B bars per phrase, S time steps per bar, P pitches (key p is MIDI
pitch ``lowest_pitch + p``), Q = B * S steps per phrase, K = Q / steps_per_beat beats per phrase.
Every function takes ``bars_NxRxBxSxP`` (nonzero = sounding, as ``PianorollCodec.encode_bars``
phrases stacked) and returns one value per track, pooled over all phrases: the ratio of two counts
summed over the whole set, as MuseGAN reports them, not a mean of per-phrase ratios.

A note is a run of sounding steps of one key within a phrase (a run across a bar line is one
note), the convention of ``PianorollCodec.decode_bars``.
"""

from __future__ import annotations

import numpy as np

from zoo.errors import ZooError

QUALIFIED_STEPS = 3  # MuseGAN: "notes no shorter than three time steps (i.e. a 32th note)"
DRUM_TOLERANCE = 0.1  # weight of a drum onset one step off the pattern grid (pypianoroll's value)
TONAL_RADII = (1.0, 1.0, 0.5)  # fifths, minor thirds, major thirds (Harte et al., 2006, eq. 3)


def _check(bars: np.ndarray) -> np.ndarray:
    bars = np.asarray(bars)
    if bars.ndim != 5:
        raise ZooError(f"expected phrases (N, tracks, bars, steps, pitches), got shape {bars.shape}")
    return bars > 0


def _chroma_matrix(num_pitches: int, lowest_pitch: int) -> np.ndarray:
    """(P, 12) one-hot: key p -> pitch class (lowest_pitch + p) % 12."""
    return np.eye(12, dtype=np.float64)[(lowest_pitch + np.arange(num_pitches)) % 12]


def _drum_mask(track_count: int, drum_track: int | None) -> np.ndarray:
    """(R,) True for pitched tracks; the drum track's pitches are drum sounds, not pitches."""
    pitched = np.ones(track_count, bool)
    if drum_track is not None:
        if not -track_count <= drum_track < track_count:
            raise ZooError(f"drum_track {drum_track} out of range for {track_count} tracks")
        pitched[drum_track] = False
    return pitched


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with nan where den == 0."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=den > 0)


def empty_bar_rate(bars_NxRxBxSxP: np.ndarray) -> np.ndarray:
    """EB (Dong et al., 2018, sec. 5): the share of bars in which a track plays no note.

    Returns (R,) in [0, 1]; nan only if there are no bars."""
    on = _check(bars_NxRxBxSxP)
    empty_NxRxB = ~on.any(axis=(3, 4))
    return _ratio(empty_NxRxB.sum(axis=(0, 2)), empty_NxRxB.shape[0] * empty_NxRxB.shape[2])


def used_pitch_classes(bars_NxRxBxSxP: np.ndarray, lowest_pitch: int = 24) -> np.ndarray:
    """UPC (Dong et al., 2018, sec. 5): the number of pitch classes (0-12) a track uses in a bar,
    averaged over the bars in which it plays.

    Returns (R,); nan for a track that never plays."""
    on = _check(bars_NxRxBxSxP)
    chroma_NxRxBx12 = on.any(axis=3).astype(np.float64) @ _chroma_matrix(on.shape[-1], lowest_pitch)
    classes_NxRxB = (chroma_NxRxBx12 > 0).sum(axis=-1)
    played_NxRxB = classes_NxRxB > 0
    return _ratio(classes_NxRxB.sum(axis=(0, 2)), played_NxRxB.sum(axis=(0, 2)))


def _onsets(on_NxRxQxP: np.ndarray) -> np.ndarray:
    """True where a note starts: sounding now and silent (or the phrase start) one step before."""
    before = np.pad(on_NxRxQxP, ((0, 0), (0, 0), (1, 0), (0, 0)))[:, :, :-1]
    return on_NxRxQxP & ~before


def _phrase_steps(on_NxRxBxSxP: np.ndarray) -> np.ndarray:
    n, r, b, s, p = on_NxRxBxSxP.shape
    return on_NxRxBxSxP.reshape(n, r, b * s, p)


def qualified_note_rate(bars_NxRxBxSxP: np.ndarray, min_steps: int = QUALIFIED_STEPS
                        ) -> np.ndarray:
    """QN (Dong et al., 2018, sec. 5): notes lasting at least ``min_steps`` time steps (3: a 32nd
    note at MuseGAN's 24 steps per beat) over all notes. Low QN means fragmented notes.

    Returns (R,); nan for a track without notes."""
    on = _phrase_steps(_check(bars_NxRxBxSxP))
    onsets = _onsets(on)
    # a note that starts at t is qualified iff the key still sounds at t + 1, ..., t + min_steps - 1
    held = onsets.copy()
    for k in range(1, min_steps):
        later = np.pad(on[:, :, k:], ((0, 0), (0, 0), (0, k), (0, 0)))
        held &= later
    return _ratio(held.sum(axis=(0, 2, 3)), onsets.sum(axis=(0, 2, 3)))


def polyphonicity(bars_NxRxBxSxP: np.ndarray, min_pitches: int = 2) -> np.ndarray:
    """Polyphonicity (Dong et al., 2018, sec. 5; pypianoroll ``polyphonic_rate``): the share of
    time steps in which at least ``min_pitches`` pitches sound, among the steps in which any does
    (so rests do not dilute it).

    Returns (R,); nan for a silent track."""
    on = _check(bars_NxRxBxSxP)
    count_NxRxBxS = on.sum(axis=-1)
    return _ratio((count_NxRxBxS >= min_pitches).sum(axis=(0, 2, 3)),
                  (count_NxRxBxS > 0).sum(axis=(0, 2, 3)))


def drum_pattern_mask(steps_per_beat: int, tolerance: float = DRUM_TOLERANCE) -> np.ndarray:
    """One beat's weights (steps_per_beat,): 1 on the pattern grid, ``tolerance`` one step off it,
    0 elsewhere. The grid is sixteenth notes (a "16-beat" pattern), or eighth notes where a
    sixteenth is a single step and a grid of every step would accept anything; the masks equal
    pypianoroll's ``drum_in_pattern_rate`` for 4, 6, 8, 12, 16 and 24 steps per beat."""
    if steps_per_beat % 4 == 0 and steps_per_beat >= 8:
        period = steps_per_beat // 4
    elif steps_per_beat % 2 == 0:
        period = steps_per_beat // 2
    else:
        raise ZooError(f"drum patterns need an even number of steps per beat, got {steps_per_beat}")
    phase = np.arange(steps_per_beat) % period
    distance = np.minimum(phase, period - phase)
    return np.where(distance == 0, 1.0, np.where(distance == 1, tolerance, 0.0))


def drum_pattern_rate(bars_NxRxBxSxP: np.ndarray, drum_track: int, steps_per_beat: int = 4,
                      tolerance: float = DRUM_TOLERANCE) -> float:
    """DP (Dong et al., 2018, sec. 5): the share of drum notes that fall in 8- or 16-beat patterns,
    "common ones for Rock songs in 4/4 time". Each drum onset is weighted by
    ``drum_pattern_mask`` at its position in the beat (1 on the grid, ``tolerance`` one step off);
    DP is the weighted count over the count of drum onsets.

    Returns a float; nan without drum notes."""
    on = _phrase_steps(_check(bars_NxRxBxSxP))
    if on.shape[2] % steps_per_beat:
        raise ZooError(f"{on.shape[2]} steps per phrase is not a whole number of beats of "
                       f"{steps_per_beat} steps")
    onsets_NxQ = _onsets(on[:, [drum_track]])[:, 0].sum(axis=-1)
    weights_Q = np.tile(drum_pattern_mask(steps_per_beat, tolerance), on.shape[2] // steps_per_beat)
    return float(_ratio((onsets_NxQ * weights_Q).sum(), onsets_NxQ.sum()))


def tonal_matrix(radii: tuple[float, float, float] = TONAL_RADII) -> np.ndarray:
    """(6, 12): pitch class -> 6-D tonal space of Harte, Sandler and Gasser (2006), "Detecting
    harmonic change in musical audio": circles of fifths, minor thirds and major thirds."""
    r1, r2, r3 = radii
    pc = np.arange(12)
    return np.stack([r1 * np.sin(pc * 7 * np.pi / 6), r1 * np.cos(pc * 7 * np.pi / 6),
                     r2 * np.sin(pc * 3 * np.pi / 2), r2 * np.cos(pc * 3 * np.pi / 2),
                     r3 * np.sin(pc * 2 * np.pi / 3), r3 * np.cos(pc * 2 * np.pi / 3)])


def tonal_centroids(chroma_Xx12: np.ndarray) -> np.ndarray:
    """(..., 12) chroma weights -> (..., 6) tonal centroids (Harte et al., 2006, eq. 2): the chroma
    normalised to sum 1, mapped by ``tonal_matrix``; nan where the chroma is all zero."""
    chroma = np.asarray(chroma_Xx12, np.float64)
    total = chroma.sum(axis=-1, keepdims=True)
    normed = np.divide(chroma, total, out=np.full(chroma.shape, np.nan), where=total > 0)
    return normed @ tonal_matrix().T


def tonal_distance(bars_NxRxBxSxP: np.ndarray, lowest_pitch: int = 24, steps_per_beat: int = 4
                   ) -> np.ndarray:
    """TD (Dong et al., 2018, sec. 5, after Harte et al., 2006): the harmonic distance between two
    tracks. For each beat, each track's chroma (sounding steps per pitch class over the beat) is
    mapped to its tonal centroid; TD is the Euclidean distance between the two tracks' centroids,
    averaged over the beats in which both play. Lower means the tracks agree harmonically.

    Returns a symmetric (R, R) matrix with a zero diagonal where the track plays; nan for pairs
    that never play in the same beat (e.g. an empty track)."""
    on = _phrase_steps(_check(bars_NxRxBxSxP))
    n, r, q, p = on.shape
    if q % steps_per_beat:
        raise ZooError(f"{q} steps per phrase is not a whole number of beats of {steps_per_beat}")
    beats_NxRxKxP = on.reshape(n, r, q // steps_per_beat, steps_per_beat, p).sum(axis=3)
    chroma_NxRxKx12 = beats_NxRxKxP @ _chroma_matrix(p, lowest_pitch)
    centroid_NxRxKx6 = tonal_centroids(chroma_NxRxKx12)
    diff_NxRxRxKx6 = centroid_NxRxKx6[:, :, None] - centroid_NxRxKx6[:, None, :]
    dist_NxRxRxK = np.sqrt((diff_NxRxRxKx6**2).sum(axis=-1))
    both = ~np.isnan(dist_NxRxRxK)
    return _ratio(np.where(both, dist_NxRxRxK, 0.0).sum(axis=(0, 3)), both.sum(axis=(0, 3)))


def musegan_metrics(bars_NxRxBxSxP: np.ndarray, drum_track: int | None = None,
                    lowest_pitch: int = 24, steps_per_beat: int = 4) -> dict:
    """All of MuseGAN's metrics (Dong et al., 2018, "MuseGAN: Multi-track sequential generative
    adversarial networks for symbolic music generation and accompaniment", AAAI, sec. 5) at once.

    Args:
      bars_NxRxBxSxP: phrases, nonzero = sounding; key p is MIDI pitch ``lowest_pitch + p``
        (MuseGAN: 84 keys from C1 = 24).
      drum_track: the index of the drum track, or None. Pitch metrics (UPC, QN, polyphonicity,
        TD) are nan for it, as MuseGAN reports them for pitched tracks only.
      steps_per_beat: time steps per quarter note (4 for 16 steps per 4/4 bar; MuseGAN: 24).

    Returns a dict of numpy values: "empty_bar_rate", "used_pitch_classes",
    "qualified_note_rate", "polyphonicity" (R,) each; "drum_pattern_rate" float (nan without a
    drum track); "tonal_distance" (R, R).
    """
    bars = np.asarray(bars_NxRxBxSxP)
    pitched = _drum_mask(_check(bars).shape[1], drum_track)
    nan_drums = np.where(pitched, 1.0, np.nan)
    return {
        "empty_bar_rate": empty_bar_rate(bars),
        "used_pitch_classes": used_pitch_classes(bars, lowest_pitch) * nan_drums,
        "qualified_note_rate": qualified_note_rate(bars) * nan_drums,
        "polyphonicity": polyphonicity(bars) * nan_drums,
        "drum_pattern_rate": (np.nan if drum_track is None
                              else drum_pattern_rate(bars, drum_track, steps_per_beat)),
        "tonal_distance": tonal_distance(bars, lowest_pitch, steps_per_beat)
        * nan_drums[:, None] * nan_drums[None, :],
    }
