"""Sources: ABC rests, the embedded corpora, BL2012 files, MIDI folders."""

import json
import pickle

import numpy as np
import pytest
from note_seq import abc_parser

from zoo.data import abc_source, bl2012
from zoo.data.sources import get_source
from zoo.errors import SkipPiece, ZooError

RESTS_TUNE = """X:1
T:Zz Top x
M:4/4
L:1/4
Q:1/4=60
K:D
"zx"C z D2 | z/2 E/2 x [K:C] F z | ^C z C %z comment
"""


def notes(ns):
    return [(n.pitch, n.start_time, n.end_time) for n in ns.notes]


def test_mark_rests_only_in_music():
    assert abc_source.mark_rests("T:Zz Top x") == "T:Zz Top x"
    assert abc_source.mark_rests("w:zu zweit") == "w:zu zweit"
    line = abc_source.mark_rests('"zx"A z2 x/ [K:Zx] B %rest z')
    assert line == '"zx"A C,,,,2 C,,,,/ [K:Zx] B %rest z'


def test_rests_keep_their_time():
    with pytest.raises(abc_parser.InvalidCharacterError):  # note-seq alone: no rests
        raise abc_parser.parse_abc_tunebook(RESTS_TUNE)[1][0]
    ns = abc_source.parse_tune(RESTS_TUNE.splitlines())
    assert ns.sequence_metadata.title == "Zz Top x"
    # K:D: C is C#; quarter = 1 s at Q:1/4=60; the [K:C] field switches to C major mid-line;
    # a bar's ^C carries over a rest to the next C.
    assert notes(ns) == [(61, 0, 1), (62, 2, 4), (64, 4.5, 5), (65, 6, 7), (61, 8, 9),
                         (61, 10, 11)]
    assert ns.total_time == 11


def test_rest_at_the_end_is_kept_in_total_time():
    ns = abc_source.parse_tune(["X:2", "L:1/4", "K:C", "C D z2 |"])
    assert notes(ns) == [(60, 0, 0.5), (62, 0.5, 1.0)]
    assert ns.total_time == 2.0


def test_folk_source_reads_books_and_rejects_tunes(tmp_path):
    book = tmp_path / "essenFolksong"
    book.mkdir()
    (book / "little.abc").write_text(
        "% a comment block between tunes\n\n"
        "X:01\nT:plain\nL:1/8\nK:G\nGABc d2d2|\n\n"
        "X:2\nT:rests\nL:1/8\nK:G\nGz Bz d4|\n\n"
        "X:3\nT:tuplets\nL:1/8\nK:G\n(3GAB c2|\n\n"
        "X:3\nT:same number\nL:1/8\nK:G\nG4|\n")
    source = get_source("embedded-folk", tmp_path)
    assert source.inputs() == ["essenFolksong/little.abc"]
    pieces, rejects = source.read("essenFolksong/little.abc")
    assert [p.id for p in pieces] == ["essenFolksong/little/1", "essenFolksong/little/2",
                                      "essenFolksong/little/3"]
    assert [p.reader for p in pieces] == ["note-seq", "note-seq", "music21"]  # tuplets
    assert notes(pieces[1].ns) == [(67, 0, 0.25), (71, 0.5, 0.75), (74, 1.0, 2.0)]
    assert [n[0] for n in notes(pieces[2].ns)] == [67, 69, 71, 72]
    assert rejects == [("essenFolksong/little/3", "reference number appears more than once")]


def test_embedded_corpora_are_listed():
    folk = get_source("embedded-folk").inputs()
    assert len(folk) == 1135 and folk[0].startswith("airdsAirs/")
    chorales = get_source("embedded-chorales")
    assert len(chorales.inputs()) == 410
    [piece], rejects = chorales.read("bwv1.6.mxl")
    assert piece.id == "bach/bwv1.6" and len(piece.ns.notes) > 100 and not rejects


def test_unknown_source_and_missing_paths():
    with pytest.raises(ZooError, match="unknown source 'nope'"):
        get_source("nope")
    with pytest.raises(ZooError, match="needs a PATH"):
        get_source("midi-dir")
    with pytest.raises(ZooError, match="/no/such/dir does not exist"):
        get_source("midi-dir", "/no/such/dir")


def test_midi_dir_without_midi_files(tmp_path):
    (tmp_path / "notes.txt").write_text("not midi")
    with pytest.raises(ZooError, match=f"no .mid or .midi files under {tmp_path}"):
        get_source("midi-dir", tmp_path).inputs()


FRAMES = [[60, 64], [60, 64], [60], [], [62, 67], [62]]


def test_frames_to_sequence_is_frame_exact():
    ns = bl2012.frames_to_sequence(FRAMES)
    assert notes(ns) == [(60, 0, 1.5), (64, 0, 1.0), (62, 2.0, 3.0), (67, 2.0, 2.5)]
    assert ns.total_time == 3.0 and ns.tempos[0].qpm == 120
    with pytest.raises(SkipPiece, match="no notes"):
        bl2012.frames_to_sequence([[], []])


def write_bl2012(path, fmt="pickle"):
    data = {"train": [FRAMES, [[70]] * 4], "valid": [[[50, 55]] * 2], "test": [[], FRAMES]}
    if fmt == "json":
        path.write_text(json.dumps(data))
    else:
        data["train"][1] = np.array([[70]] * 4)  # numpy arrays are allowed in pickles
        path.write_bytes(pickle.dumps(data, protocol=2))
    return data


@pytest.mark.parametrize("fmt", ["pickle", "json"])
def test_bl2012_keeps_its_splits(tmp_path, fmt):
    path = tmp_path / f"jsb.{fmt}"
    write_bl2012(path, fmt)
    source = get_source("bl2012", path)
    pieces, rejects = source.read(source.inputs()[0])
    assert [(p.id, p.split) for p in pieces] == [
        ("train/0000", "train"), ("train/0001", "train"), ("valid/0000", "valid"),
        ("test/0001", "test")]
    assert rejects == [("test/0000", "no notes")]
    assert notes(pieces[1].ns) == [(70, 0, 2.0)]


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_bl2012_refuses_unsafe_pickles(tmp_path):
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps({"train": [_Evil()], "valid": [], "test": []}))
    source = get_source("bl2012", path)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load posix.system"):
        source.read("evil.pickle")
    path.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(SkipPiece, match="not a BL2012 file"):
        source.read("evil.pickle")
