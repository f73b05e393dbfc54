"""Piano-roll codec: binary key states sampled on a metrical grid.

``encode`` gives the roll of the Boulanger-Lewandowski et al. (2012) JSB chorales benchmark:
``frames_TxP`` (uint8 0/1) over the keys [min_pitch, max_pitch] (default 21..108, the 88 piano
keys), one frame per quarter note. ``encode_bars`` gives MuseGAN's multi-track phrases (Dong et
al., 2018): ``tracks x bars x steps_per_bar x P``, one track per voice.

The sampling rule: a note sounds in frame t (t = 0, 1, ...) when it covers that frame's onset
time, ``start_time <= t * frame_seconds < end_time``, so a note shorter than a frame that covers
no onset is not seen, and two notes of one key that touch read as one held key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import note_seq
import numpy as np
from note_seq.protobuf import music_pb2

from zoo.codecs.base import notes_by_voice, piece_meter, quantize_metrical
from zoo.errors import SkipPiece

_EPS = 1e-6  # in frames: note times in seconds land a float ulp off the grid


@dataclasses.dataclass(frozen=True)
class PianorollCodec:
    """Binary piano roll, ``frames_TxP`` with P = max_pitch - min_pitch + 1 keys.

    Attributes:
      min_pitch, max_pitch: the keys, inclusive; notes outside them are left out.
      steps_per_quarter: frames per quarter note (1 as the JSB benchmark).
      qpm: tempo of decoded sequences, quarter notes per minute.
    """

    name: str = "pianoroll"
    min_pitch: int = 21
    max_pitch: int = 108
    steps_per_quarter: int = 1
    qpm: float = 120.0

    kind: ClassVar[str] = "frames"

    @property
    def vocab_size(self) -> int:
        """P, the number of keys."""
        return self.max_pitch - self.min_pitch + 1

    def encode(self, ns: music_pb2.NoteSequence) -> np.ndarray:
        """NoteSequence -> uint8 frames (T, P) from time 0 to the last sounding frame.
        Pitched notes of every voice are merged; drums are left out."""
        qns = quantize_metrical(ns, self.steps_per_quarter)  # checks the tempo is constant
        frame_seconds = 60.0 / qns.tempos[0].qpm / self.steps_per_quarter
        notes = [n for n in qns.notes if not n.is_drum and n.velocity]
        frames = self._roll(notes, frame_seconds)
        if not frames.any():
            raise SkipPiece("no notes")
        return frames

    def decode(self, frames: np.ndarray) -> music_pb2.NoteSequence:
        """frames (T, P), nonzero = sounding -> NoteSequence at ``qpm``: one note per run of
        sounding frames of a key (velocity 100, instrument 0)."""
        ns = _empty_sequence(self.qpm)
        self._add_notes(ns, frames, 60.0 / self.qpm / self.steps_per_quarter, instrument=0)
        return ns

    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "name"}

    def transpose(self, frames: np.ndarray, semitones: int) -> np.ndarray | None:
        """frames (..., P) moved ``semitones`` keys up; None if a sounding key leaves the range."""
        frames = np.asarray(frames)
        keys = np.flatnonzero(frames.reshape(-1, frames.shape[-1]).any(axis=0))
        if keys.size and (keys[0] + semitones < 0 or keys[-1] + semitones >= frames.shape[-1]):
            return None
        return np.roll(frames, semitones, axis=-1)

    def encode_bars(self, ns: music_pb2.NoteSequence, num_bars: int = 4, steps_per_bar: int = 16,
                    tracks: Sequence[int] | None = None) -> list[np.ndarray]:
        """NoteSequence -> MuseGAN phrases: uint8 arrays (K, num_bars, steps_per_bar, P).

        Args:
          ns: the piece; its meter is the time signature that lasts longest (default 4/4).
          num_bars: bars per phrase; phrases follow one another, the last partial one is dropped,
            and phrases in which no track sounds are skipped.
          steps_per_bar: frames per bar (16 = sixteenth notes in 4/4).
          tracks: the voices, one track each in this order: NoteSequence ``part`` numbers, or
            ``instrument`` numbers where every part is 0. None takes every voice, ascending.
            Drum voices are tracks like any other.

        Bar lines fall on the latest time-signature event of that meter (events sit on bar lines,
        and a pickup bar moves them off time 0); the pickup before the first bar line is dropped.
        """
        qns = quantize_metrical(ns, self.steps_per_quarter)  # checks the tempo is constant
        numerator, denominator = piece_meter(ns)
        bar_seconds = 60.0 / qns.tempos[0].qpm * 4.0 * numerator / denominator
        first_bar = max(
            (ts.time for ts in ns.time_signatures
             if (ts.numerator, ts.denominator) == (numerator, denominator)), default=0.0,
        ) % bar_seconds
        voices = notes_by_voice(qns)
        tracks = list(voices) if tracks is None else list(tracks)
        frame_seconds = bar_seconds / steps_per_bar
        rolls = [
            self._roll([n for n in voices.get(track, []) if n.velocity], frame_seconds, first_bar)
            for track in tracks
        ]
        num_phrases = max((len(r) for r in rolls), default=0) // (num_bars * steps_per_bar)
        num_frames = num_phrases * num_bars * steps_per_bar
        rolls_KxTxP = np.zeros((len(tracks), num_frames, self.vocab_size), np.uint8)
        for k, roll in enumerate(rolls):
            rolls_KxTxP[k, : min(len(roll), num_frames)] = roll[:num_frames]
        phrases_NxKxBxSxP = rolls_KxTxP.reshape(
            len(tracks), num_phrases, num_bars, steps_per_bar, self.vocab_size).swapaxes(0, 1)
        phrases = [np.ascontiguousarray(p) for p in phrases_NxKxBxSxP if p.any()]
        if not phrases:
            raise SkipPiece("shorter than a phrase")
        return phrases

    def decode_bars(self, phrase: np.ndarray, quarters_per_bar: float = 4.0
                    ) -> music_pb2.NoteSequence:
        """(K, bars, steps_per_bar, P), nonzero = sounding -> NoteSequence at ``qpm`` with track k
        as instrument k; a run of frames across a bar line is one note."""
        phrase = np.asarray(phrase)
        num_tracks, num_bars, steps_per_bar, num_keys = phrase.shape
        frame_seconds = 60.0 / self.qpm * quarters_per_bar / steps_per_bar
        ns = _empty_sequence(self.qpm)
        for k in range(num_tracks):
            self._add_notes(ns, phrase[k].reshape(num_bars * steps_per_bar, num_keys),
                            frame_seconds, instrument=k)
        return ns

    def _roll(self, notes: list, frame_seconds: float, offset: float = 0.0) -> np.ndarray:
        """uint8 (T, P) of ``notes`` on frames at ``offset + t * frame_seconds``, t >= 0."""
        spans = []
        for note in notes:
            if self.min_pitch <= note.pitch <= self.max_pitch:
                first = max(int(np.ceil((note.start_time - offset) / frame_seconds - _EPS)), 0)
                stop = int(np.ceil((note.end_time - offset) / frame_seconds - _EPS))
                if first < stop:  # else it covers no onset
                    spans.append((note.pitch - self.min_pitch, first, stop))
        frames = np.zeros((max((stop for _, _, stop in spans), default=0), self.vocab_size), np.uint8)
        for key, first, stop in spans:
            frames[first:stop, key] = 1
        return frames

    def _add_notes(self, ns: music_pb2.NoteSequence, frames: np.ndarray, frame_seconds: float,
                   instrument: int) -> None:
        """Append one note per run of nonzero frames in each key column of frames (T, P)."""
        on = np.asarray(frames) > 0
        edges = np.diff(np.pad(on, ((1, 1), (0, 0))).astype(np.int8), axis=0)
        starts_t, starts_key = np.nonzero(edges == 1)
        stops_t, stops_key = np.nonzero(edges == -1)
        # nonzero walks row by row; order both by key, then time, to pair each run's edges
        start_order = np.lexsort((starts_t, starts_key))
        stop_order = np.lexsort((stops_t, stops_key))
        for key, start, stop in zip(starts_key[start_order], starts_t[start_order],
                                    stops_t[stop_order]):
            ns.notes.add(pitch=int(key) + self.min_pitch, velocity=100, instrument=instrument,
                         start_time=start * frame_seconds, end_time=stop * frame_seconds)
        ns.notes.sort(key=lambda n: (n.start_time, n.pitch))
        ns.total_time = max((n.end_time for n in ns.notes), default=0.0)


def _empty_sequence(qpm: float) -> music_pb2.NoteSequence:
    ns = music_pb2.NoteSequence(ticks_per_quarter=note_seq.STANDARD_PPQ)
    ns.tempos.add(qpm=qpm)
    return ns
