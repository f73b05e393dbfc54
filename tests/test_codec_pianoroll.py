"""Piano-roll codec: the onset sampling rule, exact round trips, transposition, MuseGAN phrases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from note_seq.protobuf import music_pb2

from zoo.codecs import get_codec
from zoo.errors import SkipPiece

QUARTER = 0.5  # seconds at 120 qpm
codec = get_codec("pianoroll")  # 21..108, one frame per quarter


def sequence(notes) -> music_pb2.NoteSequence:
    """notes: (pitch, start_quarter, end_quarter[, part]) at 120 qpm; quarters may be fractions."""
    ns = music_pb2.NoteSequence()
    ns.tempos.add(qpm=120)
    for pitch, start, end, *part in notes:
        ns.notes.add(pitch=pitch, start_time=start * QUARTER, end_time=end * QUARTER,
                     velocity=80, part=part[0] if part else 0)
    ns.total_time = max(n.end_time for n in ns.notes)
    return ns


def grid_notes(ns, seconds=QUARTER):
    return sorted((n.pitch, round(n.start_time / seconds), round(n.end_time / seconds))
                  for n in ns.notes)


def test_vocab_size_is_the_88_keys():
    assert codec.vocab_size == 88


def test_a_note_sounds_in_the_frames_whose_onset_it_covers():
    frames = codec.encode(sequence(
        [(60, 0, 2), (64, 1.5, 2.5), (67, 0.25, 0.75), (21, 3, 4), (80, 4.5, 4.75)]))
    assert frames.dtype == np.uint8 and frames.shape == (4, 88)
    # 64 covers only frame 2's onset; 67 and 80 cover none, so the roll ends with 21's frame
    assert [np.flatnonzero(f).tolist() for f in frames] == [[60 - 21], [60 - 21], [64 - 21], [0]]


def test_out_of_range_and_drum_notes_are_left_out():
    ns = sequence([(20, 0, 1), (109, 0, 1), (60, 1, 2)])
    ns.notes.add(pitch=40, start_time=0, end_time=1, velocity=80, is_drum=True)
    assert np.argwhere(codec.encode(ns)).tolist() == [[1, 60 - 21]]
    with pytest.raises(SkipPiece, match="no notes"):
        codec.encode(sequence([(20, 0, 1)]))


def test_decode_makes_one_note_per_run():
    frames = np.zeros((5, 88), np.uint8)
    frames[0:2, 39] = frames[3:5, 39] = frames[1:4, 43] = 1
    ns = codec.decode(frames)
    assert grid_notes(ns) == [(60, 0, 2), (60, 3, 5), (64, 1, 4)]
    assert ns.tempos[0].qpm == 120 and ns.total_time == 5 * QUARTER


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.uint8, st.tuples(st.integers(0, 30), st.just(88)), elements=st.integers(0, 1)))
def test_encode_decode_is_exact_on_any_roll(frames):
    if not frames.any():
        return
    last = np.flatnonzero(frames.any(axis=1))[-1]
    assert np.array_equal(codec.encode(codec.decode(frames)), frames[: last + 1])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 127), st.floats(0, 20), st.floats(0.01, 3)), min_size=1,
                max_size=25))
def test_encode_decode_encode_is_exact_on_any_piece(notes):
    ns = sequence([(pitch, start, start + length) for pitch, start, length in notes])
    try:
        frames = codec.encode(ns)
    except SkipPiece:
        return
    assert np.array_equal(codec.encode(codec.decode(frames)), frames)


@st.composite
def grid_pieces(draw):
    """Notes on whole quarters; a key never overlaps or touches itself."""
    notes = []
    for _ in range(draw(st.integers(1, 25))):
        pitch = draw(st.integers(21, 108))
        start = draw(st.integers(0, 40))
        end = start + draw(st.integers(1, 8))
        if all(e < start or s > end for p, s, e in notes if p == pitch):
            notes.append((pitch, start, end))
    return notes


@settings(max_examples=50, deadline=None)
@given(grid_pieces())
def test_piece_on_the_grid_round_trips_exactly(notes):
    assert grid_notes(codec.decode(codec.encode(sequence(notes)))) == sorted(notes)


@settings(max_examples=50, deadline=None)
@given(grid_pieces(), st.integers(-30, 30))
def test_transpose_equals_encoding_the_transposed_piece(notes, semitones):
    moved = codec.transpose(codec.encode(sequence(notes)), semitones)
    in_range = all(21 <= p + semitones <= 108 for p, _, _ in notes)
    assert (moved is not None) == in_range
    if in_range:
        shifted = [(p + semitones, s, e) for p, s, e in notes]
        assert np.array_equal(moved, codec.encode(sequence(shifted)))


def two_part_piece():
    """Nine bars of 4/4: part 0 sings C5 on every beat, part 1 holds G3 a whole bar at a time."""
    soprano = [(72, q, q + 1, 0) for q in range(36)]
    bass = [(55, 4 * b, 4 * b + 4, 1) for b in range(9)]
    return sequence(soprano + bass)


def test_encode_bars_gives_one_track_per_part_and_whole_phrases():
    phrases = codec.encode_bars(two_part_piece(), num_bars=4, steps_per_bar=16)
    assert len(phrases) == 2  # 9 bars: two 4-bar phrases, the ninth bar dropped
    for phrase in phrases:
        assert phrase.dtype == np.uint8 and phrase.shape == (2, 4, 16, 88)
        assert np.array_equal(np.flatnonzero(phrase[0, 0].any(axis=0)), [72 - 21])
        assert phrase[0, :, :, 72 - 21].sum() == 4 * 16 and phrase[1, :, :, 55 - 21].all()
    assert [p.shape for p in codec.encode_bars(two_part_piece(), num_bars=2, tracks=[1])] == [
        (1, 2, 16, 88)] * 4


def test_encode_bars_follows_the_meter_and_its_bar_lines():
    ns = sequence([(60, 0, 36), (80, 4, 5)])
    ns.time_signatures.add(numerator=1, denominator=4, time=0.0)  # a one-quarter pickup bar
    ns.time_signatures.add(numerator=3, denominator=4, time=QUARTER)
    phrases = codec.encode_bars(ns, num_bars=1, steps_per_bar=3)
    assert len(phrases) == 11  # bars of 3 quarters from quarter 1 to quarter 34
    assert phrases[0].shape == (1, 1, 3, 88)
    # bars start on quarter 1, so quarter 4 is the first frame of the second bar
    assert np.argwhere(phrases[1][0, 0, :, 80 - 21]).tolist() == [[0]]


def test_decode_bars_makes_one_instrument_per_track():
    phrase = codec.encode_bars(two_part_piece(), num_bars=4, steps_per_bar=4)[0]
    ns = codec.decode_bars(phrase)
    assert sorted({n.instrument for n in ns.notes}) == [0, 1]
    # a key held across bar lines is one note; so are repeated quarters, which touch
    assert [(n.pitch, n.start_time, n.end_time) for n in ns.notes if n.instrument == 1] == [
        (55, 0.0, 8.0)]
    assert [(n.pitch, n.start_time, n.end_time) for n in ns.notes if n.instrument == 0] == [
        (72, 0.0, 8.0)]
    assert codec.transpose(phrase, 5).shape == phrase.shape
