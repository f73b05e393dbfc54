"""The folk tunebooks of music21's corpus, in ABC, read with note-seq's ABC parser, and with
music21's (``zoo.data.folk_music21``) where note-seq's rejects a tune (tuplets, grace notes,
chords, variant endings, parts, voices, ...). Repeats are expanded on both paths (note-seq's
``section_groups`` by ``sequences_lib.expand_section_groups``). ``Piece.reader`` says which
parser read a tune.

note-seq's parser knows no rests: a tune with ``z`` (rest) or ``x`` (invisible rest) fails with
"Unexpected character: z", which is about 70% of the Essen collection. Before parsing, every rest
in the tune body becomes a sentinel note ``C,,,,`` with the same length suffix (MIDI 12, or 11/13
after key or bar accidentals; it carries no accidental of its own, so the accidentals of real
notes are untouched). After parsing the sentinels (pitch <= SENTINEL_MAX_PITCH) are deleted: the
rest's time stays. Multi-measure rests ``Z`` stay unsupported.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from zoo.data.parallel import Reason, reason_of
from zoo.data.sources import Piece, Rejects, Source, music21_corpus
from zoo.errors import SkipPiece, ZooError

BOOKS = ("essenFolksong", "ryansMammoth", "oneills1850", "airdsAirs")
SENTINEL = "C,,,,"
SENTINEL_MAX_PITCH = 13  # C,,,, is 12; a key or bar sharp makes it 13, a flat 11

_FIELD_LINE = re.compile(r"[A-Za-z]:")  # as note-seq: a body line never starts like this
# Parts of a body line where a z or x is not a rest: "annotations" and inline fields [K:...].
_NOT_MUSIC = re.compile(r'"[^"]*"|\[[A-Za-z]:[^\]]*\]')
_REST = re.compile(r"[zx]")


def mark_rests(line: str) -> str:
    """One tune line with its rests replaced by sentinel notes; field lines are returned as is."""
    if _FIELD_LINE.match(line.strip()):
        return line
    body, percent, comment = line.partition("%")
    out, pos = [], 0
    for m in _NOT_MUSIC.finditer(body):
        out += [_REST.sub(SENTINEL, body[pos : m.start()]), m.group()]
        pos = m.end()
    out.append(_REST.sub(SENTINEL, body[pos:]))
    return "".join(out) + percent + comment


def split_tunebook(text: str) -> tuple[list[str], list[list[str]]]:
    """(header lines, [tune lines]) split on blank lines as note-seq does: the first section is a
    header shared by every tune when there are several and it has no X: field."""
    sections, current = [], []
    for line in text.splitlines():
        line = line.strip()
        if line:
            current.append(line)
        elif current:
            sections.append(current)
            current = []
    if current:
        sections.append(current)
    header = []
    if len(sections) > 1 and not any(line.startswith("X:") for line in sections[0]):
        header = sections.pop(0)
    return header, sections


def parse_tune(lines: list[str]):
    """One tune (header lines included) -> NoteSequence with rests kept as time. Raises the
    parser's exception (ABCParseError and kin) when note-seq cannot read it."""
    from note_seq import abc_parser

    tunes, errors = abc_parser.parse_abc_tunebook("\n".join(mark_rests(x) for x in lines))
    if errors:
        raise errors[0]
    if not tunes:
        raise SkipPiece("no tune")
    ns = next(iter(tunes.values()))
    for i in reversed([i for i, n in enumerate(ns.notes) if n.pitch <= SENTINEL_MAX_PITCH]):
        del ns.notes[i]
    if not ns.notes:
        raise SkipPiece("no notes")
    return ns


def read_tune(lines: list[str], variant: str = "auto"):
    """(NoteSequence with repeats expanded, "note-seq" or "music21"): note-seq's parser first,
    music21's where note-seq's fails. Raises SkipPiece (with both parsers' messages as raw)
    when neither reads the tune or it has no notes. ``variant="note-seq"``: note-seq's parser
    alone, repeats as written (the corpus as it was before music21)."""
    from note_seq import sequences_lib

    from zoo.data import folk_music21

    if variant == "note-seq":
        return parse_tune(lines), "note-seq"
    try:
        ns = parse_tune(lines)
        if ns.section_groups:
            ns = sequences_lib.expand_section_groups(ns)
        return ns, "note-seq"
    except SkipPiece:
        raise
    except Exception as e:  # noqa: BLE001 - any note-seq parser failure: music21 tries
        first = reason_of(e)
    try:
        return folk_music21.parse_tune("\n".join(lines)), "music21"
    except SkipPiece:
        raise
    except Exception as e:  # noqa: BLE001 - neither parser reads it
        second = reason_of(e)
        raise SkipPiece(Reason(f"unreadable ABC: {second}",
                               f"note-seq: {first}; music21: {second}")) from None


def _reference(lines: list[str], position: int) -> str:
    """The X: number as note-seq reads it ("0001" -> "1"); the tune's position when absent."""
    for line in lines:
        if line.startswith("X:"):
            x = line[2:].strip()
            return str(int(x)) if x.isdigit() else x or f"_{position}"
    return f"_{position}"


def read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


class FolkSource(Source):
    """essenFolksong, ryansMammoth, oneills1850, airdsAirs: ~1135 ABC files, ~12,760 tunes.
    Piece id: ``<book>/<file stem>/<X: reference number>``."""

    name = "embedded-folk"
    time_limit = 600.0  # seconds per tunebook: music21 reads a rejected tune in 0.03-0.1 s

    @property
    def variant(self) -> str:
        """``ZOO_ABC_READER=note-seq``: note-seq's parser alone (the corpus before music21)."""
        mode = os.environ.get("ZOO_ABC_READER", "auto")
        if mode not in ("auto", "note-seq"):
            raise ZooError(f"ZOO_ABC_READER={mode}: use 'auto' (the default) or 'note-seq'")
        return mode

    def default_root(self) -> Path:
        return music21_corpus()

    def inputs(self) -> list[str]:
        found = sorted(p.relative_to(self.root).as_posix()
                       for book in BOOKS for p in (self.root / book).glob("*.abc"))
        if not found:
            raise ZooError(f"{self.name}: no .abc files in {', '.join(BOOKS)} under {self.root}")
        return found

    def read(self, rel: str) -> tuple[list[Piece], Rejects]:
        header, tunes = split_tunebook(read_text(self.root / rel))
        if not tunes:
            raise SkipPiece("no tunes")
        stem = rel.rsplit(".", 1)[0]
        pieces, rejects, seen = [], [], set()
        for position, lines in enumerate(tunes, 1):
            if all(line.startswith("%") for line in lines):
                continue  # a block of comments between tunes, not a tune
            piece_id = f"{stem}/{_reference(lines, position)}"
            if piece_id in seen:
                rejects.append((piece_id, "reference number appears more than once"))
                continue
            seen.add(piece_id)
            try:
                ns, reader = read_tune(header + lines, self.variant)
                pieces.append(Piece(piece_id, ns, reader=reader))
            except Exception as e:  # noqa: BLE001 - any parser failure rejects this tune only
                rejects.append((piece_id, reason_of(e)))
        return pieces, rejects
