"""The model zoo: a registry by file name, big_vision style.

Each model file (``zoo/models/<name>.py``) declares ``Model`` and ``Config`` (the flax module
and its hyperparameters, usually imported from a family file such as ``lstm_lm``), ``Task`` (how
the engine trains, samples and evaluates it), ``PRESETS`` (name -> Preset) and ``DEFAULT_PRESET``.
A new model is one new file: the registry finds every file here that defines ``PRESETS``.

    from zoo.models import get_preset, build_model
    preset = get_preset("melody_rnn", "tiny")
    model = build_model("melody_rnn", preset, vocab_size=40)   # a flax.linen Module
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from zoo.errors import ZooError
from zoo.training.config import TrainConfig


def _model_files() -> tuple[str, ...]:
    """Model files are the modules here that define PRESETS (family files hold networks only)."""
    here = Path(__file__).parent
    return tuple(sorted(p.stem for p in here.glob("*.py")
                        if not p.stem.startswith("_") and "\nPRESETS = " in p.read_text()))


MODEL_NAMES = _model_files()


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named configuration: the network's Config, how to train it, and the data it expects."""

    model: Any                      # the family's Config
    train: TrainConfig
    codec: str                      # codec name the data must be prepared with
    source: str | None = None       # default `zoo prepare` source when --data is not given
    note: str = ""                  # where the numbers come from


def model_module(name: str) -> ModuleType:
    if name not in MODEL_NAMES:
        raise ZooError(f"unknown model '{name}'; choose one of: {', '.join(MODEL_NAMES)}")
    return importlib.import_module(f"zoo.models.{name}")


def get_preset(name: str, preset: str | None = None) -> Preset:
    module = model_module(name)
    preset = preset or module.DEFAULT_PRESET
    if preset not in module.PRESETS:
        raise ZooError(f"unknown preset '{preset}' for {name}; "
                       f"choose one of: {', '.join(module.PRESETS)}")
    return module.PRESETS[preset]


def build_model(name: str, preset: Preset, vocab_size: int, dtype: str | None = None):
    """The flax module of model ``name`` with ``preset`` for a codec with ``vocab_size`` ids."""
    changes = {"vocab_size": vocab_size}
    if dtype:
        changes["dtype"] = dtype
    config = dataclasses.replace(preset.model, **changes)
    return model_module(name).Model(config)
