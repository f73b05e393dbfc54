"""``python -m benchmarks [--quick] [--models NAME ...] [--out benchmarks/results]``
(``--accel``: the accelerator set of ``benchmarks/accel.py`` instead)

Runs, for each model family in the zoo (those not yet written are listed as such), after
compilation and with ``block_until_ready``: training throughput (JAX, and PyTorch on the same
batches), sampling speed (jitted loop against a per-event Python loop; KV cache against
recomputation), data preparation speed and input wait; then writes results.jsonl, report.md
and the PNG plots under ``--out``. ``--quick``: the CPU-sized cases only, in a few minutes.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and "--accel" in sys.argv[1:]:
    # ``python -m benchmarks --accel ...`` is ``python -m benchmarks.accel ...``, dispatched
    # before the imports below (they load the data pipeline: note_seq, grain, orbax)
    from benchmarks.accel import main as accel_main

    accel_main([a for a in sys.argv[1:] if a != "--accel"])
    raise SystemExit(0)

import argparse
import dataclasses
import functools
import gc
import shutil
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import jax

from benchmarks import data_pipeline, matmul_peak, report, sampling_speed
from benchmarks.report import Recorder, family_of
from benchmarks.timing import summary
from benchmarks.train_throughput import (
    TrainCase,
    host_batches,
    input_wait,
    measure_training,
    prepared_data,
)
from zoo.codecs import END, PAD
from zoo.errors import ZooError
from zoo.registry import MODEL_NAMES, build_task, get_preset, net_class, presets, task_class

FAMILIES = ("melody_rnn", "performance_rnn", "music_transformer", "musegan", "music_vae",
            "pianoroll_rnn_nade")


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one run measures. Cases name presets plus ``--set`` overrides."""

    train: tuple[TrainCase, ...]                       # main table, PyTorch beside each
    unroll: tuple[TrainCase, ...] = ()                 # LSTM scan unroll values (JAX only)
    sweeps: tuple[tuple[str, TrainCase], ...] = ()     # ("batch" | "seq_len", case), + torch
    input_wait: tuple[TrainCase, ...] = ()
    sampling: tuple[tuple[str, str, tuple[int, ...], int], ...] = ()  # model, preset, B's, steps
    prepare: tuple[tuple[str, str | None, str], ...] = ()      # (source, path, codec): function
    prepare_cli: tuple[tuple[str, str | None, str], ...] = ()  # the same by `zoo prepare`
    prepare_midi: int = 0  # generated MIDI files for the midi-dir old/new row (0: none)
    steps: int = 10
    warmup: int = 2
    input_wait_steps: int = 30    # the loop runs this many steps per input-wait figure
    sample_repeats: int = 3
    budget_s: float | None = None  # stop starting new parts after this many seconds
    torch: bool = True
    matmul_sizes: tuple[int, ...] = (512, 1024, 2048)   # N of the N x N matmul peak
    devices: int | None = None    # JAX devices in the training mesh (None: all, as `zoo train`)


def _sweep(model, preset, name, values, fixed, steps=None
           ) -> tuple[tuple[str, TrainCase], ...]:
    other = "seq_len" if name == "batch_size" else "batch_size"
    return tuple(("batch" if name == "batch_size" else "seq_len",
                  TrainCase(model, preset, (f"{name}={v}", f"{other}={fixed}"), steps))
                 for v in values)


def full_plan() -> Plan:
    """About 12 minutes on 2 shared CPU cores (load average 4-5); parts not started within
    ``budget_s`` are listed in the report as not measured, so the report is written in < 20."""
    return Plan(
        train=(TrainCase("melody_rnn", "basic", steps=5), TrainCase("melody_rnn", "tiny"),
               TrainCase("performance_rnn", "tiny"),
               TrainCase("music_transformer", "melody_tiny"),
               TrainCase("music_transformer", "tiny"),
               TrainCase("musegan", "tiny", steps=3), TrainCase("music_vae", "tiny"),
               TrainCase("music_vae", "hier_tiny"),
               # the polyphonic benchmark's LSTM-NADE (benchmarks/polyphonic.py)
               TrainCase("pianoroll_rnn_nade", "cpu")),
        unroll=tuple(TrainCase("melody_rnn", "tiny", (f"model.unroll={u}",))
                     for u in (1, 2, 4, 8)),
        sweeps=(_sweep("melody_rnn", "tiny", "batch_size", (8, 32, 128), 128, steps=5)
                + _sweep("melody_rnn", "tiny", "seq_len", (32, 128, 512), 32, steps=5)
                + _sweep("music_transformer", "melody_tiny", "batch_size", (8, 64), 128,
                         steps=4)
                + _sweep("music_transformer", "melody_tiny", "seq_len", (32, 256), 32,
                         steps=4)),
        input_wait=(TrainCase("melody_rnn", "basic", steps=5), TrainCase("melody_rnn", "tiny"),
                    TrainCase("music_transformer", "melody_tiny")),
        sampling=(("melody_rnn", "tiny", (1, 64), 256), ("melody_rnn", "basic", (1, 64), 256),
                  ("music_transformer", "melody_tiny", (1, 64), 128),
                  ("musegan", "tiny", (64,), 0), ("music_vae", "tiny", (64,), 0)),
        prepare=(("embedded-folk", None, "melody"),),
        prepare_cli=(("embedded-folk", None, "melody"),), prepare_midi=200,
        steps=10, warmup=2, input_wait_steps=30, sample_repeats=3, budget_s=17 * 60)


