"""User pieces for harmonisation and infilling: a NoteSequence on the sixteenth grid as voice
rolls, and the result back as a NoteSequence that keeps every given note as it was.

Times are read on a grid of 4 steps per quarter note at the piece's first tempo (step = round(
seconds x qpm / 15)), from time 0. Voices are the codec's (``notes_by_voice``: ``part``, or
``instrument`` where every part is 0): at their own numbers when those are all voice numbers
(a decoded roll, whose silent voices stay in place), else in ascending order; voice 0 is the
soprano, as in the chorales; drums are left out. A voice whose notes overlap reads, per step,
as its highest note.

The returned NoteSequence holds the given notes themselves (times, pitches, velocities as read),
and the generated notes on the grid, one instrument per voice (a run of one class is one note).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from note_seq.protobuf import music_pb2

from zoo.codecs.base import notes_by_voice, piece_meter
from zoo.errors import ZooError

STEPS_PER_QUARTER = 4


@dataclasses.dataclass
class GridPiece:
    """A piece on the grid: ``rolls_TxV`` int32 classes, the notes of each voice (in grid
    order), the first tempo and the meter."""

    rolls: np.ndarray
    voices: list[list]             # per voice, the NoteSequence notes read into it
    qpm: float
    meter: tuple[int, int]
    source: str

    @property
    def seconds_per_step(self) -> float:
        return 60.0 / self.qpm / STEPS_PER_QUARTER

    @property
    def steps_per_bar(self) -> int:
        numerator, denominator = self.meter
        return numerator * 4 * STEPS_PER_QUARTER // denominator


def read_piece(ns: music_pb2.NoteSequence, voices: int, lowest: int, pitches: int, source: str,
               max_voices: int | None = None) -> GridPiece:
    """``ns`` -> GridPiece with ``voices`` voices (missing ones are rests). Raises ZooError when
    the piece is empty, has more than ``max_voices`` (default ``voices``) voices, or a note of a
    voice lies outside the model's pitches."""
    by_voice = {k: [n for n in notes if not n.is_drum] for k, notes in notes_by_voice(ns).items()}
    by_voice = {k: v for k, v in by_voice.items() if v}
    if not by_voice:
        raise ZooError(f"{source}: no pitched notes")
    limit = voices if max_voices is None else max_voices
    if len(by_voice) > limit:
        raise ZooError(f"{source}: {len(by_voice)} voices; the model reads at most {limit}")
    qpm = ns.tempos[0].qpm if ns.tempos else 120.0
    per_step = 60.0 / qpm / STEPS_PER_QUARTER
    step = lambda seconds: int(round(seconds / per_step))
    notes = [n for v in by_voice.values() for n in v]
    length = max(max(step(n.end_time), step(n.start_time) + 1) for n in notes)
    rolls = np.full((length, voices), pitches, np.int32)
    if all(0 <= k < voices for k in by_voice):  # voice numbers are the voices (a decoded roll)
        grouped = [by_voice.get(k, []) for k in range(voices)]
    else:
        grouped = list(by_voice.values()) + [[] for _ in range(voices - len(by_voice))]
    for v, vnotes in enumerate(grouped):
        for n in sorted(vnotes, key=lambda n: n.pitch):  # highest pitch last: it wins the step
            if not lowest <= n.pitch < lowest + pitches:
                raise ZooError(f"{source}: pitch {n.pitch} at {n.start_time:.2f} s is outside the "
                               f"model's range {lowest}..{lowest + pitches - 1}")
            start = step(n.start_time)
            rolls[start:max(step(n.end_time), start + 1), v] = n.pitch - lowest
    return GridPiece(rolls, grouped[:voices], qpm, piece_meter(ns), source)


def parse_bars(text: str, piece: GridPiece) -> tuple[int, int]:
    """"3-4" (bars counted from 1 at the piece's start, inclusive) or "3" -> grid steps
    [start, end), checked against the piece's length."""
    try:
        parts = [int(p) for p in text.split("-")]
        first, last = (parts[0], parts[-1]) if len(parts) in (1, 2) else (0, -1)
    except ValueError:
        first, last = 0, -1
    if first < 1 or last < first:
        raise ZooError(f"bad bars '{text}': expected e.g. 3-4 (from 1, inclusive)")
    bar = piece.steps_per_bar
    bars = -(-len(piece.rolls) // bar)
    if last > bars:
        raise ZooError(f"{piece.source} has {bars} bars of {piece.meter[0]}/{piece.meter[1]}; "
                       f"cannot erase bars {first}-{last}")
    return (first - 1) * bar, min(last * bar, len(piece.rolls))


def _copy(ns: music_pb2.NoteSequence, note, voice: int, start=None, end=None):
    out = ns.notes.add()
    out.CopyFrom(note)
    out.instrument, out.part = voice, voice
    if start is not None:
        out.start_time = start
    if end is not None:
        out.end_time = end
    return out


def _generated(ns, rolls_T: np.ndarray, voice: int, t0: int, t1: int, lowest: int,
               pitches: int, per_step: float, program: int) -> None:
    """The runs of one class in rolls_T[t0:t1] as notes of ``voice``."""
    t = t0
    while t < t1:
        c = int(rolls_T[t])
        end = t + 1
        while end < t1 and rolls_T[end] == c:
            end += 1
        if c < pitches:
            ns.notes.add(pitch=lowest + c, start_time=t * per_step, end_time=end * per_step,
                         velocity=80, instrument=voice, part=voice, program=program)
        t = end


def write_piece(piece: GridPiece, rolls_TxV: np.ndarray, given_voices: list[int],
                span: tuple[int, int] | None, lowest: int, pitches: int
                ) -> music_pb2.NoteSequence:
    """The result: voices in ``given_voices`` keep their notes; of the others, outside ``span``
    (grid steps [start, end); None: everywhere) the given notes are kept (cut at the span's
    edges) and inside it the generated ones are written."""
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=piece.qpm)
    ns.time_signatures.add(numerator=piece.meter[0], denominator=piece.meter[1], time=0.0)
    per = piece.seconds_per_step
    T = len(rolls_TxV)
    for v, notes in enumerate(piece.voices):
        program = notes[0].program if notes else 0
        if v in given_voices:
            for n in notes:
                _copy(ns, n, v)
            continue
        t0, t1 = span if span is not None else (0, T)
        lo, hi = t0 * per, t1 * per
        for n in notes:  # the given notes outside the span, cut at its edges
            if n.end_time <= lo + 1e-9 or n.start_time >= hi - 1e-9:
                _copy(ns, n, v)
            else:
                if n.start_time < lo - 1e-9:
                    _copy(ns, n, v, end=lo)
                if n.end_time > hi + 1e-9:
                    _copy(ns, n, v, start=hi)
        _generated(ns, rolls_TxV[:, v], v, t0, t1, lowest, pitches, per, program)
    ns.notes.sort(key=lambda n: (n.start_time, n.instrument, n.pitch))
    ns.total_time = max([n.end_time for n in ns.notes], default=0.0)
    return ns
