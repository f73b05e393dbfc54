"""Sources: where NoteSequences come from. A source lists its input files and reads one at a time.

    source = get_source("midi-dir", "~/midi")
    for rel in source.inputs():               # relative paths under source.root, sorted
        pieces, rejects = source.read(rel)      # [Piece], [(piece id, reason)]

``read`` raises ``SkipPiece`` when the whole file is unusable and reports the pieces of a file
that failed one by one in ``rejects``; it never decides splits (except ``bl2012``, whose file
carries them) and never encodes.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
from pathlib import Path

from note_seq.protobuf import music_pb2

from zoo.errors import SkipPiece, ZooError

# name -> (module under zoo.data, class). A new source is one class plus one line here.
_REGISTRY = {
    "embedded-chorales": ("sources", "ChoraleSource"),
    "embedded-folk": ("abc_source", "FolkSource"),
    "midi-dir": ("sources", "MidiDirSource"),
    "bl2012": ("bl2012", "BL2012Source"),
}
SOURCE_NAMES = tuple(_REGISTRY)
MIDI_SUFFIXES = (".mid", ".midi")


@dataclasses.dataclass(frozen=True)
class Piece:
    id: str  # stable across runs: the split is a hash of it
    ns: music_pb2.NoteSequence
    split: str | None = None  # None: decided by prepare from the id
    reader: str | None = None  # which parser read it, where a source has several (midi-dir)


Rejects = list[tuple[str, str]]  # (piece id, reason)


class Source:
    """Base class: ``root`` is a folder, inputs are files under it named by relative posix path."""

    name: str
    needs_path = False
    dedup = False  # prepare keeps one of several pieces with equal events (see prepare.py)

    def __init__(self, path: str | os.PathLike | None = None):
        if path is None and self.needs_path:
            raise ZooError(f"source '{self.name}' needs a PATH: zoo prepare {self.name} PATH ...")
        self.path = None if path is None else Path(path).expanduser().resolve()
        if self.path is not None and not self.path.exists():
            raise ZooError(f"{self.name}: {self.path} does not exist")
        self.root = self.path if self.path is not None else self.default_root()

    def default_root(self) -> Path:
        raise NotImplementedError

    def inputs(self) -> list[str]:
        raise NotImplementedError

    def read(self, rel: str) -> tuple[list[Piece], Rejects]:
        raise NotImplementedError


def get_source(name: str, path: str | os.PathLike | None = None) -> Source:
    """The source registered as ``name``, reading from ``path`` (its default corpus when None)."""
    if name not in _REGISTRY:
        raise ZooError(f"unknown source '{name}'; choose one of: {', '.join(SOURCE_NAMES)}")
    module, cls = _REGISTRY[name]
    return getattr(importlib.import_module(f"zoo.data.{module}"), cls)(path)


def music21_corpus() -> Path:
    """music21's corpus folder, found without importing music21 (slow to import)."""
    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.submodule_search_locations:
        raise ZooError("the embedded corpora come with music21: pip install music21")
    return Path(next(iter(spec.submodule_search_locations))) / "corpus"


def files_under(root: Path, suffixes: tuple[str, ...]) -> list[str]:
    """Relative posix paths of the files under ``root`` (recursive) ending in ``suffixes``."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for f in files:
            if f.lower().endswith(suffixes):
                found.append((Path(folder) / f).relative_to(root).as_posix())
    return sorted(found)


def _require_notes(ns: music_pb2.NoteSequence) -> music_pb2.NoteSequence:
    if not ns.notes:
        raise SkipPiece("no notes")
    return ns


class ChoraleSource(Source):
    """The Bach chorales shipped with music21 as MusicXML (bach/*.mxl, *.xml: 410 files)."""

    name = "embedded-chorales"

    def default_root(self) -> Path:
        return music21_corpus() / "bach"

    def inputs(self) -> list[str]:
        found = sorted(p.name for p in self.root.iterdir() if p.suffix in (".mxl", ".xml"))
        if not found:
            raise ZooError(f"{self.name}: no .mxl or .xml files in {self.root}")
        return found

    def read(self, rel: str) -> tuple[list[Piece], Rejects]:
        from note_seq import musicxml_reader

        ns = musicxml_reader.musicxml_file_to_sequence_proto(str(self.root / rel))
        return [Piece(f"bach/{Path(rel).stem}", _require_notes(ns))], []


class MidiDirSource(Source):
    """A folder of .mid / .midi files, searched recursively; the piece id is the relative path.
    Read by ``zoo.data.midi_reader.read_midi``: symusic, or note-seq where symusic cannot
    promise note-seq's result (``Piece.reader`` says which and why). ``ZOO_MIDI_READER=note-seq``
    in the environment reads every file with note-seq alone, as before the fast reader (for
    benchmarks, or to rule the fast reader out); it is part of the data set's fingerprint."""

    name = "midi-dir"
    needs_path = True
    dedup = True  # the same piece in several files is kept once

    @property
    def variant(self) -> str:
        mode = os.environ.get("ZOO_MIDI_READER", "auto")
        if mode not in ("auto", "note-seq"):
            raise ZooError(f"ZOO_MIDI_READER={mode}: use 'auto' (the default) or 'note-seq'")
        return mode

    def inputs(self) -> list[str]:
        if not self.root.is_dir():
            raise ZooError(f"{self.name}: {self.root} is not a folder")
        found = files_under(self.root, MIDI_SUFFIXES)
        if not found:
            raise ZooError(f"{self.name}: no .mid or .midi files under {self.root}")
        return found

    def read(self, rel: str) -> tuple[list[Piece], Rejects]:
        from zoo.data.midi_reader import read_midi, read_note_seq

        if self.variant == "note-seq":
            ns, reader = read_note_seq((self.root / rel).read_bytes()), "note-seq: ZOO_MIDI_READER"
        else:
            ns, reader = read_midi(self.root / rel)
        return [Piece(rel, _require_notes(ns), reader=reader)], []
