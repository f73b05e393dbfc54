"""A preset: the named binding of a network config, a task config, a train config, a codec and a
default corpus. Every file beside this one holds one model's ``PRESETS`` and ``DEFAULT_PRESET``."""

from __future__ import annotations

import dataclasses
from typing import Any

from zoo.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class Preset:
    model: Any                      # the network's Config (architecture only)
    train: TrainConfig
    codec: str                      # codec name the data must be prepared with
    source: str | None = None       # default `zoo prepare` source when --data is not given
    note: str = ""                  # where the numbers come from
    task: Any = None                # the family's task Config (objective knobs); None: defaults
