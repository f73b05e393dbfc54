"""The training configuration every model family shares, and ``--set key=value`` parsing."""

from __future__ import annotations

import dataclasses
import typing

from zoo.errors import ZooError


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train; a model file's presets set these next to the model's own Config.

    Steps are optimizer updates; ``batch_size`` is the global batch over all devices and processes.
    """

    steps: int = 20_000
    batch_size: int = 64
    seq_len: int = 256                 # tokens per training window
    learning_rate: float = 1e-3
    warmup_steps: int = 0
    decay: str = "constant"            # constant | cosine | exponential
    decay_rate: float = 0.9999         # per step, for "exponential" (MusicVAE's schedule)
    min_learning_rate: float = 1e-5
    clip_norm: float = 3.0             # global-norm gradient clipping, Magenta's default
    weight_decay: float = 0.0
    seed: int = 0
    eval_every: int = 500
    eval_max_pieces: int | None = None  # None: the whole valid split
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 50
    early_stopping_patience: int = 0   # evals without a better valid NLL before stopping; 0 = off
    nonfinite: str = "stop"            # stop | skip: what a non-finite loss does (never saved)
    transpose: tuple[int, int] = (0, 0)       # batch-time augmentation, semitones
    stretch: tuple[float, float] = (1.0, 1.0)  # batch-time time stretch (performance codecs)
    compute_dtype: str = "float32"     # float32 | bfloat16 (parameters stay float32)
    # The progress watchdog (zoo/training/watchdog.py): no step (or evaluation batch) for
    # max(stall_seconds, stall_factor x the median step time) ends the run, stacks written out,
    # exit code 75 (`zoo train` again resumes). stall_seconds covers compilation; 0 = off.
    stall_seconds: float = 900.0
    stall_factor: float = 50.0


def parse_value(text: str, annotation, where: str):
    """``text`` as a value of the field type ``annotation`` (int, float, bool, str, tuples, None)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    try:
        if annotation in ("int", int):
            return int(text)
        if annotation in ("float", float):
            return float(text)
        if annotation in ("bool", bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if annotation in ("str", str):
            return text
        if isinstance(annotation, str):  # postponed annotation such as "int | None"
            annotation = eval(annotation, {"tuple": tuple, "int": int, "float": float, "str": str})
            return parse_value(text, annotation, where)
        if origin is tuple:
            parts = [p for p in text.replace("(", "").replace(")", "").split(",") if p.strip()]
            if len(parts) != len(args):
                raise ValueError(f"expected {len(args)} comma-separated values")
            return tuple(parse_value(p.strip(), a, where) for a, p in zip(args, parts))
        if type(None) in args:  # Optional[X] / X | None
            if text.lower() == "none":
                return None
            return parse_value(text, next(a for a in args if a is not type(None)), where)
    except ValueError as e:
        raise ZooError(f"bad value for {where}: '{text}' ({e})") from None
    raise ZooError(f"cannot set {where}: unsupported type {annotation}")


def apply_overrides(configs: dict[str, object], assignments: list[str]) -> dict[str, object]:
    """Apply ``section.key=value`` (or unambiguous ``key=value``) to frozen dataclass configs.

    ``configs`` maps a section name ("train", "model") to a dataclass instance.
    """
    updates: dict[str, dict] = {name: {} for name in configs}
    for item in assignments:
        if "=" not in item:
            raise ZooError(f"malformed --set '{item}': expected key=value")
        key, text = item.split("=", 1)
        key = key.strip()
        if "." in key:
            section, field = key.split(".", 1)
            if section not in configs:
                raise ZooError(f"unknown --set section '{section}' in '{item}'; "
                               f"use one of: {', '.join(configs)}")
        else:
            field = key
            owners = [s for s, c in configs.items()
                      if field in {f.name for f in dataclasses.fields(c)}]
            if len(owners) > 1:
                raise ZooError(f"--set '{key}' is ambiguous; write one of: "
                               + ", ".join(f"{s}.{key}" for s in owners))
            section = owners[0] if owners else None
        fields = {f.name: f for f in dataclasses.fields(configs[section])} if section else {}
        if field not in fields:
            known = sorted(f"{s}.{f.name}" for s, c in configs.items()
                           for f in dataclasses.fields(c))
            raise ZooError(f"unknown setting '{key}'; known settings: {', '.join(known)}")
        hints = typing.get_type_hints(type(configs[section]))
        updates[section][field] = parse_value(text.strip(), hints[field], key)
    return {s: dataclasses.replace(c, **updates[s]) for s, c in configs.items()}
