"""Codecs' encoders on the fast reader's arrays, without building a NoteSequence.

    ids = encode_parts(codec, parts)   # parts: midi_reader.FastRead; None: no fast encoder

`zoo prepare midi-dir` spends most of its time, once symusic reads the files, in note-seq's
pure-Python quantisation (``quantize_note_sequence``: one protobuf note at a time) and melody
extraction (``Melody.from_quantized_sequence``, whose every note scans the events back to the
last note-on). For the codecs listed in ``FAST``, the same steps are written here on numpy
arrays and Python ints, step for step as note-seq takes them, so that the ids are equal to
``codec.encode(parts.note_sequence())`` on every file (``tests/test_fast_encode.py`` checks
each file of a generated folder, and the benchmark compares the prepared arrays with note-seq's
path). The skip reasons are the codec's own, raised at the same points.

melody (``MelodyCodec`` with any field values):

1. ``quantize_metrical``: the meter that lasts longest (``piece_meter``), a power-of-two
   denominator and a numerator above 0 ("bad time signature"), one tempo ("tempo change", as
   ``quantize_note_sequence`` compares every tempo with the first), then each time to
   ``int(seconds * steps_per_second + 0.5)`` with ``steps_per_second = 4 * qpm / 60.0``,
   a zero-length note lengthened to one step;
2. voices: one per instrument (MIDI files leave parts at 0), drums and velocity 0 dropped,
   tried from the highest mean pitch down (a stable sort, as ``sorted``);
3. ``Melody.from_quantized_sequence(ignore_polyphonic_notes=True, gap_bars=inf)``: notes in
   (start step, -pitch) order (stable), the melody from the bar of the first; a note starting
   on the last added note's step is dropped; each added note truncates or pads the events to
   its end step, writes its pitch, NO_EVENT through, NOTE_OFF at its end; a final NOTE_OFF is
   dropped; then ``squash`` (octave folding into [min_note, max_note)) and the codec's rules.
"""

from __future__ import annotations

import collections
import math

import note_seq
import numpy as np
from note_seq import sequences_lib

from zoo.codecs import melody as melody_codec
from zoo.codecs.base import NUM_SPECIAL
from zoo.data.midi_reader import FastRead
from zoo.errors import SkipPiece

_NO_EVENT, _NOTE_OFF = note_seq.MELODY_NO_EVENT, note_seq.MELODY_NOTE_OFF  # -2, -1
_STEPS_PER_QUARTER = 4


def _piece_meter(parts: FastRead) -> tuple[int, int]:
    """``zoo.codecs.base.piece_meter`` on the read's time signatures."""
    signatures = sorted(parts.time_signatures, key=lambda ts: ts[0])
    if not signatures:
        return 4, 4
    ends = [ts[0] for ts in signatures[1:]] + [max(parts.total_time, signatures[-1][0])]
    seconds = collections.Counter()
    for (t, numerator, denominator), end in zip(signatures, ends):
        seconds[(numerator, denominator)] += end - t
    return max(seconds, key=seconds.get)


def _steps_per_second(parts: FastRead, numerator: int, denominator: int) -> float:
    """``quantize_note_sequence``'s checks in its order, then its steps per second."""
    if denominator <= 0 or denominator & (denominator - 1) or numerator == 0:
        raise SkipPiece("bad time signature")
    tempos = sorted(parts.tempos, key=lambda t: t[0])
    if tempos:
        if tempos[0][0] != 0 and tempos[0][1] != note_seq.DEFAULT_QUARTERS_PER_MINUTE:
            raise SkipPiece("tempo change")
        if any(qpm != parts.tempos[0][1] for _, qpm in tempos[1:]):
            raise SkipPiece("tempo change")
        qpm = parts.tempos[0][1]
    else:
        qpm = note_seq.DEFAULT_QUARTERS_PER_MINUTE
    return _STEPS_PER_QUARTER * qpm / 60.0


def _quantize(seconds: np.ndarray, steps_per_second: float) -> np.ndarray:
    """note-seq's ``quantize_to_step`` (cutoff 0.5) on float64 seconds (N,) -> int64 (N,)."""
    return (seconds * steps_per_second + (1 - sequences_lib.QUANTIZE_CUTOFF)).astype(np.int64)


