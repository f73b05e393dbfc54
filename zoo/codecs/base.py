"""What every codec is: a small immutable value that turns a NoteSequence into an array and back.

Token codecs (melody, performance, drums, polyphony) map a piece to a 1-D int32 array of ids.
Special ids sit below the regular ones, so event ``e`` of a note-seq encoding is id ``e + NUM_SPECIAL``:

    PAD = 0   padding in batches; never produced by ``encode``
    END = 1   end of piece; also the first input token when a model starts from nothing

Frame codecs (pianoroll) map a piece to a 2-D uint8 array ``frames_TxP`` of binary key states.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
from note_seq.protobuf import music_pb2

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
        """The same piece moved by ``semitones``, or None when that leaves the codec's range
        (or the codec has no pitch, as drums). Works on ids so augmentation is cheap at batch time."""
