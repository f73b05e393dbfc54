"""Evaluation of generated music against the data it learned from.

- ``Notes`` (here): one NoteSequence as numpy columns on a metrical grid, the input of every
  per-piece statistic;
- ``pitch``, ``rhythm``: statistics of one piece (pitch range, pitch-class histogram, scale
  consistency, empty beats, polyphony, groove, ...), vectorized with numpy;
- ``multitrack``: MuseGAN's metrics over binary piano-roll phrases (shared with the GAN);
- ``distances``: how far the samples' distribution of a statistic is from the data's;
- ``originality``: how much of a sample is copied from the training set;
- ``suite``: ``evaluate_samples``, behind ``zoo eval --samples N``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from note_seq.protobuf import music_pb2

STEPS_PER_QUARTER = 4  # sixteenth notes, the grid of Magenta's melody and drums models


@dataclasses.dataclass(frozen=True)
class Notes:
    """The notes of one piece on a grid of ``steps_per_quarter`` steps per quarter note, sorted by
    onset, then pitch. M notes; every column is (M,).

    Attributes:
      pitch: MIDI pitch (for drums, the drum sound).
      start, end: onset and offset in grid steps, end > start (a note shorter than a step is
        given one step, so no note vanishes).
      is_drum: True for notes of a drum voice (left out of pitch statistics).
      steps_per_quarter: the grid.
      steps_per_bar: grid steps in a bar of the piece's first time signature (4/4 if none).
      steps_per_beat: grid steps per beat of that signature (a quarter in x/4, an eighth in x/8).
    """

    pitch: np.ndarray
    start: np.ndarray
    end: np.ndarray
    is_drum: np.ndarray
    steps_per_quarter: int = STEPS_PER_QUARTER
    steps_per_bar: int = 4 * STEPS_PER_QUARTER
    steps_per_beat: int = STEPS_PER_QUARTER

    @staticmethod
    def from_sequence(ns: music_pb2.NoteSequence, steps_per_quarter: int = STEPS_PER_QUARTER
                      ) -> Notes:
        """Times in seconds at the first tempo (120 qpm if none) rounded to the grid; notes of
        velocity 0 are left out."""
        qpm = ns.tempos[0].qpm if ns.tempos else 120.0
        if ns.time_signatures:
            ts = ns.time_signatures[0]
            num, den = ts.numerator or 4, ts.denominator or 4
        else:
            num, den = 4, 4
        notes = [n for n in ns.notes if n.velocity > 0]
        steps_per_second = qpm / 60.0 * steps_per_quarter
        start = np.rint(np.array([n.start_time for n in notes], np.float64) * steps_per_second)
        end = np.rint(np.array([n.end_time for n in notes], np.float64) * steps_per_second)
        pitch = np.array([n.pitch for n in notes], np.int64)
        start = start.astype(np.int64)
        end = np.maximum(end.astype(np.int64), start + 1)
        order = np.lexsort((pitch, start))
        steps_per_beat = max(int(round(4 * steps_per_quarter / den)), 1)
        return Notes(pitch[order], start[order], end[order],
                     np.array([n.is_drum for n in notes], bool)[order], steps_per_quarter,
                     steps_per_bar=num * steps_per_beat, steps_per_beat=steps_per_beat)

    @staticmethod
    def from_arrays(pitch, start, end, is_drum=None, steps_per_quarter: int = STEPS_PER_QUARTER,
                    steps_per_bar: int | None = None, steps_per_beat: int | None = None) -> Notes:
        """Notes from columns in grid steps (sorted here), for tests and piano rolls."""
        pitch, start, end = (np.asarray(x, np.int64).reshape(-1) for x in (pitch, start, end))
        is_drum = np.zeros(pitch.shape, bool) if is_drum is None else np.asarray(is_drum, bool)
        order = np.lexsort((pitch, start))
        return Notes(pitch[order], start[order], np.maximum(end, start + 1)[order],
                     is_drum[order], steps_per_quarter,
                     steps_per_bar or 4 * steps_per_quarter, steps_per_beat or steps_per_quarter)

    def __len__(self) -> int:
        return int(self.pitch.shape[0])

    @property
    def pitched(self) -> Notes:
        """The notes that are not drums."""
        keep = ~self.is_drum
        return dataclasses.replace(self, pitch=self.pitch[keep], start=self.start[keep],
                                   end=self.end[keep], is_drum=self.is_drum[keep])

    @property
    def num_steps(self) -> int:
        """Grid steps from time 0 to the last offset (0 without notes)."""
        return int(self.end.max()) if len(self) else 0