def quick_plan() -> Plan:
    """A few minutes: the CPU-sized presets, fewer steps, a small sweep."""
    return Plan(
        train=(TrainCase("melody_rnn", "tiny"), TrainCase("music_transformer", "melody_tiny"),
               TrainCase("music_vae", "tiny"), TrainCase("music_vae", "hier_tiny", steps=3),
               TrainCase("pianoroll_rnn_nade", "cpu")),
        unroll=tuple(TrainCase("melody_rnn", "tiny", (f"model.unroll={u}",)) for u in (1, 4)),
        sweeps=_sweep("melody_rnn", "tiny", "batch_size", (16, 64), 64)
        + _sweep("melody_rnn", "tiny", "seq_len", (32, 128), 16),
        input_wait=(TrainCase("melody_rnn", "tiny"),),
        sampling=(("melody_rnn", "tiny", (1, 64), 128),
                  ("music_transformer", "melody_tiny", (1, 64), 64)),
        prepare=(("embedded-folk", None, "melody"),), prepare_midi=100,
        steps=5, warmup=1, input_wait_steps=20, sample_repeats=2, budget_s=4 * 60)


def restrict(plan: Plan, models: list[str]) -> Plan:
    keep = lambda name: name in models
    return dataclasses.replace(
        plan,
        train=tuple(c for c in plan.train if keep(c.model)),
        unroll=tuple(c for c in plan.unroll if keep(c.model)),
        sweeps=tuple(s for s in plan.sweeps if keep(s[1].model)),
        input_wait=tuple(c for c in plan.input_wait if keep(c.model)),
        sampling=tuple(s for s in plan.sampling if keep(s[0])))


def plan_models(plan: Plan) -> list[str]:
    names = [c.model for c in plan.train + plan.unroll + plan.input_wait]
    names += [s[1].model for s in plan.sweeps] + [s[0] for s in plan.sampling]
    return list(dict.fromkeys(names))


def load_torch_baselines():
    """``benchmarks.torch_baselines``, or None when torch (the optional ``bench`` extra) is not
    installed: torch is imported only here, so the rest runs without it."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    from benchmarks import torch_baselines

    return torch_baselines


NO_TORCH = "torch not installed (pip install -e '.[bench]')"


def availability(name: str) -> str | None:
    """None when model ``name`` is in the zoo and its presets, network and task import;
    otherwise why not."""
    if name not in MODEL_NAMES:
        return "not yet in the zoo"
    try:
        presets(name), net_class(name), task_class(name)
    except Exception as e:  # noqa: BLE001 - any import failure means "not measurable now"
        return f"not yet in the zoo (its file does not import: {type(e).__name__}: {e})"
    return None


def measured_config(record: dict) -> dict:
    """What a training record measured (its config hash): model, preset, overrides, configs;
    the family's task config where it has one (VAE, GAN, frames)."""
    keys = ("model", "preset", "overrides", "model_config", "train_config", "task_config")
    return {k: record[k] for k in keys if k in record}


