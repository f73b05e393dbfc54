"""Drum codec: literal ids, drum classes, exact round trips, transposition is the identity."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from note_seq.drums_encoder_decoder import DEFAULT_DRUM_TYPE_PITCHES
from note_seq.protobuf import music_pb2

from zoo.codecs import END, PAD, get_codec
from zoo.errors import SkipPiece

STEP = 0.125  # seconds per sixteenth note at 120 qpm
EMPTY = 2
KICK, SNARE, CLOSED_HAT = 36, 38, 42
CLASS_PITCHES = [36, 38, 42, 46, 45, 48, 50, 49, 51]  # the pitch decode writes for each class
KNOWN_PITCHES = {p for pitches in DEFAULT_DRUM_TYPE_PITCHES for p in pitches}
codec = get_codec("drums", min_bars=0)


def hit(*classes):
    """Id of a step striking these drum classes (bit i = class i)."""
    return EMPTY + sum(2**c for c in classes)


def sequence(hits, is_drum=True) -> music_pb2.NoteSequence:
    """hits: (pitch, step) on the sixteenth grid at 120 qpm; each hit lasts half a step."""
    ns = music_pb2.NoteSequence()
    for pitch, step in hits:
        ns.notes.add(pitch=pitch, start_time=step * STEP, end_time=(step + 0.5) * STEP,
                     velocity=100, is_drum=is_drum, instrument=9)
    ns.total_time = max(step + 1 for _, step in hits) * STEP
    return ns


def grid_hits(ns):
    return sorted((n.pitch, round(n.start_time / STEP)) for n in ns.notes)


def test_vocab_size():
    assert codec.vocab_size == 514


def test_kick_and_hat_then_snare():
    ids = codec.encode(sequence([(KICK, 0), (CLOSED_HAT, 0), (SNARE, 4)]))
    assert ids.tolist() == [hit(0, 2), EMPTY, EMPTY, EMPTY, hit(1)]
    assert ids.tolist() == [7, 2, 2, 2, 4]


def test_pitches_map_to_their_class_and_unknown_pitches_are_ignored():
    ids = codec.encode(sequence([(35, 1), (36, 1), (40, 2), (100, 3), (10, 5)]))
    assert ids.tolist() == [EMPTY, hit(0), hit(1)]


def test_pitched_notes_are_not_drums():
    with pytest.raises(SkipPiece, match="no drums"):
        codec.encode(sequence([(KICK, 0)], is_drum=False))
    with pytest.raises(SkipPiece, match="no drums"):
        codec.encode(sequence([(100, 0)]))


def test_min_bars_counts_bars_of_sixteen_steps():
    assert len(get_codec("drums").encode(sequence([(KICK, 0), (KICK, 16 * 6)]))) == 16 * 6 + 1
    with pytest.raises(SkipPiece, match="too short"):
        get_codec("drums").encode(sequence([(KICK, 0), (KICK, 16 * 6 - 1)]))


def test_transpose_returns_ids_unchanged():
    ids = codec.encode(sequence([(KICK, 0), (SNARE, 4)]))
    for semitones in (-12, 0, 5):
        assert codec.transpose(ids, semitones).tolist() == ids.tolist()


def test_decode_writes_one_step_drum_notes_and_handles_specials():
    ns = codec.decode(np.array([hit(0, 1), PAD, EMPTY, hit(8), END, hit(2)]))
    assert grid_hits(ns) == [(KICK, 0), (SNARE, 0), (51, 2)]
    assert all(n.is_drum and n.end_time - n.start_time == STEP for n in ns.notes)


@st.composite
def canonical_hits(draw):
    """Hits at each class's decode pitch, the first one in the first bar."""
    first = draw(st.integers(0, 15))
    hits = {(draw(st.sampled_from(CLASS_PITCHES)), first)}
    for _ in range(draw(st.integers(0, 40))):
        hits.add((draw(st.sampled_from(CLASS_PITCHES)), draw(st.integers(first, 200))))
    return sorted(hits)


@settings(max_examples=50, deadline=None)
@given(canonical_hits())
def test_drum_track_round_trips_exactly(hits):
    ids = codec.encode(sequence(hits))
    assert grid_hits(codec.decode(ids)) == hits
    assert codec.encode(codec.decode(ids)).tolist() == ids.tolist()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 127), st.floats(0, 300)), min_size=1, max_size=40))
def test_encode_decode_encode_is_exact_on_any_drums(hits):
    try:
        ids = codec.encode(sequence(hits))
    except SkipPiece:
        assert not any(p in KNOWN_PITCHES for p, _ in hits)
        return
    assert codec.encode(codec.decode(ids)).tolist() == ids.tolist()

