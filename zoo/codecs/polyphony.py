"""Polyphony codec: Magenta's polyphony_rnn scheme (``polyphony_lib`` and
``PolyphonyOneHotEncoding`` in magenta/models/polyphony_rnn; note-seq has no copy, so it is here).

A piece is START, then for every sixteenth-note step (4 steps per quarter) the notes sounding in
it followed by STEP_END, then END:

    id 2 = START, 3 = END, 4 = STEP_END,
    id 5 + pitch = NEW_NOTE(pitch) (onset in this step),
    id 133 + pitch = CONTINUED_NOTE(pitch) (held from the step before)

259 events, ids 2..260 (vocab 261). Within a step the note events go by descending pitch, a
continued note before a new one of the same pitch, exactly as Magenta's
``PolyphonicSequence._from_quantized_sequence``. A note not continued in a step ends there.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, ClassVar

import note_seq
import numpy as np
from note_seq.protobuf import music_pb2

from zoo.codecs.base import NUM_SPECIAL, quantize_metrical, regular_ids
from zoo.errors import SkipPiece

_NUM_PITCHES = 128
START_ID = NUM_SPECIAL  # the codec's own START/END events, distinct from the special END id
END_EVENT_ID = NUM_SPECIAL + 1
STEP_END_ID = NUM_SPECIAL + 2
NEW_NOTE_ID = NUM_SPECIAL + 3  # + pitch
CONTINUED_NOTE_ID = NEW_NOTE_ID + _NUM_PITCHES  # + pitch


@dataclasses.dataclass(frozen=True)
class PolyphonyCodec:
    """All pitched notes of a piece, merged, as per-step note events.

    Attributes:
      steps_per_quarter: time grid (4 = sixteenth notes).
      min_steps: skip pieces shorter than this many steps (Magenta's dataset default, 80).
      qpm: tempo of decoded sequences, quarter notes per minute.
    """

    name: str = "polyphony"
    steps_per_quarter: int = 4
    min_steps: int = 80
    qpm: float = 120.0

    kind: ClassVar[str] = "tokens"

    @property
    def vocab_size(self) -> int:
        return CONTINUED_NOTE_ID + _NUM_PITCHES

    def encode(self, ns: music_pb2.NoteSequence) -> np.ndarray:
        """NoteSequence -> int32 ids (T,): START, steps from time 0 to the last note's end, END.

        Drums and velocity-0 notes are ignored; a note shorter than a step lasts one step.
        """
        quantized = quantize_metrical(ns, self.steps_per_quarter)
        notes = [n for n in quantized.notes if not n.is_drum and n.velocity]
        if not notes:
            raise SkipPiece("no notes")
        num_steps = max(n.quantized_end_step for n in notes)
        if num_steps < self.min_steps:
            raise SkipPiece("too short")
        onsets = collections.defaultdict(list)
        releases = collections.defaultdict(list)
        for note in notes:
            onsets[note.quantized_start_step].append(note.pitch)
            releases[note.quantized_end_step].append(note.pitch)
        ids = [START_ID]
        sounding: list[int] = []  # a list, as one pitch may sound twice
        for step in range(num_steps):
            for pitch in releases[step]:
                sounding.remove(pitch)
            step_ids = [(p, CONTINUED_NOTE_ID + p) for p in sounding]
            step_ids += [(p, NEW_NOTE_ID + p) for p in onsets[step]]
            sounding += onsets[step]
            ids += [i for _, i in sorted(step_ids, key=lambda e: -e[0])]  # stable, as Magenta
            ids.append(STEP_END_ID)
        ids.append(END_EVENT_ID)
        return np.array(ids, np.int32)

    def decode(self, ids: np.ndarray) -> music_pb2.NoteSequence:
        """int ids (T,) -> NoteSequence at ``qpm`` (velocity 100, instrument 0).

        PAD ignored; the special END id or the END event stops. Repairs: START after the first
        position is ignored; a CONTINUED_NOTE with no sounding note of that pitch left to continue
        is a NEW_NOTE; an unfinished last step is closed and every sounding note ends after it.
        When one pitch sounds twice and only one is continued, the earlier onset ends.
        """
        seconds_per_step = 60.0 / self.qpm / self.steps_per_quarter
        ns = music_pb2.NoteSequence(ticks_per_quarter=note_seq.STANDARD_PPQ)
        ns.tempos.add(qpm=self.qpm)

        def add_note(pitch: int, start: int, end: int) -> None:
            ns.notes.add(pitch=pitch, velocity=100, start_time=start * seconds_per_step,
                         end_time=end * seconds_per_step)

        step = 0
        sounding: dict[int, list[int]] = collections.defaultdict(list)  # pitch -> onset steps
        continued: collections.Counter = collections.Counter()
        new: list[int] = []

        def close_step() -> None:
            for pitch, starts in sounding.items():
                for start in starts[: len(starts) - continued[pitch]]:
                    add_note(pitch, start, step)
                del starts[: len(starts) - continued[pitch]]
            for pitch in new:
                sounding[pitch].append(step)
            continued.clear()
            new.clear()

        for i in regular_ids(ids).tolist():
            if i == END_EVENT_ID:
                break
            if i == STEP_END_ID:
                close_step()
                step += 1
            elif i >= CONTINUED_NOTE_ID:
                pitch = i - CONTINUED_NOTE_ID
                if continued[pitch] < len(sounding[pitch]):
                    continued[pitch] += 1
                else:
                    new.append(pitch)
            elif i >= NEW_NOTE_ID:
                new.append(i - NEW_NOTE_ID)
            # START carries no information wherever it is.
        # The end (END, or the ids running out) closes the step as STEP_END does; notes begun in
        # that step last one step.
        close_step()
        step += 1
        for pitch, starts in sounding.items():
            for start in starts:
                add_note(pitch, start, step)
        ns.notes.sort(key=lambda n: (n.start_time, -n.pitch))
        ns.total_time = max((n.end_time for n in ns.notes), default=0.0)
        return ns

    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "name"}

    def transpose(self, ids: np.ndarray, semitones: int) -> np.ndarray | None:
        """NEW_NOTE/CONTINUED_NOTE ids moved by ``semitones``; None if a pitch leaves 0..127."""
        ids = np.asarray(ids)
        is_note = ids >= NEW_NOTE_ID
        pitch = (ids - NEW_NOTE_ID) % _NUM_PITCHES + semitones
        if np.any(is_note & ((pitch < 0) | (pitch >= _NUM_PITCHES))):
            return None
        return np.where(is_note, ids + semitones, ids).astype(ids.dtype)