class Runner:
    """Runs a Plan, recording every measurement (or the error that stopped it)."""

    def __init__(self, plan: Plan, rec: Recorder, echo=print, data_dirs: dict | None = None):
        self.plan, self.rec, self.echo = plan, rec, echo
        self.data_dirs = dict(data_dirs or {})   # (source, codec) -> prepared directory
        self.peak: float | None = None
        self.skip: set[str] = set()
        self.start = time.perf_counter()

    def over_budget(self, stage: str, label: str) -> bool:
        """True (and recorded as not measured) when the plan's time budget is spent."""
        budget = self.plan.budget_s
        if budget is None or time.perf_counter() - self.start < budget:
            return False
        self.echo(f"  {stage:<12} {label}: skipped, time budget ({budget:.0f} s) spent")
        self.rec.add({"kind": "skipped", "stage": stage, "label": label,
                      "reason": f"time budget of the run ({budget / 60:.0f} min) spent"})
        return True

    def guarded(self, stage: str, label: str, fn, *args):
        """``fn(*args)``, timed and echoed; a failure is recorded and returns None."""
        if self.over_budget(stage, label):
            return None
        start = time.perf_counter()
        try:
            result = fn(*args)
            self.echo(f"  {stage:<12} {label}: {time.perf_counter() - start:.1f} s")
            return result
        except Exception as e:  # noqa: BLE001 - one failed measurement must not stop the report
            self.echo(f"  {stage:<12} {label}: FAILED {type(e).__name__}: {e}")
            traceback.print_exc(file=sys.stderr)
            self.rec.add({"kind": "error", "stage": stage, "label": label,
                          "error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"})
            return None

    def run(self) -> None:
        for name in plan_models(self.plan):
            reason = availability(name)
            if reason:
                self.skip.add(name)
                self.rec.add({"kind": "unavailable", "model": name, "reason": reason})
                self.echo(f"  {name}: {reason}")
        self.guarded("matmul peak", "", self.matmul_peak)
        for source, path, codec in self.plan.prepare_cli:
            self.guarded("prepare cli", f"{source}/{codec}", self.prepare_cli, source, path,
                         codec)
        for source, path, codec in self.plan.prepare:
            self.guarded("prepare fn", f"{source}/{codec}", self.prepare_fn, source, path, codec)
        if self.plan.prepare_midi:
            self.guarded("prepare midi", f"{self.plan.prepare_midi} generated files",
                         self.prepare_midi, self.plan.prepare_midi)
        for case in self.plan.train:
            self.train_case(case, None)
        for model, preset, batches, steps in self.plan.sampling:
            if model not in self.skip:
                self.guarded("sampling", f"{model}/{preset}", self.sampling, model, preset,
                             batches, steps)
        if self.plan.unroll:
            self.guarded("unroll", "interleaved", self.unroll)
        for sweep, case in self.plan.sweeps:
            self.train_case(case, sweep)

    # ---- parts
    def matmul_peak(self) -> None:
        sizes = self.plan.matmul_sizes
        jax_peak = matmul_peak.jax_matmul_peak(sizes)
        torch_peak = None
        torch_baselines = load_torch_baselines() if self.plan.torch else None
        if torch_baselines is not None:
            torch_baselines.match_threads()
            torch_peak = matmul_peak.torch_matmul_peak(sizes)
        self.peak = jax_peak["gflops"]
        self.rec.add({"kind": "matmul_peak", "jax": jax_peak, "torch": torch_peak})

    def prepare_cli(self, source: str, path: str | None, codec: str) -> None:
        with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp:
            self.rec.add(data_pipeline.prepare_cli(source, path, codec, Path(tmp) / "data"))

    def prepare_fn(self, source: str, path: str | None, codec: str) -> None:
        out = Path(tempfile.mkdtemp(prefix="zoo-bench-")) / "data"
        self.rec.add(data_pipeline.prepare_function(source, path, codec, out))
        if path is None:
            self.data_dirs.setdefault((source, codec), out)  # training cases read it

    def prepare_midi(self, files: int) -> None:
        with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp:
            self.rec.add(data_pipeline.prepare_midi_scale(files, Path(tmp)))

    def data_for(self, case: TrainCase) -> Path:
        p = get_preset(case.model, case.preset)
        key = (p.source, p.codec)
        if key not in self.data_dirs:
            self.data_dirs[key] = prepared_data(case.model, case.preset)
        return self.data_dirs[key]

    def train_case(self, case: TrainCase, sweep: str | None) -> None:
        if case.model in self.skip:
            return
        tag = f"train{'/' + sweep if sweep else ''}"
        result = self.guarded(tag, case.label, self.measure, case)
        if result is None:
            return
        record, run = result
        record.update(label=case.label, sweep=sweep, family=family_of(record))
        config = measured_config(record)
        self.rec.add(record, config)
        if self.plan.torch and sweep != "unroll":
            self.guarded("torch", case.label, self.torch_case, case, sweep, record, run, config)
        if sweep is None and case in self.plan.input_wait:
            self.guarded("input wait", case.label, self.input_wait, case, run, config)
        del run, result
        gc.collect()

    def unroll(self) -> None:
        """Each unroll value measured alone, then all of them taking turns step by step for
        2 x ``steps`` rounds (the same load on each): the comparison reads the interleaved
        medians."""
        runs = []
        for case in self.plan.unroll:
            if case.model in self.skip:
                continue
            result = self.guarded("train/unroll", case.label, self.measure, case)
            if result is not None:
                runs.append((case, *result))
        times: dict[str, list[float]] = {case.label: [] for case, _, _ in runs}
        for i in range(2 * self.plan.steps):
            for case, _, run in runs:
                times[case.label].append(run.step(self.plan.warmup + self.plan.steps + i))
        for case, record, _ in runs:
            record.update(label=case.label, sweep="unroll", family=family_of(record),
                          interleaved_median_s=summary(times[case.label])["median_s"])
            self.rec.add(record, measured_config(record))

    def measure(self, case: TrainCase):
        devices = None if self.plan.devices is None else jax.devices()[:self.plan.devices]
        return measure_training(case, self.data_for(case), case.steps or self.plan.steps,
                                self.plan.warmup, self.peak, devices)

    def input_wait(self, case: TrainCase, run, config) -> None:
        record = input_wait(run, self.plan.input_wait_steps, self.plan.warmup)
        self.rec.add({**record, "model": case.model, "preset": case.preset,
                      "label": case.label}, config)

    def torch_case(self, case, sweep, record, run, config) -> None:
        """The torch port on the same batches, its steps interleaved with JAX steps: the ratio
        is torch's median over our median from those same rounds (equal load on both)."""
        base = {"kind": "torch_train", "model": case.model, "preset": case.preset,
                "label": case.label, "sweep": sweep}
        torch_baselines = load_torch_baselines()
        if torch_baselines is None:
            self.rec.add({**base, "error": NO_TORCH}, config)
            return
        try:
            steps = case.steps or self.plan.steps
            task = run.trainer.task
            t = torch_baselines.measure_torch_training(
                task.model.config, run.trainer.cfg,
                host_batches(run.trainer, min(steps + self.plan.warmup, 4)), steps,
                self.plan.warmup, interleave=run.step, task_cfg=task.config)
        except NotImplementedError as e:
            self.rec.add({**base, "error": str(e)}, config)
            return
        t.update(base, ratio=t["median_s"] / t["jax_interleaved_median_s"],
                 events_per_s=record["events_per_step"] / t["median_s"] / record["devices"],
                 examples_per_s=record["examples_per_step"] / t["median_s"] / record["devices"])
        self.rec.add(t, config)

    def sampling(self, model_name: str, preset_name: str, batches, steps: int) -> None:
        preset = get_preset(model_name, preset_name)
        from zoo.codecs import get_codec

        codec = get_codec(preset.codec)
        task = build_task(model_name, preset, codec)
        model = task.model
        params = task.init(jax.random.key(0))
        base = {"model": model_name, "preset": preset_name,
                "model_config": dataclasses.asdict(model.config)}
        if task.config is not None:
            base["task_config"] = dataclasses.asdict(task.config)
        for batch in batches:
            rng = jax.random.key(1)
            if hasattr(task, "sample_phrases"):      # GAN: whole phrases per call
                cfg = model.config
                record = sampling_speed.measure_task_sampler(
                    "GanTask.sample_phrases", functools.partial(
                        task.sample_phrases, params, batch, rng),
                    batch, cfg.bars * cfg.steps_per_bar, self.plan.sample_repeats)
            elif hasattr(task, "window_steps"):      # VAE: z decoded in a jitted scan
                from zoo.families.vae.task import sample

                record = sampling_speed.measure_task_sampler(
                    "vae_task.sample (prior)", functools.partial(sample, task, params, batch,
                                                                 rng),
                    batch, task.window_steps, self.plan.sample_repeats)
            else:
                record = sampling_speed.measure_sampling(
                    model, params, batch, steps, self.plan.sample_repeats,
                    recompute=family_of(base) == "transformer",
                    against=self.torch_sampling(model.config, batch, steps))
            self.rec.add({**record, **base})

    def torch_sampling(self, model_cfg, batch: int, steps: int):
        """The PyTorch token-by-token sampler of ``model_cfg`` for ``measure_sampling``'s
        ``against`` (interleaved with our jitted loop), or, without torch or with --no-torch,
        None (the row then says why)."""
        if not self.plan.torch:
            return None
        torch_baselines = load_torch_baselines()
        if torch_baselines is None:
            return lambda interleave: {"torch_error": NO_TORCH}

        def against(interleave):
            try:
                return torch_baselines.measure_torch_sampling(
                    model_cfg, batch, steps, self.plan.sample_repeats, interleave, end_id=END,
                    pad_id=PAD)
            except NotImplementedError as e:
                return {"torch_error": str(e)}

        return against


