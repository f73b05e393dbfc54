"""What every codec is: a small immutable value that turns a NoteSequence into an array and back.

Token codecs (melody, performance, drums, polyphony) map a piece to a 1-D int32 array of ids.
Special ids sit below the regular ones, so event ``e`` of a note-seq encoding is id ``e + NUM_SPECIAL``:

    PAD = 0   padding in batches; never produced by ``encode``
    END = 1   end of piece; also the first input token when a model starts from nothing

Frame codecs (pianoroll) map a piece to a 2-D uint8 array ``frames_TxP`` of binary key states.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # note_seq is imported where it is used: PAD, END etc. import without it
    from note_seq.protobuf import music_pb2

from zoo.errors import SkipPiece

PAD = 0
END = 1
NUM_SPECIAL = 2


@runtime_checkable
class Codec(Protocol):
    """The interface every codec implements (a frozen dataclass in practice)."""

    name: str
    kind: str  # "tokens" or "frames"

    @property
    def vocab_size(self) -> int:
        """Token codecs: number of ids, specials included. Frame codecs: number of keys P."""

    def encode(self, ns: music_pb2.NoteSequence) -> np.ndarray:
        """NoteSequence -> int32 ids (T,) or uint8 frames (T, P). Raises SkipPiece if unusable."""

    def decode(self, ids: np.ndarray) -> music_pb2.NoteSequence:
        """Inverse of encode on the codec's grid. Never raises on any array of valid ids:
        invalid event successions are repaired or ignored, PAD is ignored, END stops decoding."""

    def params(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments; ``get_codec(name, **params)`` rebuilds it."""

    def transpose(self, ids: np.ndarray, semitones: int) -> np.ndarray | None:
        """The same piece moved by ``semitones``, or None when that leaves the codec's range.
        Drums have no key: their ids come back unchanged. Works on ids so augmentation is cheap
        at batch time."""


def piece_meter(ns: music_pb2.NoteSequence) -> tuple[int, int]:
    """(numerator, denominator) of the time signature that lasts longest in ``ns``; 4/4 if none."""
    signatures = sorted(ns.time_signatures, key=lambda ts: ts.time)
    if not signatures:
        return 4, 4
    ends = [ts.time for ts in signatures[1:]] + [max(ns.total_time, signatures[-1].time)]
    seconds = collections.Counter()
    for ts, end in zip(signatures, ends):
        seconds[(ts.numerator, ts.denominator)] += end - ts.time
    return max(seconds, key=seconds.get)


def quantize_metrical(ns: music_pb2.NoteSequence, steps_per_quarter: int) -> music_pb2.NoteSequence:
    """``note_seq.quantize_note_sequence`` on a copy of ``ns`` that keeps one meter, ``piece_meter``.

    A meter change only moves bar lines, never the step grid, and MusicXML sources have many
    (a chorale's pickup bar, bars split at fermatas), so one meter replaces them rather than
    splitting the piece as Magenta's pipelines do. A tempo change would change the grid itself:
    it skips the piece (split such pieces before encoding).
    """
    import note_seq
    from note_seq.protobuf import music_pb2

    numerator, denominator = piece_meter(ns)
    single = music_pb2.NoteSequence()
    single.CopyFrom(ns)
    del single.time_signatures[:]
    single.time_signatures.add(numerator=numerator, denominator=denominator, time=0.0)
    try:
        return note_seq.quantize_note_sequence(single, steps_per_quarter)
    except note_seq.MultipleTempoError:
        raise SkipPiece("tempo change") from None
    except note_seq.BadTimeSignatureError:
        raise SkipPiece("bad time signature") from None
    except note_seq.NegativeTimeError:
        raise SkipPiece("negative time") from None


def regular_ids(ids: np.ndarray) -> np.ndarray:
    """The ids a token codec decodes: those before the first END, PAD removed. Shape (T',)."""
    ids = np.asarray(ids).reshape(-1)
    stop = np.flatnonzero(ids == END)
    ids = ids[: stop[0]] if stop.size else ids
    return ids[ids != PAD]


def notes_by_voice(ns: music_pb2.NoteSequence) -> dict[int, list[music_pb2.NoteSequence.Note]]:
    """Notes grouped by voice, keys ascending: ``part``, or ``instrument`` where every part is 0
    (MIDI sources put each track in its own instrument and leave parts at 0)."""
    by_part = any(note.part for note in ns.notes)
    voices: dict[int, list[music_pb2.NoteSequence.Note]] = {}
    for note in ns.notes:
        voices.setdefault(note.part if by_part else note.instrument, []).append(note)
    return dict(sorted(voices.items()))


# Codec fields that filter a training corpus (Magenta's data rules), not the encoding itself.
CORPUS_FILTERS = ("min_bars", "min_unique_pitches", "min_steps")


def without_corpus_filters(codec):
    """The same encoding with the corpus filters off: for primers and user input, where a short
    phrase is wanted, not skipped."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(codec)}
    return dataclasses.replace(codec, **{f: 0 for f in CORPUS_FILTERS if f in names})
