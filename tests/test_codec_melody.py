"""Melody codec: literal ids, Magenta's data rules, exact round trips, transposition."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from note_seq.protobuf import music_pb2

from zoo.codecs import END, PAD, get_codec
from zoo.errors import SkipPiece

STEP = 0.125  # seconds per sixteenth note at 120 qpm
NO_EVENT, NOTE_OFF = 2, 3
codec = get_codec("melody", min_bars=0, min_unique_pitches=0)


def on(pitch: int) -> int:
    return 4 + pitch - 48


def sequence(notes, part_of=lambda note: 0) -> music_pb2.NoteSequence:
    """notes: (pitch, start_step, end_step) on the sixteenth grid at 120 qpm."""
    ns = music_pb2.NoteSequence()
    ns.tempos.add(qpm=120)
    for note in notes:
        pitch, start, end = note
        ns.notes.add(pitch=pitch, start_time=start * STEP, end_time=end * STEP, velocity=80,
                     part=part_of(note))
    ns.total_time = max((end for _, _, end in notes), default=0) * STEP
    return ns


def grid_notes(ns: music_pb2.NoteSequence) -> list[tuple[int, int, int]]:
    return sorted((n.pitch, round(n.start_time / STEP), round(n.end_time / STEP)) for n in ns.notes)


def test_vocab_size():
    assert codec.vocab_size == 40


def test_c4_quarter_then_e4_quarter():
    ids = codec.encode(sequence([(60, 0, 4), (64, 4, 8)]))
    assert ids.dtype == np.int32
    assert ids.tolist() == [on(60), NO_EVENT, NO_EVENT, NO_EVENT, on(64), NO_EVENT, NO_EVENT, NO_EVENT]
    assert ids.tolist() == [16, 2, 2, 2, 20, 2, 2, 2]


def test_rest_is_note_off_and_leading_rest_kept_within_the_bar():
    ids = codec.encode(sequence([(60, 1, 2), (62, 3, 4)]))
    assert ids.tolist() == [NO_EVENT, on(60), NOTE_OFF, on(62)]


def test_whole_empty_bars_before_the_first_note_are_dropped():
    ids = codec.encode(sequence([(60, 16 * 3 + 2, 16 * 3 + 4)]))
    assert ids.tolist() == [NO_EVENT, NO_EVENT, on(60), NO_EVENT]


def test_simultaneous_onsets_keep_the_highest_and_a_later_onset_cuts_a_held_note():
    ids = codec.encode(sequence([(60, 0, 4), (67, 0, 2), (64, 2, 4), (72, 3, 4)]))
    assert ids.tolist() == [on(67), NO_EVENT, on(64), on(72)]


def test_melody_is_the_highest_voice():
    soprano, alto = [(72, 0, 4), (74, 4, 8)], [(60, 0, 2), (62, 2, 8)]
    ns = sequence(soprano + alto, part_of=lambda note: 0 if note in soprano else 1)
    assert codec.encode(ns).tolist() == [on(72), 2, 2, 2, on(74), 2, 2, 2]


def test_notes_out_of_range_move_by_octaves():
    ids = codec.encode(sequence([(30, 0, 1), (90, 1, 2)]))
    assert ids.tolist() == [on(54), on(78)]


def test_drums_are_ignored_and_no_notes_skip():
    ns = sequence([(60, 0, 4)])
    ns.notes[0].is_drum = True
    with pytest.raises(SkipPiece, match="no notes"):
        codec.encode(ns)


def test_magenta_data_rules():
    melody = get_codec("melody")  # min_bars=7, min_unique_pitches=5
    pitches = [60, 62, 64, 65, 67]
    seven_bars = [(pitches[i % 5], 4 * i, 4 * i + 4) for i in range(4 * 6 + 1)]  # 6 bars + 1 step
    assert len(melody.encode(sequence(seven_bars))) == 6 * 16 + 4
    with pytest.raises(SkipPiece, match="too short"):
        melody.encode(sequence(seven_bars[:-1]))
    four_pitches = [(pitches[i % 4], 4 * i, 4 * i + 4) for i in range(4 * 7)]
    with pytest.raises(SkipPiece, match="too few pitches"):
        melody.encode(sequence(four_pitches))


def test_max_steps_cuts_and_never_ends_on_a_rest():
    ns = sequence([(60, 0, 2), (62, 4, 6)])
    assert get_codec("melody", min_bars=0, min_unique_pitches=0, max_steps=4).encode(ns).tolist() \
        == [on(60), NO_EVENT]


def test_decode_ignores_pad_and_stops_at_end():
    ns = codec.decode(np.array([on(60), PAD, NO_EVENT, NOTE_OFF, END, on(62)]))
    assert grid_notes(ns) == [(60, 0, 2)]
    assert ns.tempos[0].qpm == 120


@st.composite
def monophonic_melodies(draw):
    """In-range melodies on the sixteenth grid, first note in the first bar."""
    notes, step = [], draw(st.integers(0, 15))
    for _ in range(draw(st.integers(1, 20))):
        length = draw(st.integers(1, 12))
        notes.append((draw(st.integers(48, 83)), step, step + length))
        step += length + draw(st.sampled_from([0, 0, 1, 3, 17]))
    return notes


@st.composite
def any_notes(draw, max_notes=25):
    """Anything: overlapping voices, any pitch, off-grid times (seconds), several parts."""
    notes = music_pb2.NoteSequence()
    for _ in range(draw(st.integers(1, max_notes))):
        start = draw(st.floats(0, 8))
        notes.notes.add(pitch=draw(st.integers(0, 127)), start_time=start,
                        end_time=start + draw(st.floats(0.01, 2)), velocity=90,
                        part=draw(st.integers(0, 2)))
    notes.total_time = max(n.end_time for n in notes.notes)
    return notes


@settings(max_examples=50, deadline=None)
@given(monophonic_melodies())
def test_monophonic_in_range_melody_round_trips_exactly(notes):
    ids = codec.encode(sequence(notes))
    assert grid_notes(codec.decode(ids)) == sorted(notes)
    assert codec.encode(codec.decode(ids)).tolist() == ids.tolist()


@settings(max_examples=50, deadline=None)
@given(any_notes())
def test_encode_decode_encode_is_exact_on_any_piece(ns):
    ids = codec.encode(ns)
    assert ids.min() >= 2 and ids.max() < codec.vocab_size
    assert codec.encode(codec.decode(ids)).tolist() == ids.tolist()


@settings(max_examples=50, deadline=None)
@given(monophonic_melodies(), st.integers(-14, 14))
def test_transpose_equals_encoding_the_transposed_melody(notes, semitones):
    moved = codec.transpose(codec.encode(sequence(notes)), semitones)
    in_range = all(48 <= p + semitones < 84 for p, _, _ in notes)
    assert (moved is not None) == in_range
    if in_range:
        shifted = [(p + semitones, s, e) for p, s, e in notes]
        assert moved.tolist() == codec.encode(sequence(shifted)).tolist()
