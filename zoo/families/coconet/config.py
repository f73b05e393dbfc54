"""Coconet's objective, evaluation and sampling knobs (the network's shape is
``zoo.nets.coconet.Config``)."""

from __future__ import annotations

import dataclasses

from zoo.errors import ZooError


@dataclasses.dataclass(frozen=True)
class Config:
    lowest_pitch: int = 36         # MIDI pitch of class 0 (Magenta's min_pitch); classes go up
                                   # to lowest + model.pitches - 1 (81, Magenta's max_pitch)
    eval_draws: int = 4            # orderless masks per evaluated piece (the estimate's variance)
    # blocked Gibbs sampling (Magenta's coconet_sample defaults)
    gibbs_steps: int = 64          # annealed steps after the independent first draw
    temperature: float = 0.99
    pmin: float = 0.1              # YaoSchedule(pmin, pmax, alpha)
    pmax: float = 0.9
    alpha: float = 0.7

    def __post_init__(self):
        if not 0 <= self.lowest_pitch <= 127:
            raise ZooError(f"task.lowest_pitch {self.lowest_pitch} is not a MIDI pitch")
        if self.eval_draws < 1:
            raise ZooError("task.eval_draws must be at least 1")
        if self.gibbs_steps < 0:
            raise ZooError("task.gibbs_steps must be at least 0")
        if not (0.0 <= self.pmin <= self.pmax <= 1.0 and self.alpha > 0):
            raise ZooError("the Gibbs schedule needs 0 <= pmin <= pmax <= 1 and alpha > 0")
        if self.temperature <= 0:
            raise ZooError("task.temperature must be positive")
