"""Polyphony codec: Magenta's event order, decode repairs, exact round trips, transposition."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from note_seq.protobuf import music_pb2

from zoo.codecs import END, PAD, get_codec
from zoo.errors import SkipPiece

STEP = 0.125  # seconds per sixteenth note at 120 qpm
START, END_EVENT, STEP_END = 2, 3, 4
codec = get_codec("polyphony", min_steps=0)


def new(pitch):
    return 5 + pitch


def cont(pitch):
    return 5 + 128 + pitch


def sequence(notes) -> music_pb2.NoteSequence:
    """notes: (pitch, start_step, end_step) on the sixteenth grid at 120 qpm."""
    ns = music_pb2.NoteSequence()
    for pitch, start, end in notes:
        ns.notes.add(pitch=pitch, start_time=start * STEP, end_time=end * STEP, velocity=80)
    ns.total_time = max(end for _, _, end in notes) * STEP
    return ns


def grid_notes(ns):
    return sorted((n.pitch, round(n.start_time / STEP), round(n.end_time / STEP)) for n in ns.notes)


def test_vocab_size():
    assert codec.vocab_size == 261


def test_steps_list_notes_by_descending_pitch_as_magenta():
    # C4 for two steps, E4 and G3 from the second step for one step
    ids = codec.encode(sequence([(60, 0, 2), (64, 1, 2), (55, 1, 2)]))
    assert ids.tolist() == [START, new(60), STEP_END, new(64), cont(60), new(55), STEP_END,
                            END_EVENT]
    assert ids.tolist() == [2, 65, 4, 69, 193, 60, 4, 3]


def test_repeated_pitch_and_leading_silence():
    ids = codec.encode(sequence([(60, 1, 2), (60, 2, 3)]))
    assert ids.tolist() == [START, STEP_END, new(60), STEP_END, new(60), STEP_END, END_EVENT]


def test_min_steps_and_no_notes_skip():
    with pytest.raises(SkipPiece, match="too short"):
        get_codec("polyphony").encode(sequence([(60, 0, 79)]))
    assert len(get_codec("polyphony").encode(sequence([(60, 0, 80)]))) == 2 + 2 * 80
    ns = sequence([(60, 0, 1)])
    ns.notes[0].is_drum = True
    with pytest.raises(SkipPiece, match="no notes"):
        codec.encode(ns)


def test_decode_repairs():
    ids = [START, cont(60), STEP_END, START, cont(60), cont(60), STEP_END, new(62), END_EVENT,
           new(70), STEP_END]
    # step 0: CONTINUED 60 has nothing to continue, so it starts a note; step 1: the second START
    # is ignored, one CONTINUED 60 holds that note and the other starts a second 60; step 2: no
    # 60 is continued, both end; 62 starts and the END event closes its step; the rest is ignored
    assert grid_notes(codec.decode(np.array(ids))) == [(60, 0, 2), (60, 1, 2), (62, 2, 3)]


def test_decode_specials_and_truncated_ids():
    ids = [START, new(60), STEP_END, PAD, cont(60), END, new(70)]
    assert grid_notes(codec.decode(np.array(ids))) == [(60, 0, 2)]
    assert grid_notes(codec.decode(np.array([new(60), STEP_END]))) == [(60, 0, 1)]


@st.composite
def grid_pieces(draw, lowest=0, highest=127):
    """Notes on the sixteenth grid; a pitch never overlaps itself (it may touch)."""
    notes = []
    for _ in range(draw(st.integers(1, 25))):
        pitch = draw(st.integers(lowest, highest))
        start = draw(st.integers(0, 60))
        end = start + draw(st.integers(1, 20))
        if all(e <= start or s >= end for p, s, e in notes if p == pitch):
            notes.append((pitch, start, end))
    return notes


@settings(max_examples=50, deadline=None)
@given(grid_pieces())
def test_grid_piece_round_trips_exactly(notes):
    ids = codec.encode(sequence(notes))
    assert grid_notes(codec.decode(ids)) == sorted(notes)
    assert codec.encode(codec.decode(ids)).tolist() == ids.tolist()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(58, 62), st.floats(0, 5), st.floats(0.01, 2)),
                min_size=1, max_size=30))
def test_encode_decode_encode_is_exact_with_overlapping_unisons(notes):
    ns = music_pb2.NoteSequence()
    for pitch, start, length in notes:
        ns.notes.add(pitch=pitch, start_time=start, end_time=start + length, velocity=90)
    ids = codec.encode(ns)
    assert codec.encode(codec.decode(ids)).tolist() == ids.tolist()


@settings(max_examples=50, deadline=None)
@given(grid_pieces(lowest=100), st.integers(-20, 30))
def test_transpose_equals_encoding_the_transposed_piece(notes, semitones):
    moved = codec.transpose(codec.encode(sequence(notes)), semitones)
    in_range = all(0 <= p + semitones <= 127 for p, _, _ in notes)
    assert (moved is not None) == in_range
    if in_range:
        shifted = [(p + semitones, s, e) for p, s, e in notes]
        assert moved.tolist() == codec.encode(sequence(shifted)).tolist()
