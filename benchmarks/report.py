"""What a benchmark run writes under ``--out``: one JSON line per measurement, a Markdown report
and PNG plots.

    results.jsonl   every record, each with the run's versions, device, commit and load, and a
                    hash of the configuration it measured (``config_hash``)
    report.md       the tables, targets beside the figures
    throughput_vs_batch.png, throughput_vs_seq_len.png   training events/s per device, JAX and torch
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path

import jax

REQUIRED_KEYS = ("kind", "versions", "device", "commit", "config_hash", "time", "load_1m")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def load_1m() -> float:
    """The 1-minute load average (other processes share the machine: timing noise)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """Versions, device and commit: the same for every record of a run."""
    device = jax.devices()[0]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    # the report's own files change while it runs; they do not make the measured code dirty
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                  ":(top,exclude)benchmarks/results")
    return {
        "versions": {"python": platform.python_version(), "jax": jax.__version__,
                     **{p: _version(p) for p in ("jaxlib", "flax", "optax", "torch", "numpy")}},
        "device": {"platform": device.platform, "kind": device.device_kind,
                   "count": jax.device_count(), "cpu": _cpu_model(), "cpus": cpus},
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def config_hash(config: dict) -> str:
    """12 hex digits naming what was measured (model, preset, configs, sizes)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


class Recorder:
    """Appends one JSON line per measurement to ``out/results.jsonl`` and keeps the records."""

    def __init__(self, out: Path, env: dict | None = None, fresh: bool = True):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.path = self.out / "results.jsonl"
        if fresh and self.path.exists():
            self.path.unlink()
        self.env = env if env is not None else environment()
        self.records: list[dict] = []

    def add(self, record: dict, config: dict | None = None) -> dict:
        """Stamp ``record`` with the environment, time, load and ``config``'s hash; write it."""
        what = config if config is not None else {
            k: v for k, v in record.items()
            if k in ("kind", "model", "preset", "overrides", "batch", "steps", "source", "codec",
                     "sweep", "model_config", "train_config", "task_config")}
        full = {**record, **self.env, "config_hash": config_hash(what),
                "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "load_1m": load_1m()}
        with self.path.open("a") as f:
            f.write(json.dumps(full, default=_jsonable) + "\n")
        self.records.append(full)
        return full


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------- Markdown

TARGETS = {  # the targets, shown beside the figures (never asserted)
    "lstm_ratio": 1.2,          # LSTM training, ours / PyTorch, same CPU
    "transformer_ratio": 1.3,   # Transformer training, ours / PyTorch
    "vae_ratio": 1.2,           # MusicVAE training, ours / PyTorch
    "frames_ratio": 1.2,        # piano-roll LSTM (LSTM-NADE) training, ours / PyTorch
    "sampling_torch": 2.0,      # jitted sampler / PyTorch's token-by-token loop, batch 1 and 64
    "sampling_cpu": 2.0,        # jitted loop / per-event loop, CPU
    "sampling_gpu": 30.0,       # the same on a GPU
    "input_wait": 0.02,         # share of step time waiting for the next batch
    "transformer_util_gpu": 0.40,  # FLOPs utilisation on a GPU
}


def _f(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if value != value:  # nan
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_f(c) if not isinstance(c, str) else c for c in row) + " |"
              for row in rows]
    return lines + [""]


def _met(value, target, higher=True) -> str:
    if value is None or value != value:
        return "-"
    return "yes" if (value >= target if higher else value < target) else "no"


def family_of(record: dict) -> str:
    """lstm | frames | transformer | gan | vae | other, from the measured model's config
    (frames: the piano-roll LSTM, zoo.nets.pianoroll, with its Bernoulli or NADE head)."""
    cfg = record.get("model_config") or {}
    if "hidden" in cfg and "nade_hidden" in cfg and "head" in cfg:
        return "frames"
    if "hidden" in cfg and "num_layers" in cfg and "unroll" in cfg:
        return "lstm"
    if "d_model" in cfg:
        return "transformer"
    if "critic_width" in cfg or "critic_steps" in cfg:
        return "gan"
    if "z_size" in cfg:
        return "vae"
    return "other"


def interleaved_events_per_s(train: dict, torch_row: dict | None) -> float | None:
    """Our events/s per device over the steps interleaved with torch's, or None."""
    if not torch_row or not torch_row.get("jax_interleaved_median_s"):
        return None
    return train["events_per_step"] / torch_row["jax_interleaved_median_s"] / train["devices"]


def _label(r: dict) -> str:
    return r.get("label") or f"{r.get('model')}/{r.get('preset')}"


def markdown(records: list[dict], meta: dict) -> str:
    """The report: run facts, headline figures beside targets, then one table per part."""
    by = lambda kind, sweep=None: [r for r in records if r["kind"] == kind
                                   and r.get("sweep") == sweep]
    env = records[0] if records else {}
    dev = env.get("device", {})
    gpu = dev.get("platform") == "gpu"
    peak = next((r for r in records if r["kind"] == "matmul_peak"), {})
    jax_peak = (peak.get("jax") or {}).get("gflops")
    torch_peak = (peak.get("torch") or {}).get("gflops")
    lines = [f"# music-zoo benchmarks{' (quick)' if meta.get('quick') else ''}", "",
             f"`{meta.get('command', 'python -m benchmarks')}` · {meta.get('started', '')} · "
             f"{_f(meta.get('wall_s'), 4)} s wall", "",
             f"- device: {dev.get('platform')} ({dev.get('kind')}), {dev.get('count')} JAX "
             f"device(s); CPU {dev.get('cpu')}, {dev.get('cpus')} cores"
             + ("" if gpu else "; no GPU on this machine: GPU targets are not measured"),
             "- versions: " + ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items()
                                        if v),
             f"- commit {env.get('commit')}" + (" (uncommitted changes)" if env.get("dirty")
                                                else ""),
             f"- load average (1 min) at start {_f(meta.get('load_start'))}, at end "
             f"{_f(meta.get('load_end'))}; the machine is shared, so every figure is the "
             "median of repeated runs after warm-up",
             f"- achieved matmul peak (float32, N x N @ N x N, best median over N): JAX "
             f"{_f(jax_peak)} GFLOP/s, torch {_f(torch_peak)} GFLOP/s"
             + (f"; datasheet {peak['jax'].get('datasheet_tflops')} TFLOP/s bf16"
                if peak.get("jax", {}).get("datasheet_tflops") else ""),
             ""]
    for note in meta.get("notes", []):
        lines.append(f"> {note}")
    if meta.get("notes"):
        lines.append("")

    train = by("train")
    torch_rows = {_label(r): r for r in by("torch_train")}
    lines += ["## Headline figures", ""]
    head = []
    for fam, key, name in (("lstm", "lstm_ratio", "LSTM training, ours / PyTorch"),
                           ("transformer", "transformer_ratio",
                            "Transformer training, ours / PyTorch"),
                           ("gan", None, "GAN training step, ours / PyTorch"),
                           ("vae", "vae_ratio", "MusicVAE training, ours / PyTorch"),
                           ("frames", "frames_ratio",
                            "Piano-roll LSTM (NADE head: LSTM-NADE) training, ours / PyTorch")):
        for r in train:
            t = torch_rows.get(_label(r))
            if family_of(r) != fam or t is None:
                continue
            target = f">= {TARGETS[key]}x" if key else "(none set)"
            if "error" in t:
                head.append([f"{name} ({_label(r)})", t["error"], target, "-"])
            else:
                head.append([f"{name} ({_label(r)})", f"{t['ratio']:.2f}x", target,
                             _met(t["ratio"], TARGETS[key]) if key else "-"])
    for s in by("sample"):
        name = (f"jitted sampling / PyTorch token-by-token loop ({s['model']}/{s['preset']}, "
                f"batch {s['batch']})")
        if s.get("jit_over_torch"):
            head.append([name, f"{s['jit_over_torch']:.2f}x", f">= {TARGETS['sampling_torch']}x",
                         _met(s["jit_over_torch"], TARGETS["sampling_torch"])])
        elif s.get("torch_error"):
            head.append([name, s["torch_error"], f">= {TARGETS['sampling_torch']}x", "-"])
    for s in by("sample"):
        target = TARGETS["sampling_gpu" if gpu else "sampling_cpu"]
        head.append([f"jitted sampling / per-event loop ({s['model']}/{s['preset']}, batch "
                     f"{s['batch']})", f"{s['jit_over_loop']:.2f}x", f">= {target}x "
                     f"({'GPU' if gpu else 'CPU'})", _met(s["jit_over_loop"], target)])
    for s in by("sample"):
        if s.get("cache_over_recompute"):
            head.append([f"KV cache / full recomputation, sampling ({s['model']}/"
                         f"{s['preset']}, batch {s['batch']}, {s['steps']} events)",
                         f"{s['cache_over_recompute']:.2f}x", "(none set)", "-"])
    for w in by("input_wait"):
        head.append([f"input wait, share of step time ({_label(w)})",
                     f"{100 * w['wait_share']:.2f}%", "< 2%",
                     _met(w["wait_share"], TARGETS["input_wait"], higher=False)])
    for r in train:
        if r.get("flops_utilisation") is None:
            continue
        fam = family_of(r)
        name = {"transformer": "Transformer", "lstm": "LSTM", "gan": "GAN", "vae": "MusicVAE",
                "frames": "Piano-roll LSTM"}.get(fam, fam)
        head.append([f"{name} FLOPs utilisation, training ({_label(r)})",
                     f"{100 * r['flops_utilisation']:.1f}% of measured {'GPU' if gpu else 'CPU'} "
                     "matmul peak",
                     ">= 40% on a GPU" if fam == "transformer" else "(none set)",
                     _met(r["flops_utilisation"], TARGETS["transformer_util_gpu"])
                     if gpu and fam == "transformer" else "-"])
    lines += _table(["figure", "measured", "target", "met"], head)
    lines.append("Ratio ours / PyTorch = PyTorch's median step time (its faster thread "
                 "setting) / ours, on the same batches, the two libraries' steps alternating "
                 "(so both see the same load): above 1, the JAX step is faster.")
    lines.append("")

    lines += ["## Training", "",
              "Median of the timed steps after warm-up, each to `block_until_ready`; compile "
              "(trace + lower, then XLA compile) apart. FLOPs: matmul + convolution FLOPs counted "
              "from the step's jaxpr (scan bodies x length); XLA's cost analysis counts a loop "
              "body once, so it is shown only for reference. Utilisation = those FLOPs per "
              "second / the measured matmul peak.", ""]
    rows = []
    for r in train:
        rows.append([_label(r), f"{r['batch_size']}x{r['seq_len']}", f"{r['params']:,}",
                     _f(r["trace_s"]), _f(r["compile_s"]), _f(1000 * r["median_s"], 4),
                     _f(1000 * r["iqr_s"]), _f(r["examples_per_s_per_device"]),
                     _f(r["events_per_s_per_device"]), _f(r["flops_per_step"] / 1e9),
                     _f(r.get("xla_cost_analysis_flops", float("nan")) / 1e9),
                     _f(r["achieved_gflops"]),
                     f"{100 * r['flops_utilisation']:.1f}%" if r.get("flops_utilisation")
                     else "-", str(r["recompiles_after_warmup"])])
    lines += _table(["model/preset", "batch x len", "params", "trace s", "compile s",
                     "step ms", "IQR ms", "examples/s/dev", "events/s/dev", "GFLOP/step",
                     "XLA GFLOP", "GFLOP/s", "of peak", "recompiles"], rows)

    lines += ["## Side by side with PyTorch", "",
              "Same architecture, batch, window and machine, in this run, PyTorch in eager "
              "mode, timed with as many intra-op threads as JAX's CPUs and with 1 (on a shared "
              "machine torch's OpenMP threads can lose more to oversubscription than they gain); "
              "the ratio uses torch's faster setting. Each torch step is followed by one of "
              "ours: ratio = torch's median / the median of those interleaved steps of ours "
              "(>1: ours is faster); `ours ms` is that interleaved median. XLA's CPU thread "
              "pool cannot be resized within a process, so ours always uses every CPU.", ""]
    rows = []
    for r in train:
        t = torch_rows.get(_label(r))
        if t is None:
            continue
        fam = family_of(r)
        target = {"lstm": TARGETS["lstm_ratio"], "transformer": TARGETS["transformer_ratio"],
                  "vae": TARGETS["vae_ratio"], "frames": TARGETS["frames_ratio"]}
        if "error" in t:
            rows.append([_label(r), f"{r['batch_size']}x{r['seq_len']}",
                         _f(1000 * r["median_s"], 4), t["error"], "-", "-", "-"])
            continue
        differ = abs(r["params"] - t["params"]) > 0.02 * r["params"]
        by_threads = t.get("median_s_by_threads") or {str(t.get("threads")): t["median_s"]}
        rows.append([_label(r), f"{r['batch_size']}x{r['seq_len']}",
                     _f(1000 * t["jax_interleaved_median_s"], 4),
                     ", ".join(f"{_f(1000 * v, 4)} ({n})" for n, v in by_threads.items()),
                     f"{t['ratio']:.2f}x",
                     f">= {target[fam]}x ({_met(t['ratio'], target[fam])})" if fam in target
                     else "-", f"{r['params']:,} / {t['params']:,}"
                     + (" (the ports differ: stale torch port)" if differ else "")])
    lines += _table(["model/preset", "batch x len", "ours ms", "torch ms (threads)",
                     "ours / torch", "target", "params ours / torch"], rows)

    unroll = by("train", "unroll")
    if unroll:
        lines += ["## LSTM scan unroll", "",
                  "`model.unroll` (lax.scan unroll of the recurrence), same case otherwise. Each "
                  "value is timed alone, then all values take turns step by step (equal load): "
                  "the speed-up reads the interleaved medians.", ""]
        base = next((u["interleaved_median_s"] for u in unroll
                     if any(o == "model.unroll=1" for o in u["overrides"])), None)
        lines += _table(["case", "step ms alone", "IQR ms", "step ms interleaved",
                         "events/s/dev (interleaved)", "vs unroll 1", "compile s"],
                        [[_label(u), _f(1000 * u["median_s"], 4), _f(1000 * u["iqr_s"]),
                          _f(1000 * u["interleaved_median_s"], 4),
                          _f(u["events_per_step"] / u["interleaved_median_s"] / u["devices"]),
                          f"{base / u['interleaved_median_s']:.2f}x" if base else "-",
                          _f(u["compile_s"])] for u in unroll])

    sweeps = by("train", "batch") + by("train", "seq_len")
    if sweeps:
        lines += ["## Throughput against batch size and sequence length", "",
                  "![events/s against batch size](throughput_vs_batch.png)",
                  "![events/s against sequence length](throughput_vs_seq_len.png)", ""]
        sweep_torch = {_label(r): r for r in by("torch_train", "batch")
                       + by("torch_train", "seq_len")}
        lines.append("Ours alone: the timed steps before torch ran; beside torch: our steps "
                     "interleaved with torch's (the same load as torch's figure, and what the "
                     "ratio and the plots use).")
        lines.append("")
        lines += _table(["case", "sweep", "ours events/s alone", "ours events/s beside torch",
                         "torch events/s", "ours / torch"],
                        [[_label(r), r["sweep"], _f(r["events_per_s_per_device"]),
                          _f(interleaved_events_per_s(r, sweep_torch.get(_label(r)))),
                          _f(sweep_torch.get(_label(r), {}).get("events_per_s")),
                          f"{sweep_torch[_label(r)]['ratio']:.2f}x"
                          if sweep_torch.get(_label(r), {}).get("ratio") else "-"]
                         for r in sweeps])

    samples, tasks = by("sample"), by("sample_task")
    if samples or tasks:
        lines += ["## Sampling", ""]
    versus = [s for s in samples if s.get("jit_over_torch") or s.get("torch_error")]
    if versus:
        lines += ["Against what a PyTorch user runs: the same model (layer sizes, vocabulary) in "
                  "torch generating one token per call from a Python loop under "
                  "`torch.inference_mode` (the LSTM's (h, c) state carried, the Transformer's "
                  "keys and values in a KV cache), each token a `torch.multinomial` draw, timed "
                  "with as many intra-op threads as JAX's CPUs and with 1 (the faster counts). "
                  "Each torch run is followed by one of our jitted runs: ratio = torch's median / "
                  "the median of those interleaved runs of ours (>1: ours is faster).", ""]
        lines += _table(["model/preset", "batch", "events", "ours events/s (interleaved)",
                         "torch events/s (threads)", "ours / torch", "target"],
                        [[f"{s['model']}/{s['preset']}", str(s["batch"]), str(s["steps"]),
                          _f(s.get("jit_interleaved_events_per_s")),
                          s["torch_error"] if s.get("torch_error") else ", ".join(
                              f"{_f(s['batch'] * s['steps'] / t)} ({n})"
                              for n, t in s["torch_median_s_by_threads"].items()),
                          f"{s['jit_over_torch']:.2f}x" if s.get("jit_over_torch") else "-",
                          f">= {TARGETS['sampling_torch']}x ("
                          f"{_met(s.get('jit_over_torch'), TARGETS['sampling_torch'])})"]
                         for s in versus])
    if samples:
        lines += [("Second view: e" if versus else "E") +
                  "vents/s of `zoo.nets.decoding.sample` (one jitted `while_loop`) "
                  "against a Python loop calling one jitted function per event (model step + "
                  "draw), same model, RNG stream and outputs (`same ids`); every row runs all "
                  "steps. Random initial weights (speed does not depend on them). For the "
                  "Transformer, the KV cache against recomputing the whole sequence per event.", ""]
        target = TARGETS["sampling_gpu" if gpu else "sampling_cpu"]
        lines += _table(["model/preset", "batch", "events", "jitted events/s",
                         "per-event loop events/s", "jitted / loop", "µs/step jitted",
                         "µs/step added by the loop", "target", "same ids",
                         "recompute events/s", "cache / recompute", "compile s"],
                        [[f"{s['model']}/{s['preset']}", str(s["batch"]), str(s["steps"]),
                          _f(s["jit_events_per_s"]), _f(s["loop_events_per_s"]),
                          f"{s['jit_over_loop']:.2f}x", _f(s["jit_us_per_step"]),
                          _f(s["loop_overhead_us_per_step"]),
                          f">= {target}x ({_met(s['jit_over_loop'], target)})",
                          "yes" if s["same_ids"] else "NO",
                          _f(s.get("recompute_events_per_s")),
                          f"{s['cache_over_recompute']:.1f}x"
                          if s.get("cache_over_recompute") else "-",
                          _f(s["jit_first_call_s"])] for s in samples])
    if tasks:
        lines += ["Families sampled whole (MuseGAN phrases) or by a decoder scan (MusicVAE), "
                  "through their own jitted samplers: no per-event loop to compare with.", ""]
        lines += _table(["model/preset", "sampler", "batch", "events per row",
                         "events/s", "first call s"],
                        [[f"{s['model']}/{s['preset']}", s["sampler"], str(s["batch"]),
                          str(s["steps"]), _f(s["jit_events_per_s"]),
                          _f(s["jit_first_call_s"])] for s in tasks])

    prep = by("prepare_cli") + by("prepare_function")
    waits = by("input_wait")
    midi = by("prepare_midi")
    if prep or waits or midi:
        lines += ["## Data", ""]
        if midi:
            lines += _prepare_midi_table(midi)
        if prep:
            lines += _table(["how", "source / codec", "workers", "seconds", "inputs",
                             "pieces", "events", "pieces/s", "events/s"],
                            [[p["command"] if p["kind"] == "prepare_cli"
                              else "`prepare(...)` in this process",
                              f"{p['source']} / {p['codec']}", str(p["workers"]),
                              _f(p["seconds"]), str(p["inputs"]), str(p["pieces"]),
                              str(p["events"]), _f(p["pieces_per_s"]), _f(p["events_per_s"])]
                             for p in prep])
        if waits:
            lines += ["Input wait: the real loop's pattern (`Batcher.iterate` builds batches "
                      "in a thread, two ahead; metrics fetched one step late); time in "
                      "`next(batches)` over the loop's wall time.", ""]
            lines += _table(["case", "steps", "wall ms/step", "wait ms/step", "wait share",
                             "target", "batch build ms (host, hidden by prefetch)"],
                            [[_label(w), str(w["steps"]), _f(1000 * w["wall_s_per_step"], 4),
                              _f(1000 * w["wait_s_per_step"]), f"{100 * w['wait_share']:.2f}%",
                              f"< 2% ({_met(w['wait_share'], 0.02, higher=False)})",
                              _f(1000 * w["batch_build_s"])] for w in waits])

    missing = by("unavailable")
    errors = by("error")
    skipped = by("skipped")
    if missing or errors or skipped:
        lines += ["## Not measured", ""]
        lines += [f"- {m['model']}: {m['reason']}" for m in missing]
        lines += [f"- {e.get('label', '')} ({e.get('stage')}): {e['error']}" for e in errors]
        lines += [f"- {k['label']} ({k['stage']}): skipped, {k['reason']}" for k in skipped]
        lines.append("")
    for section in meta.get("sections", []):
        lines += [section, ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- plots

def _prepare_midi_table(rows: list[dict]) -> list[str]:
    """`zoo prepare midi-dir` on generated pop-song files: note-seq's path and the fast one."""
    lines = [f"`zoo prepare midi-dir DIR --workers {rows[0]['workers']}` on generated pop-song "
             "MIDI files (benchmarks/prepare_scale.py, whose results/prepare_scale.md has the "
             "2,000- and 20,000-file runs): the note-seq path (`ZOO_MIDI_READER=note-seq`) and "
             "the fast one, back to back; CPU s: the process and its workers. On a folder "
             "this small the new path's time is mostly start-up (imports, two workers).", ""]
    table = []
    for r in rows:
        for key, name in (("old", "note-seq (old)"), ("new", "symusic + fast encoder (new)")):
            p = r[key]
            table.append([f"{r['files']:,} / {r['codec']}", name, _f(p["seconds"]),
                          _f(p["cpu_s"]), _f(p["files_per_s"]), _f(p["events_per_s"]),
                          f"{p['peak_rss_mb']:.0f} MB", ""])
        table.append(["", "speed-up", f"{r['speedup']:.2f}x", f"{r['cpu_speedup']:.2f}x", "",
                      "", "", "yes" if r["same_arrays"] else "NO"])
    return lines + _table(["files / codec", "path", "seconds", "CPU s", "files/s", "events/s",
                           "peak memory (tree)", "same arrays"], table)


def plot_sweeps(records: list[dict], out: Path) -> list[Path]:
    """events/s per device against batch size and against sequence length, one line per
    (model, library); JAX points are the steps interleaved with torch's where torch ran (the
    same load), else the steps timed alone. Returns the PNG paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for sweep, axis_key, title in (("batch", "batch_size", "batch size"),
                                   ("seq_len", "seq_len", "sequence length")):
        ours = [r for r in records if r["kind"] == "train" and r.get("sweep") == sweep]
        if not ours:
            continue
        theirs = {_label(r): r for r in records
                  if r["kind"] == "torch_train" and r.get("sweep") == sweep and "error" not in r}
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for name in dict.fromkeys(f"{r['model']}/{r['preset']}" for r in ours):
            rows = sorted((r for r in ours if f"{r['model']}/{r['preset']}" == name),
                          key=lambda r: r[axis_key])
            xs = [r[axis_key] for r in rows]
            ys = [interleaved_events_per_s(r, theirs.get(_label(r)))
                  or r["events_per_s_per_device"] for r in rows]
            line, = ax.plot(xs, ys, "o-", label=f"{name} (JAX)")
            pts = [(r[axis_key], theirs[_label(r)]["events_per_s"]) for r in rows
                   if _label(r) in theirs]
            if pts:
                ax.plot(*zip(*pts), "s--", color=line.get_color(), label=f"{name} (PyTorch)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(title)
        ax.set_ylabel("training events/s per device")
        ax.set_title(f"Training throughput against {title}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = Path(out) / f"throughput_vs_{sweep}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
