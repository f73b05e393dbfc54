"""Performance codec: Magenta's performance_rnn event scheme (note-seq ``PerformanceOneHotEncoding``).

Events on an absolute 10 ms grid (100 steps per second), all instruments merged, drums left out:

    NOTE_ON(pitch) x128, NOTE_OFF(pitch) x128, TIME_SHIFT(1..100 steps) x100,
    VELOCITY(bin 1..32) x32 (absent when ``num_velocity_bins`` is 0)

388 events, ids 2..389 (vocab 390); ``performance_novel`` (no velocity) has 356 events (vocab 358).
A VELOCITY event precedes a NOTE_ON only when the bin changes. Sustain pedal is applied first
(Magenta's performance pipeline does the same).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, ClassVar

import note_seq
import numpy as np
from note_seq.protobuf import music_pb2

from zoo.codecs.base import NUM_SPECIAL, regular_ids
from zoo.errors import SkipPiece

_NUM_PITCHES = note_seq.MAX_MIDI_PITCH - note_seq.MIN_MIDI_PITCH + 1
_NOTE_IDS = NUM_SPECIAL, NUM_SPECIAL + 2 * _NUM_PITCHES  # NOTE_ON and NOTE_OFF, [lo, hi)
_SHIFT_LO = NUM_SPECIAL + 2 * _NUM_PITCHES  # id of TIME_SHIFT(1)


@dataclasses.dataclass(frozen=True)
class PerformanceCodec:
    """Note on/off, time shift and velocity events of an expressive performance.

    Attributes:
      num_velocity_bins: velocity resolution; 0 drops VELOCITY events (decoded notes get 100).
      max_shift_steps: longest single TIME_SHIFT, in steps; longer gaps use several.
      steps_per_second: the time grid (100 = 10 ms).
      apply_sustain: extend notes held by the sustain pedal (CC 64) before encoding.
    """

    name: str = "performance"
    num_velocity_bins: int = 32
    max_shift_steps: int = 100
    steps_per_second: int = 100
    apply_sustain: bool = True

    kind: ClassVar[str] = "tokens"

    @functools.cached_property
    def _encoding(self) -> note_seq.PerformanceOneHotEncoding:
        return note_seq.PerformanceOneHotEncoding(
            num_velocity_bins=self.num_velocity_bins, max_shift_steps=self.max_shift_steps)

    @property
    def vocab_size(self) -> int:
        return NUM_SPECIAL + self._encoding.num_classes

    def encode(self, ns: music_pb2.NoteSequence) -> np.ndarray:
        """NoteSequence -> int32 ids (T,), starting at time 0 and ending with the last NOTE_OFF.

        Times are rounded to the nearest step; a note shorter than a step lasts one step. Two
        sounding notes of one pitch are paired first-in first-out (the k-th onset with the k-th
        release), which is how ``decode`` reads them back, so decode then encode is exact.
        """
        if self.apply_sustain:
            ns = note_seq.apply_sustain_control_changes(ns)
        pitched = music_pb2.NoteSequence()
        pitched.CopyFrom(ns)
        del pitched.notes[:]
        pitched.notes.extend(n for n in ns.notes if not n.is_drum and n.velocity)
        for note in pitched.notes:
            note.velocity = min(note.velocity, note_seq.MAX_MIDI_VELOCITY)
        if not pitched.notes:
            raise SkipPiece("no notes")
        try:
            quantized = note_seq.quantize_note_sequence_absolute(pitched, self.steps_per_second)
        except note_seq.NegativeTimeError:
            raise SkipPiece("negative time") from None
        _snap_to_grid(quantized)
        performance = note_seq.Performance(
            quantized, num_velocity_bins=self.num_velocity_bins,
            max_shift_steps=self.max_shift_steps)
        return NUM_SPECIAL + np.array([self._encoding.encode_event(e) for e in performance], np.int32)

    def decode(self, ids: np.ndarray) -> music_pb2.NoteSequence:
        """int ids (T,) -> NoteSequence (times in seconds, instrument 0, program 0).

        PAD ignored, END stops. A NOTE_OFF without a sounding note is ignored, a note still
        sounding at the end ends there, and a note released at its onset step is dropped.
        """
        performance = note_seq.Performance(
            steps_per_second=self.steps_per_second, num_velocity_bins=self.num_velocity_bins,
            max_shift_steps=self.max_shift_steps)
        for i in regular_ids(ids):
            performance.append(self._encoding.decode_event(int(i) - NUM_SPECIAL))
        ns = performance.to_sequence(program=0)
        ns.tempos.add(qpm=note_seq.DEFAULT_QUARTERS_PER_MINUTE)
        return ns

    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "name"}

    def transpose(self, ids: np.ndarray, semitones: int) -> np.ndarray | None:
        """NOTE_ON/NOTE_OFF ids moved by ``semitones``; None if a pitch leaves 0..127."""
        ids = np.asarray(ids)
        lo, hi = _NOTE_IDS
        is_note = (ids >= lo) & (ids < hi)
        pitch = (ids - lo) % _NUM_PITCHES + semitones
        if np.any(is_note & ((pitch < 0) | (pitch >= _NUM_PITCHES))):
            return None
        return np.where(is_note, ids + semitones, ids).astype(ids.dtype)

    def stretch(self, ids: np.ndarray, factor: float) -> np.ndarray:
        """ids (T,) with time scaled by ``factor`` (2.0 = twice as slow); other ids kept in order.

        Runs of TIME_SHIFT are merged, their end times scaled and rounded to the grid (rounding
        the absolute time, so errors do not add up), and split again into shifts of at most
        ``max_shift_steps``. A run never shrinks to nothing, so no note collapses to zero length.
        """
        ids = np.asarray(ids)
        is_shift = (ids >= _SHIFT_LO) & (ids < _SHIFT_LO + self.max_shift_steps)
        out: list[int] = []
        time = new_time = 0  # steps before and after stretching
        run = 0
        for i, shift in zip(ids.tolist(), is_shift.tolist()):
            if shift:
                run += i - _SHIFT_LO + 1
                continue
            if run:
                time += run
                target = max(math.floor(time * factor + 0.5), new_time + 1)
                out += self._shifts(target - new_time)
                new_time, run = target, 0
            out.append(i)
        if run:
            out += self._shifts(max(math.floor((time + run) * factor + 0.5), new_time + 1) - new_time)
        return np.array(out, ids.dtype)

    def _shifts(self, steps: int) -> list[int]:
        """TIME_SHIFT ids that add up to ``steps``: full shifts, then the remainder."""
        full, rest = divmod(steps, self.max_shift_steps)
        return [_SHIFT_LO + self.max_shift_steps - 1] * full + ([_SHIFT_LO + rest - 1] if rest else [])


def _snap_to_grid(quantized: music_pb2.NoteSequence) -> None:
    """Make a quantized sequence read exactly like its own decoding, in place.

    ``Performance`` orders notes by unquantized start time, and ``to_sequence`` pairs a pitch's
    releases with its onsets first-in first-out; both are applied here so that
    encode(decode(ids)) == ids.
    """
    step = 1.0 / quantized.quantization_info.steps_per_second
    by_pitch: dict[int, list] = {}
    for note in quantized.notes:
        by_pitch.setdefault(note.pitch, []).append(note)
    for notes in by_pitch.values():
        notes.sort(key=lambda n: n.quantized_start_step)  # stable: ties keep their order
        ends = sorted(n.quantized_end_step for n in notes)
        for note, end in zip(notes, ends):
            note.quantized_end_step = end
    for note in quantized.notes:
        note.start_time = note.quantized_start_step * step
        note.end_time = note.quantized_end_step * step
