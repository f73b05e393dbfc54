"""Runs by name: a run directory (run.json, checkpoints, metrics.jsonl) built from the registry and
handed to the engine. ``run.json`` records the model, preset, prepared data and ``--set``
overrides, so ``zoo train``, ``zoo sample`` and ``zoo eval`` rebuild exactly the same model from
the directory alone.

    train_and_evaluate(workdir, RunSpec("melody_rnn", "tiny", data_dir))  # train or resume
    trained = load_trained(workdir)          # .trainer, .state, .step, .built
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path

import jax

import zoo
from zoo.config import apply_overrides
from zoo.errors import ZooError
from zoo.locks import FileLock
from zoo.registry import build_task, get_preset, task_class
from zoo.training.checkpoint import Checkpoints
from zoo.training.loop import Run, Trainer, fit

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

    def engine_run(self) -> Run:
        return Run(self.task, self.train, self.data, f"{self.spec.model}/{self.spec.preset}")


def build_run(spec: RunSpec) -> BuiltRun:
    """Rebuild the network, task and data of a run, checking they fit together."""
    from zoo.data.prepared import PreparedData

    preset = get_preset(spec.model, spec.preset)
    sections = {"train": preset.train, "model": preset.model}
    task_config = (preset.task if preset.task is not None
                   else task_class(spec.model).default_config())
    if task_config is not None:
        sections["task"] = task_config
    configs = apply_overrides(sections, list(spec.overrides))
    train, model_config = configs["train"], configs["model"]
    data = PreparedData(spec.data)
    if data.codec.name != preset.codec:
        raise ZooError(f"{spec.data} is prepared with codec '{data.codec.name}' but {spec.model} "
                       f"reads '{preset.codec}'; run `zoo prepare SOURCE --codec {preset.codec}`")
    preset = dataclasses.replace(preset, model=model_config, task=configs.get("task"))
    dtype = train.compute_dtype if train.compute_dtype != "float32" else None
    task = build_task(spec.model, preset, data.codec, train, dtype)
    return BuiltRun(spec, preset, train, task.model.config, data, data.codec, task.model, task)


def make_trainer(spec: RunSpec, devices=None) -> tuple[BuiltRun, Trainer]:
    built = build_run(spec)
    return built, Trainer(built.engine_run(), devices)


def train_and_evaluate(workdir: Path, spec: RunSpec | None = None, *, progress: bool = True,
                       stop_at: int | None = None, devices=None, echo=print) -> dict:
    """Train the run in ``workdir`` (created from ``spec``, or resumed from its run.json and last
    checkpoint) to ``train.steps``; ``stop_at`` ends early after a checkpoint there; ``devices``
    restricts the mesh (default: every device). Returns the engine's summary (``fit``)."""
    workdir = Path(workdir)
    if spec is None:
        spec = RunSpec.load(workdir)
    elif (workdir / "run.json").exists():
        old = RunSpec.load(workdir)
        if (old.model, old.preset) != (spec.model, spec.preset):
            raise ZooError(f"{workdir} holds a {old.model} --preset {old.preset} run; "
                           f"use another --workdir for {spec.model} --preset {spec.preset}")
    _, trainer = make_trainer(spec, devices)  # checks the configuration before writing anything
    with run_lock(workdir):
        ensure_writable(workdir)
        if jax.process_index() == 0:
            spec.save(workdir)
        return fit(workdir, trainer, progress=progress, stop_at=stop_at, echo=echo)


def run_lock(workdir: Path):
    """One writer per run directory: ``zoo train`` holds ``WORKDIR/train.lock`` while it runs
    (process 0 of a multi-process run, for all of them); a second one on the same directory ends
    in one line naming the holder and changes nothing. The kernel releases the lock however its
    holder ends, so a killed run's directory is simply taken over."""
    if jax.process_index() != 0:
        return contextlib.nullcontext()
    return FileLock(Path(workdir) / "train.lock", f"run directory {workdir}")


@dataclasses.dataclass
class Trained:
    """A run at its latest checkpoint."""

    built: BuiltRun
    trainer: Trainer
    state: object
    step: int

    def task_and_params(self):
        return self.built.task, jax.device_get(self.state.params)


def load_trained(workdir: Path) -> Trained:
    """The run in ``workdir`` at its latest checkpoint."""
    workdir = Path(workdir)
    built, trainer = make_trainer(RunSpec.load(workdir))
    ckpt = Checkpoints(workdir / "checkpoints", trainer.cfg.keep_checkpoints)
    try:
        restored = ckpt.restore_latest(trainer.abstract_state)
    finally:
        ckpt.close()
    if restored is None:
        raise ZooError(f"{workdir} has no checkpoint yet; run `zoo train --workdir {workdir}`")
    step, state, _, _ = restored
    return Trained(built, trainer, state, step)