def write_report(records: list[dict], meta: dict, out: Path) -> None:
    plots = report.plot_sweeps(records, out)
    meta = {**meta, "plots": [p.name for p in plots]}
    (Path(out) / "report.md").write_text(report.markdown(records, meta))


def render(out: Path) -> Path:
    """Write report.md and the plots again from ``out/results.jsonl`` (its ``run`` record)."""
    path = Path(out) / "results.jsonl"
    if not path.exists():
        raise ZooError(f"{path}: no results to render (run `python -m benchmarks` first)")
    records = report.read_records(path)
    runs = [r for r in records if r["kind"] == "run"]
    meta = runs[-1]["meta"] if runs else {"command": "python -m benchmarks"}
    write_report([r for r in records if r["kind"] != "run"], meta, out)
    return Path(out) / "report.md"


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="CPU-sized cases only (a few minutes)")
    p.add_argument("--models", nargs="+", default=list(FAMILIES),
                   help=f"model files to measure (default: {' '.join(FAMILIES)}); 'prepare' "
                   "adds the midi-dir prepare row (old note-seq path against the new one)")
    p.add_argument("--out", default="benchmarks/results", help="folder for the report")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch side by side")
    p.add_argument("--note", action="append", default=[], help="a line for the report's header")
    p.add_argument("--accel", action="store_true",
                   help="the accelerator set instead (python -m benchmarks.accel: synthetic "
                   "batches, only jax/flax/optax/numpy imported; --quick and --out apply)")
    p.add_argument("--render", action="store_true",
                   help="only write report.md and the plots again from --out/results.jsonl")
    return p.parse_args(argv)


