"""Multi-track piano-roll codec: one binary roll per voice, side by side (MuseGAN's data, Dong et
al., 2018).

``encode`` gives ``frames_TxKP`` (uint8 0/1): per time step the concatenated rolls of the K tracks,
each over the keys [min_pitch, max_pitch] (default 24..107, MuseGAN's 84), so frame t, key p of
track k is column ``k * P + p``. Frames follow the metrical grid of ``steps_per_quarter`` (4: 16
steps per 4/4 bar; 12: MuseGAN's 48) from the first bar line on, so any ``steps_per_bar``-aligned
window of frames is a run of whole bars. The sampling rule and the bar lines are PianorollCodec's
``encode_bars``.

Tracks are the piece's voices (NoteSequence ``part``, or ``instrument`` where every part is 0) in
ascending order, or at their own numbers when those are all track numbers (as in a decoded roll):
the chorales' soprano, alto, tenor, bass fill the default 4 tracks; a folk tune fills track 0 and
leaves the others empty. With ``drum_track`` the drum voice takes track 0 and the
pitched voices follow (MuseGAN's LPD-5 puts drums first).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
from note_seq.protobuf import music_pb2

from zoo.codecs.base import notes_by_voice, piece_meter
from zoo.codecs.pianoroll import PianorollCodec
from zoo.errors import SkipPiece, ZooError


@dataclasses.dataclass(frozen=True)
class MultitrackCodec:
    """Binary multi-track piano roll, ``frames_TxKP`` with K = tracks, P = max_pitch - min_pitch + 1.

    Attributes:
      tracks: K, fixed: pieces with more voices than tracks are skipped, missing voices are empty.
      min_pitch, max_pitch: the keys of every track, inclusive; notes outside them are left out.
      steps_per_quarter: frames per quarter note.
      meter: the bar kept ("4/4" as MuseGAN): pieces whose longest-lasting meter has bars of
        another length are skipped (2/2 counts as 4/4), so every bar has the same frames.
      drum_track: track 0 holds the drum voice (never transposed, decoded as drums); without it,
        drum voices are left out.
      qpm: tempo of decoded sequences, quarter notes per minute.

    Bars in which no track sounds are left out (as ``encode_bars`` skips silent phrases), and so
    are the pickup before the first bar line and the last partial bar.
    """

    name: str = "multitrack"
    tracks: int = 4
    min_pitch: int = 24
    max_pitch: int = 107
    steps_per_quarter: int = 4
    meter: str = "4/4"
    drum_track: bool = False
    qpm: float = 120.0

    kind: ClassVar[str] = "frames"

    def __post_init__(self):
        try:
            numerator, denominator = (int(x) for x in self.meter.split("/"))
        except ValueError:
            raise ZooError(f"bad meter '{self.meter}': expected e.g. 4/4") from None
        quarters = 4 * numerator / denominator * self.steps_per_quarter
        if numerator < 1 or denominator < 1 or quarters != int(quarters):
            raise ZooError(f"meter {self.meter} at {self.steps_per_quarter} steps per quarter "
                           "is not a whole number of steps per bar")
        if self.tracks < 1:
            raise ZooError(f"tracks must be at least 1, not {self.tracks}")
        if not 0 <= self.min_pitch <= self.max_pitch <= 127:
            raise ZooError(f"bad key range {self.min_pitch}..{self.max_pitch}")

    @property
    def num_keys(self) -> int:
        """P, the keys of one track."""
        return self.max_pitch - self.min_pitch + 1

    @property
    def vocab_size(self) -> int:
        """K * P, the columns of a frame."""
        return self.tracks * self.num_keys

    @property
    def _bar_whole_notes(self) -> float:
        numerator, denominator = (int(x) for x in self.meter.split("/"))
        return numerator / denominator

    @property
    def steps_per_bar(self) -> int:
        return int(4 * self._bar_whole_notes * self.steps_per_quarter)

    @property
    def _roll(self) -> PianorollCodec:
        return PianorollCodec(min_pitch=self.min_pitch, max_pitch=self.max_pitch,
                              steps_per_quarter=self.steps_per_quarter, qpm=self.qpm)

    def encode(self, ns: music_pb2.NoteSequence) -> np.ndarray:
        """NoteSequence -> uint8 frames (T, K * P), T a whole number of bars."""
        numerator, denominator = piece_meter(ns)
        if numerator / denominator != self._bar_whole_notes:  # 2/2 has the bars of 4/4
            raise SkipPiece(f"meter {numerator}/{denominator}, bars unlike {self.meter}")
        tracks = self._voices_of_tracks(ns)
        try:
            bars = self._roll.encode_bars(ns, num_bars=1, steps_per_bar=self.steps_per_bar,
                                          tracks=tracks)
        except SkipPiece:
            raise SkipPiece("shorter than a bar") from None
        rolls_KxTxP = np.concatenate([bar[:, 0] for bar in bars], axis=1)
        return np.ascontiguousarray(rolls_KxTxP.swapaxes(0, 1)).reshape(-1, self.vocab_size)

    def decode(self, frames: np.ndarray) -> music_pb2.NoteSequence:
        """frames (T, K * P), nonzero = sounding -> NoteSequence at ``qpm`` in ``meter``: track k is
        instrument k (drums when it is the drum track); a run of sounding frames is one note."""
        frames = np.asarray(frames).reshape(-1, self.tracks, self.num_keys)
        num_frames = len(frames)
        if num_frames == 0:
            ns = music_pb2.NoteSequence(ticks_per_quarter=220)
            ns.tempos.add(qpm=self.qpm)
        else:
            # the whole roll as one "bar" of T frames: decode_bars keeps each track's instrument
            ns = self._roll.decode_bars(frames.swapaxes(0, 1)[:, None],
                                        quarters_per_bar=num_frames / self.steps_per_quarter)
        numerator, denominator = (int(x) for x in self.meter.split("/"))
        ns.time_signatures.add(numerator=numerator, denominator=denominator, time=0.0)
        if self.drum_track:
            for note in ns.notes:
                note.is_drum = note.instrument == 0
        return ns

    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "name"}

    def transpose(self, frames: np.ndarray, semitones: int) -> np.ndarray | None:
        """frames (..., K * P) with every pitched track moved ``semitones`` keys up (the drum track
        stays); None if a sounding key leaves the range."""
        frames = np.asarray(frames)
        tracks = frames.reshape(*frames.shape[:-1], self.tracks, self.num_keys)
        first = int(self.drum_track)
        moved = self._roll.transpose(tracks[..., first:, :], semitones)
        if moved is None:
            return None
        out = tracks.copy()
        out[..., first:, :] = moved
        return out.reshape(frames.shape)

    def _voices_of_tracks(self, ns: music_pb2.NoteSequence) -> list[int]:
        """The voice key of each track, in track order; a negative key (no such voice) for an empty
        track. Pitched voices whose keys are all track numbers keep them (so decoded sequences,
        whose instrument k is track k, encode back to the same tracks, empty ones included);
        other pitched voices fill the tracks in ascending order. Raises SkipPiece when the voices
        do not fit the tracks."""
        voices = notes_by_voice(ns)
        drums = [v for v, notes in voices.items() if all(n.is_drum for n in notes)]
        pitched = [v for v in voices if v not in drums]
        first = int(self.drum_track)
        if self.drum_track and len(drums) > 1:
            raise SkipPiece(f"{len(drums)} drum voices for one drum track")
        if len(pitched) > self.tracks - first:
            raise SkipPiece(f"{len(pitched)} voices for {self.tracks - first} pitched tracks")
        slots = [-1 - k for k in range(self.tracks)]
        if self.drum_track and drums:
            slots[0] = drums[0]
        if all(first <= v < self.tracks for v in pitched):
            for v in pitched:
                slots[v] = v
        else:
            slots[first:first + len(pitched)] = pitched
        return slots
