"""ABC tunes note-seq's parser rejects, read with music21's ABC parser into NoteSequences.

note-seq's ABC parser refuses tuplets, grace notes ``{}``, chords, variant endings, parts
``P:``, several voices and some characters (about 2,440 of the 12,764 embedded folk tunes).
music21 reads them: ``parse_tune`` expands repeats and variant endings (``measure_order``,
on music21's measures: music21's own ``expandRepeats`` and ``stripTies`` take longer than the
parse), joins tied notes, plays every note of a chord, drops grace notes (they take
no time in music21's score, and note-seq has no ornaments to put them in) and keeps rests as
time. Times are seconds at the tune's first ``Q:`` (music21's quarter BPM; 120 when absent, as
note-seq), velocity note-seq's ``!mf!``, each voice its own part and instrument.

On the tunes both parsers read, the melodies agree once note-seq's repeats are expanded as
well (``zoo.data.abc_source`` does so); ``tests/test_folk_corpus.py`` compares a fixed sample,
``benchmarks/prepare_scale.py --folk`` the whole corpus.
"""

from __future__ import annotations

import contextlib
import io
import warnings

from note_seq.protobuf import music_pb2

from zoo.errors import SkipPiece

DEFAULT_QPM = 120.0
_SECTION_ENDS = ("double", "final", "light-light", "light-heavy", "heavy-light", "heavy-heavy")
_MODES = {"major": 0, "minor": 1, "mixolydian": 2, "dorian": 3, "phrygian": 4, "lydian": 5,
          "locrian": 6}


def _velocity() -> int:
    from note_seq import abc_parser

    return abc_parser.ABCTune.DECORATION_TO_VELOCITY["!mf!"]


@contextlib.contextmanager
def _no_engraving():
    """music21's ABC import beams the notes and picks a clef for display, which takes about
    3/4 of its time and changes no note: both are skipped while a tune is parsed."""
    from music21 import clef, stream

    make_beams, best_clef = stream.Stream.makeBeams, clef.bestClef
    stream.Stream.makeBeams = lambda self, *args, **kwargs: self
    clef.bestClef = lambda *args, **kwargs: clef.TrebleClef()
    try:
        yield
    finally:
        stream.Stream.makeBeams, clef.bestClef = make_beams, best_clef


def parse_tune(text: str) -> music_pb2.NoteSequence:
    """One ABC tune (its header lines included) -> NoteSequence. Raises music21's exception
    when it cannot read the tune, SkipPiece when it has no notes."""
    from music21 import abcFormat, key, meter, tempo

    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()), _no_engraving():
        warnings.simplefilter("ignore")
        handler = abcFormat.ABCHandler(abcVersion=(2, 1, 0))  # accidentals last the bar
        handler.process(text)
        score = abcFormat.translate.abcToStreamScore(handler)
    parts = list(score.parts) or [score]

    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.source_info.encoding_type = music_pb2.NoteSequence.SourceInfo.ABC
    ns.source_info.parser = music_pb2.NoteSequence.SourceInfo.MUSIC21
    if score.metadata is not None and score.metadata.title:
        ns.sequence_metadata.title = score.metadata.title
    flat = parts[0].flatten()
    marks = list(flat.getElementsByClass(tempo.MetronomeMark))
    qpm = float(marks[0].getQuarterBPM()) if marks and marks[0].number else DEFAULT_QPM
    ns.tempos.add(time=0.0, qpm=qpm)
    seconds = 60.0 / qpm  # per quarter
    for ts in flat.getElementsByClass(meter.TimeSignature)[:1]:
        ns.time_signatures.add(time=0.0, numerator=ts.numerator, denominator=ts.denominator)
    for ks in flat.getElementsByClass(key.KeySignature)[:1]:
        k = ks if isinstance(ks, key.Key) else ks.asKey("major")
        ns.key_signatures.add(time=0.0, key=k.tonic.pitchClass, mode=_MODES.get(k.mode, 0))
    velocity, total = _velocity(), 0.0
    for voice, part in enumerate(parts):
        notes, end = played(part)
        total = max(total, end * seconds)
        for pitch, start, stop in notes:
            ns.notes.add(pitch=pitch, velocity=velocity, start_time=start * seconds,
                         end_time=stop * seconds, instrument=voice, part=voice)
    if not ns.notes:
        raise SkipPiece("no notes")
    ns.notes.sort(key=lambda n: (n.start_time, n.pitch))
    ns.total_time = total
    return ns


def measure_order(measures) -> list[int]:
    """Indices of ``measures`` in playing order: ``|: ... :|`` played twice (or as its repeat
    count says; a ``:|`` with no ``|:`` repeats from the last double bar, or the start), variant
    endings ``[1 ... [2`` taken on their pass."""
    from music21 import bar, spanner

    def repeat(m, side, direction):
        line = getattr(m, side, None)
        return isinstance(line, bar.Repeat) and line.direction == direction

    endings = {}
    for i, m in enumerate(measures):
        for b in m.getSpannerSites():
            if isinstance(b, spanner.RepeatBracket):
                endings[i] = set(b.numberRange)
    order, i, start, pass_no, last_ending = [], 0, 0, 1, -1
    while i < len(measures) and len(order) < 8 * len(measures) + 8:
        m = measures[i]
        if repeat(m, "leftBarline", "start") and i != start:
            start, pass_no = i, 1
        if i in endings:
            last_ending = max(last_ending, i)
            if pass_no not in endings[i]:
                i += 1
                continue
        elif start <= last_ending < i:  # past the variant endings: a new section
            start, pass_no = i, 1
        order.append(i)
        if repeat(m, "rightBarline", "end"):
            times = getattr(m.rightBarline, "times", None) or 2
            if pass_no < times:
                pass_no += 1
                i = start
                continue
            start, pass_no = i + 1, 1
        elif (isinstance(right := getattr(m, "rightBarline", None), bar.Barline)
              and right.type in _SECTION_ENDS):
            start, pass_no = i + 1, 1  # a :| after a double bar repeats from the double bar
        i += 1
    return order


def played(part) -> tuple[list[tuple[int, float, float]], float]:
    """([(MIDI pitch, start, end)] in quarters, the end of the last measure) of one voice, with
    repeats expanded, ties joined, chords as several notes and grace notes dropped."""
    from music21 import note, stream

    measures = list(part.getElementsByClass(stream.Measure))
    if not measures:  # no bar lines: the voice as one measure
        measures = [part]
    out, open_ties, at = [], {}, 0.0
    for i in measure_order(measures):
        m = measures[i]
        for element in m.flatten().notesAndRests:
            length = float(element.duration.quarterLength)
            if isinstance(element, note.Rest) or length == 0:
                continue  # rests are time; grace notes take none
            start = at + float(element.offset)
            for n in getattr(element, "notes", None) or [element]:
                pitch = n.pitch.midi
                t = n.tie or element.tie
                kind = t.type if t is not None else None
                held = open_ties.get(pitch)
                if held is not None and kind in ("stop", "continue") and abs(
                        out[held][2] - start) < 1e-9:
                    out[held] = (pitch, out[held][1], start + length)
                else:
                    out.append((pitch, start, start + length))
                    held = len(out) - 1
                if kind in ("start", "continue"):
                    open_ties[pitch] = held
                else:
                    open_ties.pop(pitch, None)
        at += float(m.duration.quarterLength)
    return out, at
