"""Improv codec: a melody and its chords, one packed id per sixteenth note (Magenta's Improv RNN
data: a lead sheet's melody with the chord sounding at each step).

Each step holds a melody event (``zoo.codecs.melody``: NO_EVENT, NOTE_OFF, NOTE_ON(48..83), M = 38
events) and a chord class c (97 classes: 0 = no chord, then 12 roots x 8 kinds in
``CHORD_KINDS`` order, the chord vocabulary of note-seq's chord inference):

    id = 2 + c * 38 + melody event            (ids 2..3687, vocab 3688)

The network reads and predicts the melody id ``2 + event`` (``event_ids``: vocab 40, the melody
codec's ids) and reads the chord as a condition vector (``chord_vectors``): Magenta's triad
one-hot (49) or chord pitches (37: no-chord flag, root, pitch classes, bass).

Chords come from the data where it has them (CHORD_SYMBOL text annotations: lead sheets, ABC
chord symbols); otherwise they are inferred from all voices with note-seq's
``infer_chords_for_sequence`` (one chord per beat by default: a chorale changes harmony on the
beat). The melody is the voice with the highest mean pitch (a chorale's soprano), encoded by
``MelodyCodec`` with its data rules. A data chord outside the vocabulary is reduced to its triad
(inversions to root position); one that is not a triad (sus) becomes no chord.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import note_seq
import numpy as np
from note_seq import chord_symbols_lib
from note_seq.protobuf import music_pb2

from zoo.codecs.base import NUM_SPECIAL, notes_by_voice, quantize_metrical, regular_ids
from zoo.codecs.melody import MelodyCodec
from zoo.errors import SkipPiece, ZooError

CHORD_KINDS = {  # suffix -> pitch classes above the root (note-seq chord_inference's kinds)
    "": (0, 4, 7), "m": (0, 3, 7), "aug": (0, 4, 8), "dim": (0, 3, 6),
    "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "m7": (0, 3, 7, 10), "m7b5": (0, 3, 6, 10)}
_KIND_BY_PITCHES = {frozenset(p): i for i, p in enumerate(CHORD_KINDS.values())}
_TRIAD_KIND = {chord_symbols_lib.CHORD_QUALITY_MAJOR: 0, chord_symbols_lib.CHORD_QUALITY_MINOR: 1,
               chord_symbols_lib.CHORD_QUALITY_AUGMENTED: 2,
               chord_symbols_lib.CHORD_QUALITY_DIMINISHED: 3}
ROOT_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
NUM_CHORDS = 1 + 12 * len(CHORD_KINDS)
CHORD_ENCODINGS = ("triad", "pitches")


def chord_figure(chord: int) -> str:
    """Chord class -> figure, e.g. 0 -> "N.C.", 1 -> "C", 14 -> "C#m"."""
    if chord == 0:
        return note_seq.NO_CHORD
    kind, root = divmod(chord - 1, 12)
    return ROOT_NAMES[root] + list(CHORD_KINDS)[kind]


def chord_root(chord: int) -> int:
    return (chord - 1) % 12


def chord_pitch_classes(chord: int) -> tuple[int, ...]:
    """Pitch classes (0 = C) sounding in chord class ``chord``; () for no chord."""
    if chord == 0:
        return ()
    kind, root = divmod(chord - 1, 12)
    return tuple(sorted((root + p) % 12 for p in list(CHORD_KINDS.values())[kind]))


@functools.lru_cache(maxsize=4096)
def chord_class(figure: str, strict: bool = False) -> int:
    """Figure -> chord class (0..96). A figure outside the vocabulary is reduced to its triad;
    an unreadable or non-triad one is no chord, or with ``strict`` a ZooError."""
    if figure == note_seq.NO_CHORD:
        return 0
    try:
        root = chord_symbols_lib.chord_symbol_root(figure)
        pitches = frozenset((p - root) % 12 for p in chord_symbols_lib.chord_symbol_pitches(figure))
        kind = _KIND_BY_PITCHES.get(pitches)
        if kind is None:
            kind = _TRIAD_KIND.get(chord_symbols_lib.chord_symbol_quality(figure))
    except chord_symbols_lib.ChordSymbolError:
        kind = None
    if kind is None:
        if strict:
            raise ZooError(f"cannot read the chord '{figure}': give a root (C, F#, Bb...) and "
                           f"one of the kinds {', '.join(repr(k) for k in CHORD_KINDS)}, or N.C.")
        return 0
    return 1 + 12 * kind + root


def parse_chords(text: str) -> list[int]:
    """``"C G Am F"`` (spaces or commas) -> chord classes; a bad figure is a ZooError."""
    figures = [f for f in text.replace(",", " ").split() if f]
    if not figures:
        raise ZooError(f"no chords in '{text}': give e.g. \"C G Am F\"")
    return [chord_class(f, strict=True) for f in figures]


@functools.lru_cache(maxsize=4)
def chord_vectors(encoding: str) -> np.ndarray:
    """float32 (97, C): the network's input for each chord class, from note-seq's encoders:
    "triad" = TriadChordOneHotEncoding (C = 49), "pitches" = PitchChordsEncoderDecoder (37)."""
    figures = [chord_figure(c) for c in range(NUM_CHORDS)]
    if encoding == "triad":
        enc = note_seq.TriadChordOneHotEncoding()
        table = np.zeros((NUM_CHORDS, enc.num_classes), np.float32)
        table[np.arange(NUM_CHORDS), [enc.encode_event(f) for f in figures]] = 1.0
        return table
    if encoding == "pitches":
        enc = note_seq.PitchChordsEncoderDecoder()
        return np.array([enc.events_to_input(figures, i) for i in range(NUM_CHORDS)], np.float32)
    raise ZooError(f"unknown chord encoding '{encoding}'; choose one of: "
                   f"{', '.join(CHORD_ENCODINGS)}")


def _cache_chord_transitions() -> None:
    """note-seq's chord inference rebuilds its 1164 x 1164 key-chord transition matrix in a Python
    double loop on every call (7 of a chorale's 10 seconds), from three constants only: compute it
    once per process. Same values; the matrix is only read (its log is taken)."""
    from note_seq import chord_inference

    build = chord_inference._key_chord_transition_distribution
    if getattr(build, "zoo_cached", False):
        return
    memo: dict = {}

    def cached(key_chord_distribution, key_change_prob, chord_change_prob):
        key = (key_chord_distribution.tobytes(), key_change_prob, chord_change_prob)
        if key not in memo:
            memo[key] = build(key_chord_distribution, key_change_prob, chord_change_prob)
            memo[key].setflags(write=False)
        return memo[key]

    cached.zoo_cached = True
    chord_inference._key_chord_transition_distribution = cached


@dataclasses.dataclass(frozen=True)
class ImprovCodec:
    """A melody (the top voice) and the chord at each of its sixteenth-note steps.

    Attributes:
      min_note, max_note, min_bars, min_unique_pitches, max_steps, qpm: the melody's, as
        ``MelodyCodec`` (Magenta's improv range 48-84).
      chords_per_bar: chords inferred per bar where the data has none; None = one per beat.
      render_chords: decode also writes the chords as notes (instrument 1, octaves 3-4), as
        Magenta's ``--render_chords``.
    """

    name: str = "improv"
    min_note: int = 48
    max_note: int = 84
    min_bars: int = 7
    min_unique_pitches: int = 5
    max_steps: int | None = None
    qpm: float = 120.0
    chords_per_bar: int | None = None
    render_chords: bool = True

    kind: ClassVar[str] = "tokens"

    @functools.cached_property
    def melody(self) -> MelodyCodec:
        return MelodyCodec(min_note=self.min_note, max_note=self.max_note,
                           min_bars=self.min_bars, min_unique_pitches=self.min_unique_pitches,
                           max_steps=self.max_steps, qpm=self.qpm)

    @property
    def num_events(self) -> int:
        """M: melody events per step (38 with the default range)."""
        return self.melody.vocab_size - NUM_SPECIAL

    @property
    def event_vocab_size(self) -> int:
        """Ids the network reads and predicts: the melody codec's (specials included)."""
        return self.melody.vocab_size

    @property
    def vocab_size(self) -> int:
        return NUM_SPECIAL + NUM_CHORDS * self.num_events

    # ---- packing
    def pack(self, melody_ids: np.ndarray, chords: np.ndarray) -> np.ndarray:
        """Melody codec ids (T,) and chord classes (T,) -> packed ids (T,)."""
        melody_ids, chords = np.asarray(melody_ids), np.asarray(chords)
        return (NUM_SPECIAL + chords * self.num_events + melody_ids - NUM_SPECIAL).astype(np.int32)

    def unpack(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Packed ids (T,) -> (melody ids, chord classes), each (T,) int32. Specials (PAD, END)
        stay themselves in the melody, with chord 0."""
        ids = np.asarray(ids, np.int64)
        special = ids < NUM_SPECIAL
        chord, event = np.divmod(np.maximum(ids - NUM_SPECIAL, 0), self.num_events)
        return (np.where(special, ids, NUM_SPECIAL + event).astype(np.int32),
                np.where(special, 0, chord).astype(np.int32))

    # ---- encode / decode
    def encode(self, ns: music_pb2.NoteSequence) -> np.ndarray:
        """NoteSequence -> packed int32 ids (T,), the melody's steps (as ``MelodyCodec``)."""
        quantized = quantize_metrical(ns, 4)
        voices = {k: [n for n in notes if not n.is_drum and n.velocity]
                  for k, notes in notes_by_voice(quantized).items()}
        voices = {k: v for k, v in voices.items() if v}
        if not voices:
            raise SkipPiece("no notes")
        top = max(voices, key=lambda k: np.mean([n.pitch for n in voices[k]]))
        lead = music_pb2.NoteSequence()
        lead.CopyFrom(ns)
        del lead.notes[:]
        lead.notes.extend(notes_by_voice(ns)[top])
        melody_ids = self.melody.encode(lead)
        notes_on = np.flatnonzero(melody_ids >= NUM_SPECIAL + 2)
        start = min(n.quantized_start_step for n in voices[top]) - int(notes_on[0])
        if start < 0:
            raise SkipPiece("melody starts before the piece")
        chords = self._chords(quantized, start, start + len(melody_ids))
        return self.pack(melody_ids, chords)

    def _chords(self, quantized: music_pb2.NoteSequence, start: int, end: int) -> np.ndarray:
        """Chord classes (end - start,) at each step of ``quantized`` (inferred if it has none)."""
        if not any(ta.annotation_type == music_pb2.NoteSequence.TextAnnotation.CHORD_SYMBOL
                   for ta in quantized.text_annotations):
            ts = quantized.time_signatures[0]
            per_bar = self.chords_per_bar or (ts.numerator if ts.denominator in (2, 4) else
                                              ts.numerator // 3 if ts.numerator % 3 == 0 else
                                              None)
            _cache_chord_transitions()
            try:
                note_seq.infer_chords_for_sequence(quantized, chords_per_bar=per_bar)
            except note_seq.chord_inference.ChordInferenceError as e:
                raise SkipPiece(f"chord inference: {type(e).__name__}") from None
        progression = note_seq.ChordProgression()
        try:
            progression.from_quantized_sequence(quantized, start, end)
        except note_seq.chords_lib.CoincidentChordsError:
            raise SkipPiece("two chords on one step") from None
        except note_seq.NonIntegerStepsPerBarError:
            raise SkipPiece("non-integer steps per bar") from None
        return np.array([chord_class(f) for f in progression], np.int32)

    def decode(self, ids: np.ndarray) -> music_pb2.NoteSequence:
        """Packed ids (T,) -> the melody (instrument 0) at ``qpm`` in 4/4, a CHORD_SYMBOL text
        annotation at every chord change (and the chords as notes with ``render_chords``)."""
        melody_ids, chords = self.unpack(regular_ids(ids))
        ns = self.melody.decode(melody_ids)
        step_seconds = 60.0 / self.qpm / 4
        ns.total_time = max(ns.total_time, len(chords) * step_seconds)
        previous = None
        for step, chord in enumerate(chords.tolist()):
            if chord != previous:
                ns.text_annotations.add(
                    time=step * step_seconds, text=chord_figure(chord),
                    annotation_type=music_pb2.NoteSequence.TextAnnotation.CHORD_SYMBOL)
                previous = chord
        if self.render_chords:
            note_seq.BasicChordRenderer(velocity=60, instrument=1, program=0).render(ns)
        return ns

    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "name"}

    def transpose(self, ids: np.ndarray, semitones: int) -> np.ndarray | None:
        """Melody and chord roots moved by ``semitones``; None if a pitch leaves the range."""
        melody_ids, chords = self.unpack(ids)
        moved = self.melody.transpose(melody_ids, semitones)
        if moved is None:
            return None
        kind, root = np.divmod(np.maximum(chords - 1, 0), 12)
        chords = np.where(chords > 0, 1 + 12 * kind + (root + semitones) % 12, 0)
        return self.pack(moved, chords).astype(np.asarray(ids).dtype)

    def chord_tones(self, ids: np.ndarray) -> tuple[int, int]:
        """(melody steps sounding a pitch class of the current chord, melody steps sounding over a
        chord) of packed ids (T,); steps over N.C. are not counted. A note sounds from its
        NOTE_ON through the NO_EVENTs after it, until a NOTE_OFF."""
        melody_ids, chords = self.unpack(regular_ids(ids))
        first_note = NUM_SPECIAL + 2
        hits = total = 0
        pitch = None
        for m, c in zip(melody_ids.tolist(), chords.tolist()):
            if m >= first_note:
                pitch = self.min_note + m - first_note
            elif m == NUM_SPECIAL + 1:  # NOTE_OFF
                pitch = None
            if pitch is not None and c:
                total += 1
                hits += pitch % 12 in chord_pitch_classes(c)
        return hits, total

    # ---- what the network reads
    def event_ids(self, ids: np.ndarray) -> np.ndarray:
        """Packed ids (any shape, specials allowed) -> melody ids the network reads/predicts."""
        return self.unpack(np.asarray(ids).reshape(-1))[0].reshape(np.shape(ids))

    def chords_of(self, ids: np.ndarray) -> np.ndarray:
        """Packed ids (any shape) -> chord classes (0 at specials)."""
        return self.unpack(np.asarray(ids).reshape(-1))[1].reshape(np.shape(ids))
