"""The piano-roll files of Boulanger-Lewandowski et al. (ICML 2012): JSB Chorales, Nottingham,
Piano-midi.de, MuseData.

A file (pickle or JSON) holds ``{"train": [...], "valid": [...], "test": [...]}``; each sequence is
a list of frames and each frame a list of MIDI pitches sounding at that step. A step becomes one
quarter note at 120 qpm (0.5 s); a pitch held over consecutive frames becomes one note spanning
them, so a piano-roll codec at 1 step per quarter gives the frames back exactly. The file's own
splits are kept; piece id: ``<split>/<index, 4 digits>``.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from note_seq.protobuf import music_pb2

from zoo.data.parallel import reason_of
from zoo.data.sources import Piece, Rejects, Source
from zoo.errors import SkipPiece, ZooError

SPLITS = ("train", "valid", "test")
QPM = 120.0
STEP_SECONDS = 60.0 / QPM  # one frame = one quarter note
VELOCITY = 80

_SAFE_GLOBALS = {
    *(("builtins", n) for n in ("list", "dict", "int", "float", "str", "tuple", "set", "bytes")),
    *((m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray")
      for n in ("_reconstruct", "scalar")),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes in protocol 2 pickles (numpy array data)
}


class _SafeUnpickler(pickle.Unpickler):
    """Loads plain containers, numbers, strings and numpy arrays; refuses any other global,
    since a pickle from the internet can otherwise run arbitrary code."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a pickle")
        return super().find_class(module, name)


def load_bl2012(path: Path) -> dict:
    """The file's dict of split -> sequences; JSON by suffix, otherwise a (restricted) pickle."""
    with open(path, "rb") as f:
        if path.suffix.lower() == ".json":
            data = json.load(f)
        else:
            data = _SafeUnpickler(f, encoding="latin1").load()  # latin1: Python 2 pickles
    if not isinstance(data, dict) or not all(s in data for s in SPLITS):
        raise SkipPiece(f"not a BL2012 file: expected a dict with keys {', '.join(SPLITS)}")
    return data


def frames_to_sequence(frames) -> music_pb2.NoteSequence:
    """Frames (T lists of MIDI pitches) -> NoteSequence, one quarter note (0.5 s) per frame."""
    ns = music_pb2.NoteSequence(ticks_per_quarter=220, total_time=len(frames) * STEP_SECONDS)
    ns.tempos.add(time=0.0, qpm=QPM)
    ns.time_signatures.add(time=0.0, numerator=4, denominator=4)
    onsets: dict[int, int] = {}  # pitch -> frame where it started sounding

    def close(pitch: int, t: int) -> None:
        ns.notes.add(pitch=pitch, velocity=VELOCITY, start_time=onsets.pop(pitch) * STEP_SECONDS,
                     end_time=t * STEP_SECONDS)

    for t, frame in enumerate([*frames, []]):  # the empty frame closes every note
        now = {int(p) for p in frame}
        if any(not 0 <= p <= 127 for p in now):
            raise ValueError(f"pitch out of MIDI range at frame {t}")
        for pitch in sorted(set(onsets) - now):
            close(pitch, t)
        for pitch in sorted(now - set(onsets)):
            onsets[pitch] = t
    if not ns.notes:
        raise SkipPiece("no notes")
    ns.notes.sort(key=lambda n: (n.start_time, n.pitch))
    return ns


class BL2012Source(Source):
    """One BL2012 file (``.pickle`` / ``.pkl`` / ``.json``); its splits are kept."""

    name = "bl2012"
    needs_path = True

    def __init__(self, path):
        super().__init__(path)
        if not self.path.is_file():
            raise ZooError(f"{self.name}: {self.path} is not a file (a .pickle or .json)")
        self.root = self.path.parent

    def inputs(self) -> list[str]:
        return [self.path.name]

    def read(self, rel: str) -> tuple[list[Piece], Rejects]:
        data = load_bl2012(self.root / rel)
        pieces, rejects = [], []
        for split in SPLITS:
            for i, frames in enumerate(data[split]):
                piece_id = f"{split}/{i:04d}"
                try:
                    pieces.append(Piece(piece_id, frames_to_sequence(frames), split))
                except Exception as e:  # noqa: BLE001 - a bad sequence rejects itself only
                    rejects.append((piece_id, reason_of(e)))
        return pieces, rejects
