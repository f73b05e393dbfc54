"""Performance codecs: literal ids, exact round trips, transposition and time stretch."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from note_seq.protobuf import music_pb2

from zoo.codecs import END, PAD, get_codec
from zoo.errors import SkipPiece

STEP = 0.01  # seconds
performance = get_codec("performance")
novel = get_codec("performance_novel")


def on(pitch):
    return 2 + pitch


def off(pitch):
    return 2 + 128 + pitch


def shift(steps):
    return 2 + 256 + steps - 1


def velocity(bin_):
    return 2 + 356 + bin_ - 1


def sequence(notes) -> music_pb2.NoteSequence:
    """notes: (pitch, start_step, end_step, velocity) on the 10 ms grid."""
    ns = music_pb2.NoteSequence()
    for pitch, start, end, vel in notes:
        ns.notes.add(pitch=pitch, start_time=start * STEP, end_time=end * STEP, velocity=vel)
    ns.total_time = max(end for _, _, end, _ in notes) * STEP
    return ns


def grid_notes(ns):
    return sorted((n.pitch, round(n.start_time / STEP), round(n.end_time / STEP), n.velocity)
                  for n in ns.notes)


def test_vocab_sizes():
    assert performance.vocab_size == 390
    assert novel.vocab_size == 358


def test_two_notes_literal_ids():
    ns = sequence([(60, 0, 50, 80), (64, 50, 200, 100)])
    # velocity 80 is bin 20 and 100 is bin 25 (bins of 4 from velocity 1)
    assert performance.encode(ns).tolist() == [
        velocity(20), on(60), shift(50), off(60), velocity(25), on(64), shift(100), shift(50),
        off(64)]
    assert performance.encode(ns).tolist() == [377, 62, 307, 190, 382, 66, 357, 307, 194]
    assert novel.encode(ns).tolist() == [on(60), shift(50), off(60), on(64), shift(100),
                                         shift(50), off(64)]


def test_leading_silence_is_kept_and_chords_share_a_velocity_event():
    ns = sequence([(67, 30, 40, 100), (60, 30, 40, 100)])
    assert performance.encode(ns).tolist() == [
        shift(30), velocity(25), on(60), on(67), shift(10), off(60), off(67)]


def test_drums_are_excluded_and_sustain_pedal_holds_notes():
    ns = sequence([(60, 0, 10, 100), (36, 0, 10, 100)])
    ns.notes[1].is_drum = True
    ns.control_changes.add(time=0.0, control_number=64, control_value=127)
    ns.control_changes.add(time=0.5, control_number=64, control_value=0)
    assert novel.encode(ns).tolist() == [on(60), shift(50), off(60)]
    assert get_codec("performance_novel", apply_sustain=False).encode(ns).tolist() == [
        on(60), shift(10), off(60)]
    ns.notes.pop(0)
    with pytest.raises(SkipPiece, match="no notes"):
        novel.encode(ns)


def test_decode_repairs_and_specials():
    ids = [off(61), on(60), shift(5), PAD, on(62), off(62), shift(5), END, off(60)]
    # the stray NOTE_OFF is ignored, the zero-length 62 dropped, the unfinished 60 ends at the end
    assert grid_notes(novel.decode(np.array(ids))) == [(60, 0, 10, 100)]


@st.composite
def grid_performances(draw):
    """Quantized notes with binned velocities; one pitch never overlaps itself."""
    notes = []
    for _ in range(draw(st.integers(1, 30))):
        pitch = draw(st.integers(0, 127))
        start = draw(st.integers(0, 400))
        end = start + draw(st.integers(1, 250))
        if all(e <= start or s >= end for p, s, e, _ in notes if p == pitch):
            notes.append((pitch, start, end, 1 + 4 * draw(st.integers(0, 31))))
    return notes or [(60, 0, 1, 1)]


@st.composite
def any_performances(draw):
    """Off-grid times, overlapping notes of one pitch, any velocity, sub-step notes."""
    ns = music_pb2.NoteSequence()
    for _ in range(draw(st.integers(1, 30))):
        start = draw(st.floats(0, 5))
        ns.notes.add(pitch=draw(st.integers(50, 60)), start_time=start,
                     end_time=start + draw(st.floats(0.001, 3)),
                     velocity=draw(st.integers(1, 127)))
    ns.total_time = max(n.end_time for n in ns.notes)
    return ns


@settings(max_examples=50, deadline=None)
@given(grid_performances())
def test_quantized_performance_round_trips_exactly(notes):
    ids = performance.encode(sequence(notes))
    assert grid_notes(performance.decode(ids)) == sorted(notes)
    assert performance.encode(performance.decode(ids)).tolist() == ids.tolist()


@settings(max_examples=50, deadline=None)
@given(any_performances())
def test_encode_decode_encode_is_exact_on_any_performance(ns):
    for codec in (performance, novel):
        ids = codec.encode(ns)
        assert ids.min() >= 2 and ids.max() < codec.vocab_size
        assert codec.encode(codec.decode(ids)).tolist() == ids.tolist()


@settings(max_examples=50, deadline=None)
@given(grid_performances(), st.integers(-30, 30))
def test_transpose_equals_encoding_the_transposed_performance(notes, semitones):
    moved = performance.transpose(performance.encode(sequence(notes)), semitones)
    in_range = all(0 <= p + semitones <= 127 for p, _, _, _ in notes)
    assert (moved is not None) == in_range
    if in_range:
        shifted = [(p + semitones, s, e, v) for p, s, e, v in notes]
        assert moved.tolist() == performance.encode(sequence(shifted)).tolist()


def _total_shift(ids):
    ids = np.asarray(ids)
    is_shift = (ids >= shift(1)) & (ids <= shift(100))
    return int((ids[is_shift] - shift(1) + 1).sum())


@settings(max_examples=50, deadline=None)
@given(grid_performances(), st.sampled_from([0.5, 0.95, 1.0, 1.05, 2.0, 3.3]))
def test_stretch_scales_time_and_keeps_every_other_event_in_order(notes, factor):
    ids = performance.encode(sequence(notes))
    stretched = performance.stretch(ids, factor)
    is_shift = (stretched >= shift(1)) & (stretched <= shift(100))
    assert stretched[~is_shift].tolist() == [i for i in ids.tolist() if not shift(1) <= i <= shift(100)]
    if factor >= 1:  # below 1 a gap may not shrink to nothing, so the total can run long
        assert abs(_total_shift(stretched) - factor * _total_shift(ids)) <= 0.5
    # runs of shifts are merged and re-split: only the last shift of a run is below the maximum
    runs = np.split(stretched, np.flatnonzero(~is_shift))
    for run in runs:
        shifts = run[(run >= shift(1)) & (run <= shift(100))]
        assert all(s == shift(100) for s in shifts[:-1])
    if factor == 1.0:
        assert stretched.tolist() == ids.tolist()
    if factor == 2.0:
        assert grid_notes(performance.decode(stretched)) == sorted(
            (p, 2 * s, 2 * e, v) for p, s, e, v in notes)
