"""Music statistics on hand-made pieces whose values are known by hand."""

import math

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from zoo.errors import ZooError
from zoo.eval import Notes, distances, pitch, rhythm
from zoo.eval.multitrack import drum_pattern_mask, musegan_metrics, tonal_matrix

C_MAJOR_SCALE = [60, 62, 64, 65, 67, 69, 71, 72]


def quarters(pitches, **kw) -> Notes:
    """One quarter note (4 steps) per pitch, in order."""
    start = np.arange(len(pitches)) * 4
    return Notes.from_arrays(pitches, start, start + 4, **kw)


def test_pitch_statistics_of_a_c_major_scale():
    n = quarters(C_MAJOR_SCALE)
    assert pitch.scale_consistency(n) == 1.0
    assert pitch.scale_fit(n) == (1.0, 0, "major")
    assert pitch.in_scale_rate(n) == 1.0
    assert pitch.pitch_range(n) == 12
    assert pitch.num_pitches(n) == 8
    assert pitch.num_pitch_classes(n) == 7
    # C twice, six other classes once: -(1/4 log2 1/4 + 6/8 log2 1/8) = 0.5 + 2.25
    assert pitch.pitch_class_entropy(n) == pytest.approx(2.75)
    assert pitch.pitch_class_histogram(n)[[0, 1, 2]] == pytest.approx([0.25, 0, 0.125])
    assert pitch.mean_abs_interval(n) == pytest.approx(12 / 7)


def test_scales_other_than_c_major():
    g_major = quarters([67, 69, 71, 72, 74, 76, 78, 79])
    assert pitch.scale_fit(g_major) == (1.0, 7, "major")
    assert pitch.in_scale_rate(g_major) == pytest.approx(7 / 8)  # F# is not in C major
    assert pitch.in_scale_rate(g_major, root=7) == 1.0
    # E harmonic minor: D# fits no major or natural minor scale holding all the rest
    e_harmonic = quarters([64, 66, 67, 69, 71, 72, 75, 76])
    assert pitch.scale_consistency(e_harmonic) == pytest.approx(7 / 8)
    chromatic = quarters(range(60, 72))
    assert pitch.scale_consistency(chromatic) == pytest.approx(7 / 12)
    assert pitch.pitch_class_entropy(chromatic) == pytest.approx(math.log2(12))


def test_empty_beats_and_bars_are_counted():
    # bar 0: a whole note; bar 1: silent; bar 2: one quarter note on its first beat
    n = Notes.from_arrays([60, 64], [0, 32], [16, 36])
    assert rhythm.empty_bar_rate(n) == pytest.approx(1 / 3)
    assert rhythm.empty_beat_rate(n) == pytest.approx(4 / 9)  # 9 beats up to the last offset
    assert rhythm.empty_bar_rate(quarters(C_MAJOR_SCALE)) == 0.0


def test_polyphony_of_a_held_triad_then_a_single_note():
    n = Notes.from_arrays([60, 64, 67, 72], [0, 0, 0, 16], [16, 16, 16, 32])
    assert rhythm.polyphony(n) == pytest.approx(2.0)  # (16 * 3 + 16 * 1) / 32 sounding steps
    assert rhythm.polyphony_rate(n) == pytest.approx(0.5)
    assert rhythm.polyphony(quarters(C_MAJOR_SCALE)) == 1.0
    assert rhythm.polyphony_rate(quarters(C_MAJOR_SCALE)) == 0.0
    assert rhythm.note_density(n) == pytest.approx(4 / 8)


def test_duration_histogram_density_and_inter_onset():
    # a quarter, an eighth, a dotted quarter and a whole note, one after another
    lengths = np.array([4, 2, 6, 16])
    start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    h = rhythm.duration_histogram(Notes.from_arrays([60] * 4, start, start + lengths))
    names = dict(zip(rhythm.DURATION_NAMES, h))
    assert names["1/4"] == names["1/8"] == names["1/4."] == names["1"] == 0.25
    assert h.sum() == pytest.approx(1.0)
    scale = quarters(C_MAJOR_SCALE)
    assert rhythm.note_density(scale) == 1.0
    assert rhythm.mean_inter_onset_interval(scale) == 1.0
    assert rhythm.mean_duration(scale) == 1.0


def test_groove_consistency():
    same_bars = quarters(C_MAJOR_SCALE)  # two bars of four quarters
    assert rhythm.groove_consistency(same_bars) == 1.0
    # bar 0: onsets every 4 steps; bar 1: every 2 steps -> 4 of 16 positions differ
    start = np.concatenate([np.arange(0, 16, 4), np.arange(16, 32, 2)])
    n = Notes.from_arrays(np.full(start.size, 60), start, start + 1)
    assert rhythm.groove_consistency(n) == pytest.approx(0.75)
    assert math.isnan(rhythm.groove_consistency(quarters([60, 62])))  # one bar


