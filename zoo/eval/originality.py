"""Did a model copy its training set? Longest copied run and n-gram overlap, per sample.

A piece is read as its notes in onset order (``Notes``: onset, then pitch) and turned into one
symbol per pair of consecutive notes, (pitch interval in semitones, onset interval in grid steps).
A run of k consecutive notes is k - 1 symbols, so a match is transposition-invariant (a copy moved
to another key matches) but keeps the rhythm. The training set's symbols, each piece ended by a
separator no query symbol equals, are indexed by a suffix array; for every position i of a sample
a binary search gives the longest prefix of sample[i:] that occurs in the training set (the
"matching statistics" of the sample), and from those:

- ``longest_run``: the most consecutive sample notes found, in one piece of the training set;
- ``ngram_overlap``: the share of the sample's n-note windows (n = 8) found in the training set;
- ``copied``: the sample repeats more than ``max_copy_notes`` consecutive notes of one piece.

The index over a prepared split is built once and cached as ``originality/<key>.npz`` in the
prepared data directory (or, if that cannot be written, under ``fallback_dir``), keyed by the
data's manifest fingerprint, the split and the grid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from zoo.eval import STEPS_PER_QUARTER, Notes

INDEX_VERSION = 1  # bump when the symbols or the file layout change
NGRAM_NOTES = 8
MAX_COPY_NOTES = 32  # two 4/4 bars of sixteenths, or four of eighths: more is a quotation
_PITCH_OFFSET = 128  # pitch intervals lie in [-127, 127]


def interval_symbols(notes: Notes) -> np.ndarray:
    """int64 (M - 1,): one non-negative symbol per pair of consecutive notes, encoding
    (pitch[i+1] - pitch[i], start[i+1] - start[i]); empty under two notes."""
    dp = np.diff(notes.pitch)
    dt = np.diff(notes.start)
    return dt * (2 * _PITCH_OFFSET) + (dp + _PITCH_OFFSET)


def suffix_array(symbols: np.ndarray) -> np.ndarray:
    """int64 (L,): the start positions of the suffixes of ``symbols`` in lexicographic order (a
    shorter suffix before its extensions), by prefix doubling (Manber and Myers, 1993): sort by
    the ranks of the first k symbols, then of the first 2k, until all ranks differ. Each round is
    one numpy lexsort, O(L log L); rounds grow with log of the longest repeat."""
    n = symbols.size
    if n == 0:
        return np.zeros(0, np.int64)
    rank = np.unique(symbols, return_inverse=True)[1].astype(np.int64).reshape(-1)
    k = 1
    while True:
        second = np.full(n, -1, np.int64)  # past the end sorts first
        if k < n:
            second[: n - k] = rank[k:]
        order = np.lexsort((second, rank))
        first_s, second_s = rank[order], second[order]
        new_group = np.ones(n, bool)
        new_group[1:] = (first_s[1:] != first_s[:-1]) | (second_s[1:] != second_s[:-1])
        rank = np.empty(n, np.int64)
        rank[order] = np.cumsum(new_group) - 1
        if rank.max() == n - 1 or k >= n:
            return order.astype(np.int64)
        k *= 2


def _common_prefix(query: np.ndarray, text: np.ndarray, at: int) -> int:
    """Length of the common prefix of ``query`` and ``text[at:]``."""
    window = text[at : at + query.size]
    differ = query[: window.size] != window
    return int(np.argmax(differ)) if differ.any() else int(window.size)


@dataclasses.dataclass(frozen=True)
class CorpusIndex:
    """Suffix array over the interval symbols of a set of pieces.

    Attributes:
      text: int64 (L,) the pieces' symbols, each piece followed by its own negative separator.
      suffixes: int64 (L,) the suffix array of ``text``.
      piece_starts: int64 (pieces + 1,) where each piece's symbols begin in ``text``.
      piece_ids: the pieces' ids (from the prepared split), for reporting where a copy comes from.
      steps_per_quarter: the grid of the onset intervals.
    """

    text: np.ndarray
    suffixes: np.ndarray
    piece_starts: np.ndarray
    piece_ids: tuple[str, ...]
    steps_per_quarter: int = STEPS_PER_QUARTER

    @staticmethod
    def build(pieces: list[Notes], piece_ids: list[str] | None = None) -> CorpusIndex:
        """Index ``pieces`` (on one grid; ids default to their positions)."""
        symbols = [interval_symbols(p) for p in pieces]
        parts = []
        for k, s in enumerate(symbols):
            parts += [s, np.array([-1 - k], np.int64)]  # matches no symbol, no other separator
        text = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        starts = np.concatenate([[0], np.cumsum([s.size + 1 for s in symbols])]).astype(np.int64)
        ids = tuple(piece_ids) if piece_ids is not None else tuple(map(str, range(len(pieces))))
        grid = pieces[0].steps_per_quarter if pieces else STEPS_PER_QUARTER
        return CorpusIndex(text, suffix_array(text), starts, ids, grid)

    def save(self, path: Path) -> None:
        """Write atomically (a temporary file, then a rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.npz")
        np.savez(tmp, text=self.text, suffixes=self.suffixes, piece_starts=self.piece_starts,
                 piece_ids=np.array(self.piece_ids, dtype=str),
                 steps_per_quarter=self.steps_per_quarter)
        tmp.replace(path)

    @staticmethod
    def load(path: Path) -> CorpusIndex:
        with np.load(path) as f:
            return CorpusIndex(f["text"], f["suffixes"], f["piece_starts"],
                               tuple(f["piece_ids"].tolist()), int(f["steps_per_quarter"]))

    def longest_match(self, query: np.ndarray) -> tuple[int, int]:
        """(length, text position) of the longest prefix of ``query`` (non-negative symbols) that
        occurs in the text, by binary search over the suffix array: the best match is next to
        where the query would be inserted. Position -1 when the length is 0."""
        text, sa = self.text, self.suffixes
        lo, hi = 0, sa.size
        while lo < hi:
            mid = (lo + hi) // 2
            n = _common_prefix(query, text, int(sa[mid]))
            if n == query.size:
                return n, int(sa[mid])
            if query[n] < text[sa[mid] + n]:
                hi = mid
            else:
                lo = mid + 1
        best, where = 0, -1
        for j in (lo - 1, lo):
            if 0 <= j < sa.size:
                n = _common_prefix(query, text, int(sa[j]))
                if n > best:
                    best, where = n, int(sa[j])
        return best, where

    def matching_statistics(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each position i of a sample's symbols: (length (S,) of the longest prefix of
        symbols[i:] found in the text, its text position (S,), -1 where the length is 0)."""
        symbols = np.asarray(symbols, np.int64)
        lengths = np.zeros(symbols.size, np.int64)
        where = np.full(symbols.size, -1, np.int64)
        for i in range(symbols.size):
            lengths[i], where[i] = self.longest_match(symbols[i:])
        return lengths, where

    def locate(self, position: int) -> tuple[str, int]:
        """Text position -> (piece id, index of the note where the match starts in that piece)."""
        k = int(np.searchsorted(self.piece_starts, position, side="right") - 1)
        return self.piece_ids[k], int(position - self.piece_starts[k])


def originality(notes: Notes, index: CorpusIndex, ngram: int = NGRAM_NOTES,
                max_copy_notes: int = MAX_COPY_NOTES) -> dict:
    """How much of one piece occurs in the indexed corpus.

    Returns a json-able dict:
      notes: the piece's note count;
      longest_run: the most consecutive notes that occur in one corpus piece (intervals and
        onset intervals equal; 1 for a lone note, 0 for none);
      run_start: the index of the run's first note in the piece (-1 without a run of 2);
      source_id, source_start: the corpus piece holding it and the index of its first note there;
      ngram_overlap: the share of the piece's ``ngram``-note windows found in the corpus (nan if
        the piece is shorter than one window);
      copied: longest_run > max_copy_notes.
    """
    symbols = interval_symbols(notes)
    lengths, where = index.matching_statistics(symbols)
    out = {"notes": len(notes), "longest_run": min(len(notes), 1), "run_start": -1,
           "source_id": None, "source_start": -1}
    if lengths.size and lengths.max() > 0:
        i = int(np.argmax(lengths))  # the first of equally long runs
        out.update(longest_run=int(lengths[i]) + 1, run_start=i)
        out["source_id"], out["source_start"] = index.locate(int(where[i]))
    windows = lengths[: max(symbols.size - (ngram - 1) + 1, 0)]
    out["ngram_overlap"] = float((windows >= ngram - 1).mean()) if windows.size else np.nan
    out["copied"] = out["longest_run"] > max_copy_notes
    return out


def summarize(results: list[dict], max_copy_notes: int = MAX_COPY_NOTES) -> dict:
    """The originality of a set of pieces: mean and maximum longest run, mean n-gram overlap
    (over pieces long enough to have a window), and how many copy more than ``max_copy_notes``."""
    runs = np.array([r["longest_run"] for r in results], np.float64)
    overlaps = np.array([r["ngram_overlap"] for r in results], np.float64)
    overlaps = overlaps[~np.isnan(overlaps)]
    return {
        "pieces": len(results),
        "mean_longest_run": float(runs.mean()) if runs.size else np.nan,
        "max_longest_run": int(runs.max()) if runs.size else 0,
        "mean_ngram_overlap": float(overlaps.mean()) if overlaps.size else np.nan,
        "copied": int(sum(r["copied"] for r in results)),
        "max_copy_notes": max_copy_notes,
    }


def index_key(manifest: dict, split: str, steps_per_quarter: int) -> str:
    """The cache key of a prepared split's index: its data, split, grid and this code's version."""
    key = {"fingerprint": manifest.get("fingerprint"), "codec": manifest.get("codec"),
           "split": split, "steps_per_quarter": steps_per_quarter, "version": INDEX_VERSION}
    return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def cached_index(data, split: str = "train", steps_per_quarter: int = STEPS_PER_QUARTER,
                 fallback_dir: Path | None = None, echo=print) -> CorpusIndex:
    """The index of every piece of ``data.split(split)`` (a PreparedData), decoded through its
    codec, built on first use and then read from the cache (see the module docstring)."""
    name = f"{index_key(data.manifest, split, steps_per_quarter)}.npz"
    places = [Path(data.dir) / "originality"] + ([Path(fallback_dir)] if fallback_dir else [])
    for place in places:
        if (place / name).exists():
            return CorpusIndex.load(place / name)
    pieces = data.split(split)
    codec = data.codec
    notes = [Notes.from_sequence(codec.decode(np.asarray(pieces[i])), steps_per_quarter)
             for i in range(len(pieces))]
    index = CorpusIndex.build(notes, list(pieces.ids))
    for place in places:
        try:
            index.save(place / name)
        except OSError:
            continue
        echo(f"indexed {len(notes)} {split} pieces ({index.text.size} note pairs) "
             f"in {place / name}")
        break
    return index
