"""A run directory: what was trained (run.json), its checkpoints, and its metrics.jsonl.

``run.json`` records the model, preset, prepared data and ``--set`` overrides, so ``zoo train``,
``zoo sample`` and ``zoo eval`` rebuild exactly the same model from the directory alone.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import zoo
from zoo.errors import ZooError
from zoo.models import build_model, get_preset, model_module
from zoo.training.config import apply_overrides

RUN_FORMAT = 1


def ensure_writable(workdir: Path) -> None:
    """Fail early, in one line, when the run directory cannot be created or written."""
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        probe = workdir / ".write-test"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        raise ZooError(f"cannot write run directory {workdir}: {e.strerror or e}") from None


@dataclasses.dataclass(frozen=True)
class RunSpec:
    model: str
    preset: str
    data: str                       # prepared data directory
    overrides: tuple[str, ...] = ()
    format: int = RUN_FORMAT
    zoo_version: str = zoo.__version__

    def save(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        tmp = workdir / "run.json.tmp"
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=2))
        tmp.replace(workdir / "run.json")

    @staticmethod
    def load(workdir: Path) -> RunSpec:
        path = Path(workdir) / "run.json"
        if not path.exists():
            raise ZooError(f"{workdir} is not a run directory (no run.json); "
                           "train one with `zoo train MODEL --workdir DIR`")
        try:
            raw = json.loads(path.read_text())
            spec = RunSpec(**{**raw, "overrides": tuple(raw.get("overrides", ()))})
        except (json.JSONDecodeError, TypeError) as e:
            raise ZooError(f"{path} is unreadable: {e}") from None
        if spec.format != RUN_FORMAT:
            raise ZooError(f"{path} has run format {spec.format}; this zoo reads format "
                           f"{RUN_FORMAT} (written by zoo {spec.zoo_version})")
        return spec


@dataclasses.dataclass
class BuiltRun:
    spec: RunSpec
    preset: object
    train: object        # TrainConfig after overrides
    model_config: object
    data: object         # PreparedData
    codec: object
    model: object        # flax module
    task: object


def build_run(spec: RunSpec) -> BuiltRun:
    """Rebuild the model, task and data of a run, checking they fit together."""
    from zoo.data.prepared import PreparedData

    preset = get_preset(spec.model, spec.preset)
    configs = apply_overrides({"train": preset.train, "model": preset.model}, list(spec.overrides))
    train, model_config = configs["train"], configs["model"]
    data = PreparedData(spec.data)
    if data.codec.name != preset.codec:
        raise ZooError(f"{spec.data} is prepared with codec '{data.codec.name}' but {spec.model} "
                       f"reads '{preset.codec}'; run `zoo prepare SOURCE --codec {preset.codec}`")
    preset = dataclasses.replace(preset, model=model_config)
    dtype = train.compute_dtype if train.compute_dtype != "float32" else None
    model = build_model(spec.model, preset, data.codec.vocab_size, dtype)
    task = model_module(spec.model).Task(model, data.codec, train)
    return BuiltRun(spec, preset, train, model.config, data, data.codec, model, task)
