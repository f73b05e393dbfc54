"""The originality check: copied runs found with their exact span, transposed or not."""

import shutil

import numpy as np
import pytest

from zoo.data.prepared import PreparedData
from zoo.eval import Notes
from zoo.eval.originality import (
    CorpusIndex,
    cached_index,
    interval_symbols,
    originality,
    suffix_array,
    summarize,
)


def tune(seed: int, length: int = 60) -> Notes:
    """A random walk in pitch with eighth and quarter notes: tunes that share no long run."""
    rng = np.random.default_rng(seed)
    pitches = 62 + np.cumsum(rng.integers(-4, 5, length))
    lengths = rng.choice([2, 4], length)
    start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return Notes.from_arrays(pitches, start, start + lengths)


def splice(parts: list[tuple[np.ndarray, np.ndarray]]) -> Notes:
    """A piece of the given (pitches, note lengths) parts one after another."""
    pitches = np.concatenate([p for p, _ in parts])
    lengths = np.concatenate([d for _, d in parts])
    start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return Notes.from_arrays(pitches, start, start + lengths)


@pytest.fixture(scope="module")
def corpus():
    pieces = [tune(k) for k in range(30)]
    return pieces, CorpusIndex.build(pieces, [f"tune-{k}" for k in range(30)])


def test_suffix_array_sorts_suffixes():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 200):
        x = rng.integers(0, 3, n)
        assert suffix_array(x).tolist() == sorted(range(n), key=lambda i: tuple(x[i:]))
    periodic = np.tile([5, 1, 5], 50)  # long repeats need many doubling rounds
    assert suffix_array(periodic).tolist() == sorted(range(150), key=lambda i: tuple(periodic[i:]))


def test_a_copied_passage_is_flagged_with_its_exact_span(corpus):
    pieces, index = corpus
    source = pieces[11]
    lengths = np.diff(np.append(source.start, source.end[-1]))
    # 10 notes of its own, notes 20..59 of tune-11 (40 notes), then 3 notes of its own
    sample = splice([(np.array([40, 90, 41, 91, 42, 92, 43, 93, 44, 94]), np.full(10, 3)),
                     (source.pitch[20:60], lengths[20:60]),
                     (np.array([30, 100, 31]), np.full(3, 7))])
    r = originality(sample, index, max_copy_notes=32)
    assert r["longest_run"] == 40
    assert (r["run_start"], r["source_id"], r["source_start"]) == (10, "tune-11", 20)
    assert r["copied"]
    assert not originality(sample, index, max_copy_notes=40)["copied"]  # exactly the limit
    # the 8-note windows inside the copy (33 of 46) are found, the others are not
    assert r["ngram_overlap"] == pytest.approx(33 / 46)


def test_a_transposed_copy_is_found_too(corpus):
    pieces, index = corpus
    source = pieces[4]
    lengths = np.diff(np.append(source.start, source.end[-1]))
    sample = splice([(source.pitch[:50] + 5, lengths[:50])])  # up a fourth
    r = originality(sample, index)
    assert (r["longest_run"], r["run_start"], r["source_id"], r["source_start"]) == (
        50, 0, "tune-4", 0)
    assert r["ngram_overlap"] == 1.0 and r["copied"]
    # the same pitches with another rhythm are not a copy
    other_rhythm = splice([(source.pitch[:50], np.where(lengths[:50] == 2, 4, 2))])
    assert originality(other_rhythm, index)["longest_run"] < 8


def test_an_unrelated_piece_is_original(corpus):
    _, index = corpus
    results = [originality(tune(1000 + k), index) for k in range(4)]
    assert all(r["longest_run"] < 8 and not r["copied"] for r in results)
    assert all(r["ngram_overlap"] == 0.0 for r in results)
    s = summarize(results)
    assert s["copied"] == 0 and s["pieces"] == 4 and s["mean_ngram_overlap"] == 0.0


def test_a_run_does_not_cross_two_training_pieces(corpus):
    pieces, index = corpus
    a, b = pieces[2], pieces[3]
    la = np.diff(np.append(a.start, a.end[-1]))
    lb = np.diff(np.append(b.start, b.end[-1]))
    # the last 20 notes of tune-2 joined to the first 25 of tune-3: the longer part, not 45
    r = originality(splice([(a.pitch[-20:], la[-20:]), (b.pitch[:25], lb[:25])]), index)
    assert (r["longest_run"], r["run_start"], r["source_id"], r["source_start"]) == (
        25, 20, "tune-3", 0)


def test_index_of_prepared_data_is_cached_and_finds_a_real_tune(chorale_melodies, monkeypatch):
    data = PreparedData(chorale_melodies)
    shutil.rmtree(data.dir / "originality", ignore_errors=True)  # another test may have built it
    messages = []
    index = cached_index(data, echo=messages.append)
    assert len(messages) == 1 and len(list((data.dir / "originality").glob("*.npz"))) == 1
    train = data.split("train")
    notes = Notes.from_sequence(data.codec.decode(np.asarray(train[5])))
    # a second call reads the cache: it must not decode anything
    monkeypatch.setattr(type(data.codec), "decode", lambda *a: pytest.fail("decoded again"))
    again = cached_index(PreparedData(chorale_melodies), echo=messages.append)
    assert len(messages) == 1 and again.piece_ids == index.piece_ids
    assert np.array_equal(again.suffixes, index.suffixes)
    # a training chorale moved down a third is a copy of all its notes, of that piece or of
    # another harmonization of the same tune: the symbols at the source must equal its own
    moved = Notes.from_arrays(notes.pitch - 3, notes.start, notes.end)
    r = originality(moved, again)
    assert r["longest_run"] == len(notes) and r["copied"]
    k = again.piece_ids.index(r["source_id"])
    at = again.piece_starts[k] + r["source_start"]
    assert np.array_equal(again.text[at : at + len(notes) - 1], interval_symbols(notes))
