"""Drum codec: Magenta's drums_rnn scheme (note-seq ``DrumTrack`` + ``MultiDrumOneHotEncoding``).

One event per sixteenth note (4 steps per quarter): the set of the 9 drum classes struck at that
step (kick, snare, closed hi-hat, open hi-hat, low/mid/high tom, crash, ride) as a 9-bit number,
so 2**9 = 512 events, ids 2..513 (vocab 514); id 2 is an empty step. MIDI drum pitches map to
their class (35 and 36 are both kick); pitches of no class are ignored. Decoding strikes each
class's first pitch (kick = 36, snare = 38, ...) for one step.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, ClassVar

import note_seq
import numpy as np
from note_seq import drums_encoder_decoder
from note_seq.protobuf import music_pb2

from zoo.codecs.base import NUM_SPECIAL, quantize_metrical, regular_ids
from zoo.errors import SkipPiece

_STEPS_PER_QUARTER = 4  # Magenta's drums_rnn grid: sixteenth notes
_STEPS_PER_BAR_4_4 = 4 * _STEPS_PER_QUARTER
_DRUM_PITCHES = frozenset(p for ps in drums_encoder_decoder.DEFAULT_DRUM_TYPE_PITCHES for p in ps)


@dataclasses.dataclass(frozen=True)
class DrumsCodec:
    """The drum notes (``is_drum``) of a piece, all drum instruments merged.

    Attributes:
      min_bars: skip drum tracks shorter than this many 4/4 bars of 16 steps (ids carry no
        meter); Magenta's drums_rnn uses 7.
      qpm: tempo of decoded sequences, quarter notes per minute.
    """

    name: str = "drums"
    min_bars: int = 7
    qpm: float = 120.0

    kind: ClassVar[str] = "tokens"

    @functools.cached_property
    def _encoding(self) -> note_seq.MultiDrumOneHotEncoding:
        return note_seq.MultiDrumOneHotEncoding()

    @property
    def vocab_size(self) -> int:
        return NUM_SPECIAL + self._encoding.num_classes

    def encode(self, ns: music_pb2.NoteSequence) -> np.ndarray:
        """NoteSequence -> int32 ids (T,), one per sixteenth note from the bar of the first hit
        to the last hit. Only onsets count; drum note durations are ignored."""
        quantized = quantize_metrical(ns, _STEPS_PER_QUARTER)
        # Unknown pitches would encode as empty steps; drop them first so the track still starts
        # and ends on a hit, as decode leaves it.
        hits = [n for n in quantized.notes if n.is_drum and n.velocity and n.pitch in _DRUM_PITCHES]
        if not hits:
            raise SkipPiece("no drums")
        del quantized.notes[:]
        quantized.notes.extend(hits)
        track = note_seq.DrumTrack()
        try:
            track.from_quantized_sequence(quantized, gap_bars=math.inf)
        except note_seq.NonIntegerStepsPerBarError:
            raise SkipPiece("non-integer steps per bar") from None
        events = list(track)
        # decode writes 4/4: keep a leading rest modulo one 4/4 bar, count 4/4 bars (see melody.py).
        rest = next(i for i, e in enumerate(events) if e)
        events = events[rest - rest % _STEPS_PER_BAR_4_4:]
        if math.ceil(len(events) / _STEPS_PER_BAR_4_4) < self.min_bars:
            raise SkipPiece("drums too short")
        return NUM_SPECIAL + np.array([self._encoding.encode_event(e) for e in events], np.int32)

    def decode(self, ids: np.ndarray) -> music_pb2.NoteSequence:
        """int ids (T,) -> NoteSequence of one-step drum notes (instrument 9) at ``qpm`` in 4/4.
        PAD ignored, END stops; every id is a valid step."""
        events = [self._encoding.decode_event(int(i) - NUM_SPECIAL) for i in regular_ids(ids)]
        track = note_seq.DrumTrack(
            events, steps_per_quarter=_STEPS_PER_QUARTER, steps_per_bar=_STEPS_PER_BAR_4_4)
        return track.to_sequence(qpm=self.qpm)

    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "name"}

    def transpose(self, ids: np.ndarray, semitones: int) -> np.ndarray:
        """``ids`` unchanged for any ``semitones``: drums have no key, so pitch augmentation of a
        drum piece is the piece itself (never None, so transposition never drops drum data)."""
        return np.asarray(ids)