def main(argv: list[str] | None = None, plan: Plan | None = None,
         data_dirs: dict | None = None) -> Path:
    """Run ``plan`` (default: by ``--quick``) and write the report; ``data_dirs`` maps
    (source, codec) to prepared data to use instead of preparing it (tests)."""
    args = parse(argv)
    if args.accel:   # reached only when called as a function (the command dispatches above)
        from benchmarks import accel

        return accel.main((["--quick"] if args.quick else []) + ["--out", args.out]).parent
    if args.render:
        path = render(Path(args.out))
        print(f"wrote {path}")
        return Path(args.out)
    warnings.filterwarnings("ignore", message=".*donated buffers.*")
    plan = plan or (quick_plan() if args.quick else full_plan())
    if "prepare" not in args.models and (args.quick or set(args.models) != set(FAMILIES)):
        plan = dataclasses.replace(plan, prepare_midi=0)  # by default in the full plan only
    plan = restrict(plan, [m for m in args.models if m != "prepare"])
    if args.no_torch:
        plan = dataclasses.replace(plan, torch=False)
    out = Path(args.out)
    rec = Recorder(out)
    meta = {"command": "python -m benchmarks " + " ".join(argv if argv is not None
                                                           else sys.argv[1:]),
            "quick": args.quick, "load_start": report.load_1m(), "notes": args.note,
            "started": time.strftime("%Y-%m-%d %H:%M %Z")}
    print(f"benchmarks -> {out} (load {meta['load_start']:.2f})")
    start = time.perf_counter()
    runner = Runner(plan, rec, data_dirs=data_dirs)
    try:
        runner.run()
    finally:
        for directory in runner.data_dirs.values():
            if "zoo-bench-" in str(directory) and directory not in (data_dirs or {}).values():
                shutil.rmtree(Path(directory).parent, ignore_errors=True)
    meta.update(wall_s=time.perf_counter() - start, load_end=report.load_1m())
    records = list(rec.records)
    rec.add({"kind": "run", "meta": meta})      # what --render needs to write the report again
    write_report(records, meta, out)
    print(f"wrote {rec.path}, {out / 'report.md'} in {meta['wall_s']:.0f} s")
    return out


if __name__ == "__main__":
    main()
