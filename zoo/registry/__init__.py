"""The registry: every named model as one line of ``MODELS`` (big_vision style, configs in code).

A line names the file beside this one that holds the model's presets (``PRESETS``,
``DEFAULT_PRESET``), its flax network (``zoo.nets``) and its family's task (``zoo.families``).
Networks and tasks are imported when first asked for, so building a network never imports the
data pipeline or the engine:

    from zoo.registry import build_net, get_preset
    net = build_net("melody_rnn", get_preset("melody_rnn", "tiny"), vocab_size=40)  # flax Module

A new model variant is a preset; a new family is a folder in ``zoo/families/`` plus a line here.
"""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType

from zoo.errors import ZooError
from zoo.registry.preset import Preset


@dataclasses.dataclass(frozen=True)
class Entry:
    presets: str   # module zoo.registry.<presets>: PRESETS and DEFAULT_PRESET
    net: str       # "module:Class" of the flax network
    task: str      # "module:Class" of the family's task


_LM = "zoo.families.lm.task:LanguageModelTask"
_FRAMES = "zoo.families.frames.task:FrameModelTask"

MODELS: dict[str, Entry] = {
    "melody_rnn": Entry("melody_rnn", "zoo.nets.lstm_lm:LstmLM", _LM),
    "performance_rnn": Entry("performance_rnn", "zoo.nets.lstm_lm:LstmLM", _LM),
    "drums_rnn": Entry("drums_rnn", "zoo.nets.lstm_lm:LstmLM", _LM),
    "polyphony_rnn": Entry("polyphony_rnn", "zoo.nets.lstm_lm:LstmLM", _LM),
    "music_transformer": Entry("music_transformer", "zoo.nets.transformer_lm:TransformerLM", _LM),
    "music_vae": Entry("music_vae", "zoo.nets.music_vae:MusicVAE",
                       "zoo.families.vae.task:VAETask"),
    "musegan": Entry("musegan", "zoo.nets.musegan:MuseGAN", "zoo.families.gan.task:GanTask"),
    "pianoroll_rnn": Entry("pianoroll_rnn", "zoo.nets.pianoroll:PianorollNet", _FRAMES),
    "pianoroll_rnn_nade": Entry("pianoroll_rnn_nade", "zoo.nets.pianoroll:PianorollNet", _FRAMES),
    "pianoroll_transformer": Entry("pianoroll_transformer",
                                   "zoo.nets.pianoroll_transformer:PianorollTransformer", _FRAMES),
    "coconet": Entry("coconet", "zoo.nets.coconet:Coconet", "zoo.families.coconet.task:CoconetTask"),
    "improv_rnn": Entry("improv_rnn", "zoo.nets.conditioned_lm:ConditionedLM",
                        "zoo.families.conditioned.improv:ImprovTask"),
    "performance_rnn_conditioned": Entry("performance_rnn_conditioned",
                                         "zoo.nets.conditioned_lm:ConditionedLM",
                                         "zoo.families.conditioned.performance:"
                                         "PerformanceControlTask"),
}

MODEL_NAMES = tuple(MODELS)


def _entry(name: str) -> Entry:
    if name not in MODELS:
        raise ZooError(f"unknown model '{name}'; choose one of: {', '.join(MODELS)}")
    return MODELS[name]


def _load(target: str):
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def presets_module(name: str) -> ModuleType:
    return importlib.import_module(f"zoo.registry.{_entry(name).presets}")


def presets(name: str) -> dict[str, Preset]:
    return presets_module(name).PRESETS


def default_preset(name: str) -> str:
    return presets_module(name).DEFAULT_PRESET


def get_preset(name: str, preset: str | None = None) -> Preset:
    table = presets(name)
    preset = preset or default_preset(name)
    if preset not in table:
        raise ZooError(f"unknown preset '{preset}' for {name}; choose one of: {', '.join(table)}")
    return table[preset]


def net_class(name: str) -> type:
    return _load(_entry(name).net)


def task_class(name: str) -> type:
    return _load(_entry(name).task)


def build_net(name: str, preset: Preset, vocab_size: int, dtype: str | None = None):
    """The flax network of model ``name`` with ``preset`` for a codec with ``vocab_size`` ids."""
    changes = {"vocab_size": vocab_size}
    if dtype:
        changes["dtype"] = dtype
    return net_class(name)(dataclasses.replace(preset.model, **changes))


def build_task(name: str, preset: Preset, codec, train=None, dtype: str | None = None):
    """The family task binding the preset's network to ``codec`` and a train config (default:
    the preset's)."""
    net = build_net(name, preset, codec.vocab_size, dtype)
    return task_class(name)(net, codec, train or preset.train, preset.task)