def _melody(starts: list[int], ends: list[int], pitches: list[int], steps_per_bar: int
            ) -> list[int]:
    """``Melody.from_quantized_sequence`` (ignore_polyphonic_notes, no gap) on one voice's
    notes already in (start, -pitch) order: the melody's events from its first bar."""
    first = starts[0] - starts[0] % steps_per_bar
    events: list[int] = []
    last_on = None
    for start, end, pitch in zip(starts, ends, pitches):
        s, e = start - first, end - first
        if s == last_on:
            continue  # a lower note on the last note's step
        if e + 1 > len(events):  # set_length: pads with NO_EVENT (a held note ends earlier:
            events.extend([_NO_EVENT] * (e + 1 - len(events)))  # the last event is NOTE_OFF)
        else:
            del events[e + 1:]
        events[s] = pitch
        events[s + 1:e] = [_NO_EVENT] * (e - s - 1)
        events[e] = _NOTE_OFF
        last_on = s
    if events[-1] == _NOTE_OFF:
        del events[-1]
    return events


def _squash(events: list[int], low: int, high: int) -> list[int]:
    """``Melody.squash(low, high, transpose_to_key=None)``: pitches folded by octaves."""
    out = []
    for e in events:
        if e >= 0:
            if e < low:
                e = low + (e - low) % 12
            elif e >= high:
                e = high - 12 + (e - high) % 12
        out.append(e)
    return out


def encode_melody(codec: melody_codec.MelodyCodec, parts: FastRead) -> np.ndarray:
    """``codec.encode(parts.note_sequence())``: int32 ids (T,), or its SkipPiece."""
    numerator, denominator = _piece_meter(parts)
    steps_per_second = _steps_per_second(parts, numerator, denominator)
    voices = []
    for instrument in parts.instruments:
        keep = instrument.velocity > 0
        if instrument.is_drum or not keep.any():
            continue
        pitch = instrument.pitch[keep]
        voices.append((np.mean(pitch.tolist()), instrument, keep))
    if not voices:
        raise SkipPiece("no notes")
    voices.sort(key=lambda v: -v[0])
    steps_per_bar_float = _STEPS_PER_QUARTER * (4.0 / denominator * numerator)
    reasons = []
    for _, instrument, keep in voices:
        try:
            if steps_per_bar_float % 1 != 0:
                raise SkipPiece("non-integer steps per bar")
            events = _voice_events(codec, instrument, keep, steps_per_second,
                                   int(steps_per_bar_float))
        except SkipPiece as e:
            reasons.append(e.reason)
            continue
        return NUM_SPECIAL + _one_hot(codec, events)
    raise SkipPiece(reasons[0])


def _voice_events(codec, instrument, keep: np.ndarray, steps_per_second: float,
                  steps_per_bar: int) -> list[int]:
    """``MelodyCodec._melody_events`` on one instrument's kept notes."""
    # (note-seq's NegativeTimeError cannot happen: a read's times start at 0 s, tick 0)
    start = _quantize(instrument.start[keep], steps_per_second)
    end = _quantize(instrument.end[keep], steps_per_second)
    end = np.where(end == start, end + 1, end)
    pitch = instrument.pitch[keep]
    order = np.lexsort((-pitch, start))  # stable: the voice's own order breaks ties
    melody = _squash(_melody(start[order].tolist(), end[order].tolist(),
                             pitch[order].tolist(), steps_per_bar), codec.min_note, codec.max_note)
    bar = melody_codec._STEPS_PER_BAR_4_4
    rest = next(i for i, e in enumerate(melody) if e >= 0)
    events = melody[rest - rest % bar:]
    if math.ceil(len(events) / bar) < codec.min_bars:
        raise SkipPiece("melody too short")
    notes = np.array([e for e in melody if e >= 0], np.int64)
    if np.count_nonzero(np.bincount(notes % 12, minlength=12)) < codec.min_unique_pitches:
        raise SkipPiece("too few pitches")
    return melody_codec._end_on_a_note(events[: codec.max_steps])


def _one_hot(codec, events: list[int]) -> np.ndarray:
    """``MelodyOneHotEncoding.encode_event`` on every event: NO_EVENT 0, NOTE_OFF 1, a pitch
    p: p - min_note + 2; its ValueError for the first pitch out of range (a range narrower
    than an octave, where folding cannot bring every pitch in)."""
    e = np.asarray(events, np.int64)
    out = np.flatnonzero((e >= 0) & ((e < codec.min_note) | (e >= codec.max_note)))
    if len(out):
        bad = int(e[out[0]])
        raise ValueError(f"melody event less than min note: {bad} < {codec.min_note}"
                         if bad < codec.min_note else
                         f"melody event greater than max note: {bad} >= {codec.max_note}")
    return np.where(e >= 0, e - codec.min_note + 2, e + 2).astype(np.int32)


FAST = {melody_codec.MelodyCodec: encode_melody}


def encode_parts(codec, parts: FastRead) -> np.ndarray | None:
    """The codec's ids for ``parts`` by its fast encoder; None when it has none (the caller
    builds the NoteSequence and calls ``codec.encode``)."""
    fast = FAST.get(type(codec))
    return None if fast is None else fast(codec, parts)
