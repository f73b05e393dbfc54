"""Objective knobs of the conditioned event models (``--set task.x=...``)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ImprovConfig:
    chord_encoding: str = "triad"   # triad (one-hot, 49) | pitches (root, pitch classes, bass: 37)
    sample_pieces: int = 16         # report: melodies sampled over the split's own chords


@dataclasses.dataclass(frozen=True)
class ControlConfig:
    density: bool = True            # note-density control (one-hot over 8 bins)
    histogram: bool = True          # pitch-class histogram control (12 weights)
    optional: bool = True           # Magenta's optional_conditioning: each control may be absent
    disable_prob: float = 0.5       # with optional: chance a control is absent from an example
    density_window: float = 3.0     # seconds (Magenta's default)
    histogram_window: float = 5.0   # seconds (Magenta's default)
