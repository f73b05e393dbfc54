"""The engine's loop: ``Trainer`` (compiled steps, shardings, evaluation, the report) and
``fit(workdir, trainer)``, the one training loop every family runs. It knows only the task
contract (``zoo/families/task.py``); ``zoo.runs`` builds a run from the registry and calls it.

Per step the host only dispatches: batch k+1 is built in a background thread while step k runs,
and step k's metrics are fetched after step k+1 is dispatched (no sync inside the loop except at
evaluation and checkpoint steps). Everything a step uses is a function of (seed, step), so a run
stopped at a checkpoint and resumed ends with exactly the parameters of an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import jax
from tqdm import tqdm

from zoo.config import TrainConfig
from zoo.errors import ZooError
from zoo.families.optim import make_optimizer
from zoo.families.task import Task
from zoo.training.checkpoint import Checkpoints
from zoo.training.mesh import (
    barrier,
    batch_sharding,
    check_batch_divides,
    global_batch,
    make_mesh,
    maybe_initialize_distributed,
    replicated,
)
from zoo.training.state import create_state
from zoo.training.steps import make_eval_step, make_train_step
from zoo.training.watchdog import Watchdog


class _Metrics:
    """Appends JSON lines to metrics.jsonl (process 0 only)."""

    def __init__(self, path: Path):
        self.path = path
        self.enabled = jax.process_index() == 0

    def write(self, record: dict) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")


def _add(a, b):
    return b if a is None else jax.tree.map(lambda x, y: x + y, a, b)


@dataclasses.dataclass
class Run:
    """What the engine trains: a task, how to train it, and the prepared data it reads
    (``split(name)`` -> pieces, ``codec``); ``name`` labels messages and the progress bar."""

    task: Task
    train: TrainConfig
    data: object
    name: str = "run"


class Trainer:
    """Holds the compiled steps and shardings of one run; ``fit`` drives it."""

    def __init__(self, run: Run, devices=None):
        maybe_initialize_distributed()
        self.run, self.data = run, run.data
        self.cfg = cfg = run.train
        self.task = task = run.task
        if cfg.early_stopping_patience and task.primary is None:
            raise ZooError(f"{run.name} has no validation metric that says 'better' "
                           "(a GAN): --set early_stopping_patience=0")
        # The checkpoints written between the best evaluation and the stop must all be kept, or
        # the best one is deleted before anyone scores it.
        needed = cfg.early_stopping_patience * cfg.eval_every // max(cfg.checkpoint_every, 1) + 1
        if cfg.early_stopping_patience and cfg.keep_checkpoints < needed:
            raise ZooError(f"{run.name}: early stopping after {cfg.early_stopping_patience} "
                           f"evaluations every {cfg.eval_every} steps can end {needed - 1} "
                           f"checkpoints after the best one, but only {cfg.keep_checkpoints} "
                           f"are kept: --set keep_checkpoints={needed}")
        self.mesh = make_mesh(devices)
        check_batch_divides(cfg.batch_size, self.mesh)
        # A family whose update is not one loss (the GAN) brings its own optimizer and update.
        self.tx, self.schedule = task.make_optimizer() or make_optimizer(cfg)
        repl = replicated(self.mesh)
        self.init_rng, self.rng = jax.random.split(jax.random.key(cfg.seed))
        init = lambda rng: create_state(task.init, self.tx, rng)
        abstract = jax.eval_shape(init, self.init_rng)
        self.state_sharding = jax.tree.map(lambda _: repl, abstract)
        self.abstract_state = jax.tree.map(
            lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
            abstract, self.state_sharding)
        self._init = jax.jit(init, out_shardings=self.state_sharding)
        data = batch_sharding(self.mesh)
        self.traces = 0  # how many times the train step was traced (compiled): 1 in a healthy run
        step_fn = make_train_step(task, self.tx, self.schedule)

        def counted_step(state, batch, rng):
            self.traces += 1
            return step_fn(state, batch, rng)

        self.train_step = jax.jit(
            counted_step,
            in_shardings=(self.state_sharding, data, repl), out_shardings=(self.state_sharding, repl),
            donate_argnums=0)
        self.eval_step = jax.jit(make_eval_step(task.loss),
                                 in_shardings=(self.state_sharding.params, data),
                                 out_shardings=repl)
        self._eval_cache: dict[str, list] = {}
        self.on_progress = lambda: None  # called after every evaluation batch (the watchdog)

    def initial_state(self):
        return self._init(self.init_rng)

    def evaluate(self, params, split_name: str, whole: bool = False) -> dict[str, float]:
        """Metrics over every token of a split (exact: sums over all windows, then divided);
        the first ``train.eval_max_pieces`` pieces only unless ``whole``."""
        key = (split_name, whole)
        if key not in self._eval_cache:
            split = self.data.split(split_name)
            if len(split) == 0:
                raise ZooError(f"the {split_name} split of {self.run.name}'s data is empty")
            limit = None if whole else self.cfg.eval_max_pieces
            self._eval_cache[key] = self.task.eval_batches(split, self.cfg.batch_size, limit)
        n, p = jax.process_count(), jax.process_index()
        sums = None
        for batch in self._eval_cache[key]:
            rows = len(next(iter(batch.values()))) // n
            local = {k: v[p * rows:(p + 1) * rows] for k, v in batch.items()}
            sums = _add(sums, self.eval_step(params, global_batch(local, self.mesh)))
            self.on_progress()
        return self.task.summarize(jax.device_get(sums))


    def report(self, params, splits) -> dict:
        """The evaluation report: per split with pieces, the task's metrics on the whole split,
        its baselines and extra metrics, as JSON rows and a table laid out by the task's
        ``report_columns``; then whatever the task adds (``extra_report``)."""
        task, rows = self.task, {}
        for split in splits:
            pieces = self.data.split(split)
            if len(pieces) == 0:
                continue
            rows[split] = {**self.evaluate(params, split, whole=True),
                           **task.baselines(self.data.split("train"), pieces),
                           **task.extra_metrics(params, pieces)}
        columns = task.report_columns
        lines = [f"{'split':<6}" + "".join(f" {c.header:>{c.width}}" for c in columns)] if (
            columns and rows) else []
        for split, m in rows.items():
            lines.append(f"{split:<6}" + "".join(f" {m[c.key]:>{c.width}{c.fmt}}"
                                                 for c in columns))
        if lines:
            lines += list(task.report_notes)
        extra_lines, extra = task.extra_report(params, self.data, splits)
        return {**task.report_info, "splits": rows, **extra, "table": lines + extra_lines}


def compiled_in_step(trainer: Trainer, state, batch, rng):
    """The train step compiled ahead of its first call, once every process has compiled it:
    a collective's peers then reach it together, however busy the cores (gloo gives a peer 30 s
    to join a collective; the coordination service's barrier waits ``BARRIER_SECONDS``)."""
    compiled = trainer.train_step.lower(state, batch, rng).compile()
    barrier("zoo-train-step-compiled")
    return compiled


