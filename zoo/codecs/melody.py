"""Monophonic melody codec: Magenta's melody_rnn one-hot scheme (note-seq ``MelodyOneHotEncoding``).

One event per sixteenth note (4 steps per quarter): NO_EVENT (hold the note or the rest),
NOTE_OFF, or NOTE_ON(pitch) for pitch in [min_note, max_note). With the defaults that is
2 + 36 = 38 events, ids 2..39 (vocab 40):

    id 2 = NO_EVENT, id 3 = NOTE_OFF, id 4 + (pitch - 48) = NOTE_ON(pitch)

The melody is ``note_seq.Melody.from_quantized_sequence`` with ``ignore_polyphonic_notes=True``
(the highest of notes that start together; a later note cuts a held one), folded into range by
octaves (``Melody.squash`` without key change). Magenta's extraction data rules are fields.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, ClassVar

import note_seq
import numpy as np
from note_seq.protobuf import music_pb2

from zoo.codecs.base import NUM_SPECIAL, notes_by_voice, quantize_metrical, regular_ids
from zoo.errors import SkipPiece

_STEPS_PER_QUARTER = 4  # Magenta's melody_rnn grid: sixteenth notes
_STEPS_PER_BAR_4_4 = 4 * _STEPS_PER_QUARTER
_FIRST_NOTE_ID = NUM_SPECIAL + 2  # after NO_EVENT and NOTE_OFF


@dataclasses.dataclass(frozen=True)
class MelodyCodec:
    """A piece's top voice as one melody event per sixteenth note.

    Attributes:
      min_note, max_note: pitch range [min_note, max_note); notes outside move by octaves.
      min_bars: skip melodies shorter than this many 4/4 bars of 16 steps (ids carry no meter);
        a started bar counts, as Magenta pads the last bar.
      min_unique_pitches: skip melodies with fewer distinct pitch classes.
      max_steps: keep at most this many steps; None keeps the whole melody.
      qpm: tempo of decoded sequences, quarter notes per minute.
    """

    name: str = "melody"
    min_note: int = 48
    max_note: int = 84
    min_bars: int = 7
    min_unique_pitches: int = 5
    max_steps: int | None = None
    qpm: float = 120.0

    kind: ClassVar[str] = "tokens"

    @functools.cached_property
    def _encoding(self) -> note_seq.MelodyOneHotEncoding:
        return note_seq.MelodyOneHotEncoding(self.min_note, self.max_note)

    @property
    def vocab_size(self) -> int:
        return NUM_SPECIAL + self._encoding.num_classes

    def encode(self, ns: music_pb2.NoteSequence) -> np.ndarray:
        """NoteSequence -> int32 ids (T,), one per sixteenth note from the bar of the first note.

        The melody is taken from the voice (part, or instrument where parts are all 0) with the
        highest mean pitch that passes the data rules: a chorale gives its soprano. Drums and
        velocity-0 notes are ignored.
        """
        quantized = quantize_metrical(ns, _STEPS_PER_QUARTER)
        voices = [
            [n for n in notes if not n.is_drum and n.velocity]
            for notes in notes_by_voice(quantized).values()
        ]
        voices = sorted(filter(None, voices), key=lambda notes: -np.mean([n.pitch for n in notes]))
        if not voices:
            raise SkipPiece("no notes")
        reasons = []
        for notes in voices:
            try:
                events = self._melody_events(quantized, notes)
            except SkipPiece as e:
                reasons.append(e.reason)
                continue
            return NUM_SPECIAL + np.array([self._encoding.encode_event(e) for e in events], np.int32)
        raise SkipPiece(reasons[0])

    def _melody_events(self, quantized: music_pb2.NoteSequence, notes: list) -> list[int]:
        """Melody events (note_seq values) of ``notes`` from ``quantized``, or SkipPiece."""
        voice = music_pb2.NoteSequence()
        voice.CopyFrom(quantized)
        del voice.notes[:]
        voice.notes.extend(notes)
        for note in voice.notes:
            note.instrument = 0
        melody = note_seq.Melody()
        try:
            melody.from_quantized_sequence(
                voice, instrument=0, gap_bars=math.inf, ignore_polyphonic_notes=True)
        except note_seq.NonIntegerStepsPerBarError:
            raise SkipPiece("non-integer steps per bar") from None
        melody.squash(self.min_note, self.max_note, transpose_to_key=None)
        events = list(melody)
        # decode writes 4/4, so a longer bar would lose whole 4/4 bars of leading rest on the way
        # back; keep the rest modulo one 4/4 bar (for meters up to 4/4 this changes nothing).
        rest = next(i for i, e in enumerate(events) if e >= 0)
        events = events[rest - rest % _STEPS_PER_BAR_4_4:]
        # Bars of 4/4 whatever the meter, so that decode then encode takes what encode took.
        if math.ceil(len(events) / _STEPS_PER_BAR_4_4) < self.min_bars:
            raise SkipPiece("melody too short")
        if np.count_nonzero(melody.get_note_histogram()) < self.min_unique_pitches:
            raise SkipPiece("too few pitches")
        return _end_on_a_note(events[: self.max_steps])

    def decode(self, ids: np.ndarray) -> music_pb2.NoteSequence:
        """int ids (T,) -> NoteSequence at ``qpm`` in 4/4, step 0 at time 0. PAD ignored, END stops.

        Every succession is valid: a NOTE_OFF during a rest, or NO_EVENT anywhere, changes nothing.
        """
        events = [self._encoding.decode_event(int(i) - NUM_SPECIAL) for i in regular_ids(ids)]
        melody = note_seq.Melody(
            events, steps_per_quarter=_STEPS_PER_QUARTER, steps_per_bar=_STEPS_PER_BAR_4_4)
        return melody.to_sequence(qpm=self.qpm)

    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "name"}

    def transpose(self, ids: np.ndarray, semitones: int) -> np.ndarray | None:
        """NOTE_ON ids moved by ``semitones``; None if a pitch leaves [min_note, max_note)."""
        ids = np.asarray(ids)
        is_note = ids >= _FIRST_NOTE_ID
        moved = np.where(is_note, ids + semitones, ids)
        if np.any(is_note & ((moved < _FIRST_NOTE_ID) | (moved >= self.vocab_size))):
            return None
        return moved.astype(ids.dtype)


def _end_on_a_note(events: list[int]) -> list[int]:
    """Melody events without a trailing rest, as ``Melody.from_quantized_sequence`` ends them
    (a cut melody could end in one, and decode then encode would drop it)."""
    last = max((i for i, e in enumerate(events) if e != note_seq.MELODY_NO_EVENT), default=-1)
    if last >= 0 and events[last] == note_seq.MELODY_NOTE_OFF:
        return events[:last]
    return events