def test_notes_from_a_sequence_use_tempo_and_meter():
    ns = music_pb2.NoteSequence()
    ns.tempos.add(qpm=90)  # a quarter lasts 2/3 s
    ns.time_signatures.add(numerator=6, denominator=8)
    ns.notes.add(pitch=62, start_time=2 / 3, end_time=1.0, velocity=80)
    ns.notes.add(pitch=60, start_time=0.0, end_time=2 / 3, velocity=80)
    ns.notes.add(pitch=36, start_time=0.0, end_time=0.1, velocity=80, is_drum=True)
    n = Notes.from_sequence(ns)
    assert n.start.tolist() == [0, 0, 4] and n.end.tolist() == [1, 4, 6]
    assert n.pitch.tolist() == [36, 60, 62]
    assert (n.steps_per_beat, n.steps_per_bar) == (2, 12)  # eighth-note beats, 6 per bar
    assert pitch.pitch_range(n) == 2  # the drum is not a pitch
    empty = Notes.from_sequence(music_pb2.NoteSequence())
    assert math.isnan(pitch.scale_consistency(empty)) and math.isnan(rhythm.polyphony(empty))


def test_distances_between_value_sets():
    same = distances.compare_values([1, 2, 3, 4], [1, 2, 3, 4])
    assert same == {"overlap": 1.0, "kl": 0.0}
    apart = distances.compare_values([0, 0, 0], [9, 9, 9])
    assert apart["overlap"] == 0.0 and apart["kl"] > 3.0
    half = distances.compare_values([0, 0, 5, 5], [5, 5, 10, 10])
    assert half["overlap"] == pytest.approx(0.5)
    p = np.array([0.5, 0.5, 0.0])
    q = np.array([0.0, 0.5, 0.5])
    eps = distances.SMOOTHING
    ps, qs = (1 - eps) * p + eps / 3, (1 - eps) * q + eps / 3
    assert distances.kl_divergence(p, q) == pytest.approx((ps * np.log(ps / qs)).sum())
    h = distances.compare_histograms(np.eye(3)[[0, 0, 1, 1]], np.eye(3)[[1, 1, 2, 2]])
    assert h["overlap"] == pytest.approx(0.5)
    assert h["euclidean"] == pytest.approx(np.linalg.norm(p - q))


def _phrases(n=2, tracks=3, bars=4, steps=16, keys=84):
    return np.zeros((n, tracks, bars, steps, keys), np.uint8)


def test_musegan_empty_bars_pitch_classes_and_qualified_notes():
    x = _phrases()
    x[:, 1, :, 0:8, 36] = 1          # track 1: a C (MIDI 60) for half of every bar...
    x[:, 1, :, 8:16, 43] = 1         # ...then a G
    x[0, 1, 2] = 0                   # one empty bar of 8
    x[0, 2, 0, 0, 40] = 1            # track 2: notes of 1, 3 and 5 steps in one bar
    x[0, 2, 0, 2:5, 41] = 1
    x[0, 2, 0, 6:11, 42] = 1
    m = musegan_metrics(x, lowest_pitch=24)
    assert m["empty_bar_rate"].tolist() == [1.0, 1 / 8, 7 / 8]
    assert m["used_pitch_classes"][1] == 2.0 and m["used_pitch_classes"][2] == 3.0
    assert math.isnan(m["used_pitch_classes"][0])  # a track that never plays
    assert m["qualified_note_rate"][2] == pytest.approx(2 / 3)
    assert m["qualified_note_rate"][1] == 1.0
    assert m["polyphonicity"][1] == 0.0
    assert math.isnan(m["drum_pattern_rate"])


def test_musegan_polyphonicity_and_drum_pattern():
    x = _phrases(n=1, tracks=2, bars=1)
    x[0, 1, 0, 0:4, [36, 40, 43]] = 1  # a triad for 4 steps, then one note for 4
    x[0, 1, 0, 4:8, 36] = 1
    # drums at 4 steps per beat: the pattern is eighth notes, a sixteenth off it weighs 0.1
    x[0, 0, 0, [0, 2, 4, 6], 12] = 1
    x[0, 0, 0, [1, 3], 14] = 1
    m = musegan_metrics(x, drum_track=0, steps_per_beat=4)
    assert m["polyphonicity"][1] == pytest.approx(0.5)
    assert m["drum_pattern_rate"] == pytest.approx((4 + 2 * 0.1) / 6)
    assert math.isnan(m["used_pitch_classes"][0])  # no pitch metrics for the drums
    assert drum_pattern_mask(24).tolist() == [1.0, 0.1, 0, 0, 0, 0.1] * 4  # MuseGAN's grid
    assert drum_pattern_mask(12).tolist() == [1.0, 0.1, 0.1] * 4
    with pytest.raises(ZooError):
        drum_pattern_mask(3)


def test_musegan_tonal_distance():
    x = _phrases(n=1, tracks=4, bars=1, steps=4)
    c_major, f_sharp_major = [36, 40, 43], [42, 46, 49]
    x[0, 0, 0, :, c_major] = 1
    x[0, 1, 0, :, [c + 12 for c in c_major]] = 1  # the same chord an octave up
    x[0, 2, 0, :, f_sharp_major] = 1             # track 3 stays empty
    td = musegan_metrics(x, steps_per_beat=4)["tonal_distance"]
    assert td[0, 1] == pytest.approx(0.0, abs=1e-12) and td[0, 0] == 0.0
    centroid = lambda pcs: tonal_matrix()[:, pcs].mean(axis=1)  # noqa: E731
    expected = np.linalg.norm(centroid([0, 4, 7]) - centroid([6, 10, 1]))
    assert td[0, 2] == pytest.approx(expected) and td[2, 0] == pytest.approx(expected)
    assert expected > 1.0  # a tritone apart: far in tonal space
    assert np.isnan(td[3]).all() and np.isnan(td[:, 3]).all()