def fit(workdir: Path, trainer: Trainer, *, progress: bool = True, stop_at: int | None = None,
        echo=print) -> dict:
    """Train ``trainer``'s run in ``workdir`` (resumed from its last checkpoint there, if any) to
    ``train.steps``, evaluating on valid every ``eval_every`` steps.

    ``stop_at`` ends the process early after saving a checkpoint there (as an interruption would).
    Returns the final summary: step, train and valid metrics, steps per second, the best valid
    value of the task's primary metric and its step.
    """
    workdir = Path(workdir)
    cfg = trainer.cfg
    # from the start: a hang in the first compilation or the restore counts as much as one later
    watchdog = Watchdog(workdir, cfg.stall_seconds, cfg.stall_factor, trainer.run.name).start()
    try:
        return _fit(workdir, trainer, watchdog, progress, stop_at, echo)
    finally:
        watchdog.stop()


def _fit(workdir: Path, trainer: Trainer, watchdog: Watchdog, progress: bool,
         stop_at: int | None, echo) -> dict:
    cfg = trainer.cfg
    primary = trainer.task.primary
    ckpt = Checkpoints(workdir / "checkpoints", cfg.keep_checkpoints)
    rng = trainer.rng
    restored = ckpt.restore_latest(trainer.abstract_state, echo)
    if restored is None:
        state, start = trainer.initial_state(), 0
    else:
        _, state, rng, data_state = restored
        start = int(data_state["next_batch"])
        echo(f"resuming {workdir} from step {start}")
    end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
    metrics_log = _Metrics(workdir / "metrics.jsonl")
    batches = trainer.task.train_batches(trainer.data.split("train"),
                                         jax.process_index(), jax.process_count()).iterate(start)
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress or jax.process_index() != 0,
               desc=trainer.run.name, unit="step", dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 30.0)  # a log file gets few lines
    window, window_start, window_steps, skipped = None, time.perf_counter(), 0, 0
    best, best_step, evals_since_best = None, None, 0
    summary: dict = {}

    def absorb(step: int, metrics) -> None:
        nonlocal window, window_steps, skipped
        window_steps += 1
        m = jax.device_get(metrics)
        if not bool(m["finite"]):
            if cfg.nonfinite == "stop":
                raise ZooError(f"non-finite loss at step {step}; stopped without saving it "
                               f"(last checkpoint: {ckpt.latest_step()}); lower the learning rate "
                               "or --set nonfinite=skip")
            skipped += 1
            return
        window = _add(window, {k: v for k, v in m.items() if k not in ("finite", "learning_rate")})
        summary["learning_rate"] = float(m["learning_rate"])

    def flush(step: int) -> None:
        nonlocal window, window_start, window_steps
        if window is None:
            return
        seconds = time.perf_counter() - window_start
        record = {"step": step, "split": "train", **trainer.task.summarize(window),
                  "steps_per_s": window_steps / max(seconds, 1e-9),
                  "learning_rate": summary.get("learning_rate"), "skipped_nonfinite": skipped}
        metrics_log.write(record)
        summary["train"] = record
        bar.set_postfix({k: f"{v:.3f}" for k, v in record.items()
                         if k in ("nll", "accuracy", "critic_loss", "generator_loss")})
        window, window_start, window_steps = None, time.perf_counter(), 0

    pending = None
    log_after = None  # a log step whose line is written once the next step is dispatched
    step = start
    t0 = time.perf_counter()
    watchdog.beat()
    trainer.on_progress = watchdog.beat
    train_step = trainer.train_step
    try:
        while step < end:
            batch = global_batch(next(batches), trainer.mesh)
            if step == start and jax.process_count() > 1:
                train_step = compiled_in_step(trainer, state, batch, rng)
            state, metrics = train_step(state, batch, rng)
            if pending is not None:
                absorb(*pending)
                watchdog.beat(step=True)
            if log_after is not None:
                flush(log_after)
                log_after = None
            step += 1
            pending = (step, metrics)
            bar.update(1)
            eval_now = step % cfg.eval_every == 0 or step == cfg.steps
            save_now = step % cfg.checkpoint_every == 0 or step == end or eval_now
            if save_now:  # evaluation and checkpoints need this step's state: sync here
                absorb(*pending)
                watchdog.beat(step=True)
                pending = None
                flush(step)
            elif step % cfg.log_every == 0:
                log_after = step  # no sync: step's metrics are absorbed after step + 1 is sent
            if eval_now:
                valid = trainer.evaluate(state.params, "valid")
                record = {"step": step, "split": "valid", **valid}
                metrics_log.write(record)
                summary["valid"] = record
                bar.write(f"step {step}: valid " + ", ".join(
                    f"{k} {v:.4f}" for k, v in valid.items() if isinstance(v, float)))
                if primary is not None:
                    if primary.better(valid[primary.name], best):
                        best, best_step, evals_since_best = valid[primary.name], step, 0
                    else:
                        evals_since_best += 1
            if save_now:
                ckpt.save(step, state, rng, {"next_batch": step})
                watchdog.beat()
            if eval_now or save_now:
                window_start = time.perf_counter()  # evaluation time is not training speed
            if cfg.early_stopping_patience and evals_since_best >= cfg.early_stopping_patience:
                echo(f"early stop at step {step}: no better valid {primary.name} in "
                     f"{evals_since_best} evaluations (best {best:.4f} at step {best_step})")
                if not save_now:
                    ckpt.save(step, state, rng, {"next_batch": step})
                break
    finally:
        trainer.on_progress = lambda: None
        bar.close()
        ckpt.close()
    summary.update(step=step, steps_per_s=(step - start) / max(time.perf_counter() - t0, 1e-9),
                   best={"metric": primary.name, "value": best, "step": best_step}
                   if primary is not None and best is not None else None)
    summary["state"] = state
    summary["train_step_compiles"] = trainer.traces
    summary["skipped_nonfinite"] = skipped
    return summary
