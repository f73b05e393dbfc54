"""The polyphonic benchmark of Boulanger-Lewandowski, Bengio & Vincent (ICML 2012): each piano-roll
model trains on train with early stopping on valid; its best-valid checkpoint is scored on test
(NLL per frame in nats, expected frame-level accuracy) beside the published numbers for that set.

    python benchmarks/polyphonic.py                               # embedded chorales (JSB stand-in)
    python benchmarks/polyphonic.py ~/data/"JSB Chorales.pickle"  # a 2012-format pickle or JSON
    python benchmarks/polyphonic.py FILE --dataset nottingham     # when the name does not say
    python benchmarks/polyphonic.py --quick                       # a smoke run: 1-3 minutes

Hyperparameters: CONFIG below (QUICK with --quick; ``--set key=value`` on top, for every model).
Writes benchmarks/results/polyphonic-<set>[-quick].md and .json; the runs go to runs/polyphonic/
(a second call with the same data and settings reuses them). Device, versions, commit and the
measured times are in the files; the default run is sized for a few minutes of a 2-core CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# model -> (preset, --set overrides): each model's `best` recipe (zoo/registry/pianoroll_*.py;
# what each lever did on the embedded chorales: benchmarks/results/polyphonic_levers.md). All
# three transpose every training window by -6..+5 semitones at batch time, the largest lever;
# the LSTM-NADE is 2x256 with NADE 128 (8,000 steps at most), the Transformer 2x128 with NADE 64
# (6,000 steps at most); both stop after 6 evaluations (every 250 steps) without a better valid
# NLL. The per-key-Bernoulli RNN is Chung et al.'s 36-unit LSTM. Sized for at most 20 minutes
# of training per model on a 2-core CPU for a set of JSB's size; the frame-level mixture of the
# models (weights fitted on valid) is scored after them.
CONFIG = {
    "pianoroll_rnn": ("jsb", ("transpose=-6,5",)),
    "pianoroll_rnn_nade": ("best", ()),
    "pianoroll_transformer": ("best", ()),
}
QUICK = {
    "pianoroll_rnn": ("tiny", ("steps=40", "batch_size=8", "seq_len=32", "eval_every=20",
                               "checkpoint_every=20")),
    "pianoroll_rnn_nade": ("tiny", ("steps=40", "batch_size=8", "seq_len=32", "eval_every=20",
                                    "checkpoint_every=20")),
}
EARLY_STOPPING = ("early_stopping_patience=5", "keep_checkpoints=6")  # for presets without it
TEST_ACCURACY_SAMPLES = 64  # NADE frames per test frame for the expected accuracy

# Published test NLL per frame, nats (REFERENCE.md; "~": check the papers' tables before quoting).
PUBLISHED_SOURCE = ("Boulanger-Lewandowski, Bengio & Vincent, ICML 2012 (RNN, RNN-RBM, RNN-NADE); "
                    "Chung et al. 2014 (LSTM)")
PUBLISHED = {
    "jsb": {"RNN": 8.71, "RNN-RBM": 6.27, "RNN-NADE": 5.56, "LSTM (Chung)": 8.67},
    "nottingham": {"RNN": 4.46, "RNN-RBM": 2.39, "RNN-NADE": 2.31, "LSTM (Chung)": 3.20},
    "musedata": {"RNN": 8.13, "RNN-RBM": 6.01, "RNN-NADE": 5.60, "LSTM (Chung)": 6.23},
    "piano-midi": {"RNN": 8.37, "RNN-RBM": 7.09, "RNN-NADE": 7.05, "LSTM (Chung)": 9.03},
}
COUNTERPART = {"pianoroll_rnn": "RNN, LSTM (Chung)", "pianoroll_rnn_nade": "RNN-NADE",
               "pianoroll_transformer": "(none; its NADE head as RNN-NADE's)"}
NAMES = {"jsb": "JSB Chorales", "nottingham": "Nottingham", "musedata": "MuseData",
         "piano-midi": "Piano-midi.de"}


def early_stopping(model: str, preset: str) -> tuple:
    """EARLY_STOPPING for a preset that does not stop early itself (the engine checks that a
    preset that does keeps enough checkpoints for its best one to survive)."""
    from zoo.registry import get_preset

    return EARLY_STOPPING if get_preset(model, preset).train.early_stopping_patience == 0 else ()


def guess_dataset(path: str | None) -> str | None:
    """The 2012 set a file name points to (None if it names none); no file: the chorales."""
    if path is None:
        return "jsb"
    name = Path(path).name.lower()
    for key, words in (("jsb", ("jsb", "chorale")), ("nottingham", ("nottingham",)),
                       ("musedata", ("muse",)), ("piano-midi", ("piano",))):
        if any(w in name for w in words):
            return key
    return None


def best_valid_step(workdir: Path) -> tuple[int, float]:
    """(step, valid NLL) of the best evaluation in the run's metrics.jsonl."""
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    valid = [r for r in records if r.get("split") == "valid"]
    best = min(valid, key=lambda r: (r["nll"], r["step"]))
    return int(best["step"]), float(best["nll"])


def train_one(model: str, preset: str, overrides: tuple, data_dir: Path, runs: Path,
              echo=print) -> dict:
    """Train with early stopping, then score the best-valid checkpoint on valid and test."""
    import jax

    from zoo.runs import RunSpec, make_trainer, train_and_evaluate
    from zoo.training.checkpoint import Checkpoints

    spec = RunSpec(model, preset, str(data_dir), overrides)
    key = hashlib.sha1(json.dumps([model, preset, str(data_dir), overrides]).encode())
    workdir = runs / f"{data_dir.name}-{model}-{key.hexdigest()[:8]}"
    done = workdir / "benchmark.json"
    scoring = dataclasses.replace(spec, overrides=overrides + (
        f"task.accuracy_samples={TEST_ACCURACY_SAMPLES}",))

    def restore_best(step):
        _, trainer = make_trainer(scoring)
        ckpt = Checkpoints(workdir / "checkpoints", trainer.cfg.keep_checkpoints)
        try:
            kept = step in ckpt.all_steps()
            state, _, _ = ckpt.restore(step if kept else ckpt.latest_step(),
                                       trainer.abstract_state)
        finally:
            ckpt.close()
        return trainer, state, kept

    if done.exists():  # scored before: resuming would train past its early stop
        echo(f"reusing {workdir} (delete it to train again)")
        row = json.loads(done.read_text())
        if not (workdir / "frame_logp.npz").exists():
            trainer, state, _ = restore_best(row["best_step"])
            save_frame_log_probs(workdir, trainer, state.params,
                                 {s: row[s] for s in ("valid", "test")})
        return row
    t0 = time.perf_counter()
    summary = train_and_evaluate(workdir, spec, progress=False, echo=echo)
    train_seconds = time.perf_counter() - t0
    step, valid_nll = best_valid_step(workdir)
    t0 = time.perf_counter()
    trainer, state, kept = restore_best(step)
    metrics = {split: trainer.evaluate(state.params, split, whole=True)
               for split in ("valid", "test")}
    save_frame_log_probs(workdir, trainer, state.params, metrics)
    count = sum(x.size for x in jax.tree.leaves(state.params))
    row = {
        "model": model, "preset": preset, "overrides": list(overrides), "workdir": str(workdir),
        "params": int(count), "steps": int(summary["step"]), "best_step": step,
        "best_checkpoint_kept": kept, "best_valid_nll_during_training": valid_nll,
        "valid": metrics["valid"], "test": metrics["test"],
        "train_seconds": train_seconds, "eval_seconds": time.perf_counter() - t0,
        "steps_per_s": summary["steps_per_s"],
    }
    done.write_text(json.dumps(row, indent=2) + "\n")
    return row


def save_frame_log_probs(workdir: Path, trainer, params, metrics: dict) -> None:
    """Every valid and test frame's log-probability under the scored checkpoint, for the
    mixtures: ``frame_logp.npz`` in the run. Their mean is checked against the evaluation's."""
    import numpy as np

    from zoo.errors import ZooError

    logp = {s: trainer.task.frame_log_probs(params, trainer.data.split(s)) for s in metrics}
    for s, lp in logp.items():
        if abs(-lp.mean() - metrics[s]["nll"]) > 1e-3 * max(1.0, metrics[s]["nll"]):
            raise ZooError(f"{workdir}: per-frame {s} NLL {-lp.mean():.5f} differs from the "
                           f"evaluation's {metrics[s]['nll']:.5f}")
    np.savez(workdir / "frame_logp.npz", **logp)


def mixture_weights(logp_KxN, iters: int = 500):
    """The weights w (K,) of a mixture sum_k w_k p_k(frame | past) that maximise the mean log
    likelihood of the frames (EM: the objective is concave in w, so this is its maximum)."""
    import numpy as np

    K = logp_KxN.shape[0]
    w = np.full(K, 1.0 / K)
    for _ in range(iters):
        joint = np.log(w)[:, None] + logp_KxN
        resp = np.exp(joint - np.logaddexp.reduce(joint, axis=0))
        w = np.maximum(resp.mean(axis=1), 1e-12)
        w /= w.sum()
    return w


def mixture_row(rows: list[dict]) -> dict | None:
    """The frame-level mixture of the benchmark's models: weights fitted on valid (EM), then
    test scored with them. p(frame_t | past) = sum_k w_k p_k(frame_t | past) is normalised for
    every t, so the mixture's NLL is as exact as each model's."""
    import numpy as np

    members = [r for r in rows if Path(r["workdir"], "frame_logp.npz").exists()]
    if len(members) < 2:
        return None
    logp = {s: np.stack([np.load(Path(r["workdir"], "frame_logp.npz"))[s] for r in members])
            for s in ("valid", "test")}
    w = mixture_weights(logp["valid"])
    nll = {s: float(-np.mean(np.logaddexp.reduce(np.log(w)[:, None] + lp, axis=0)))
           for s, lp in logp.items()}
    return {"model": " + ".join(r["model"] for r in members),
            "members": [r["model"] for r in members],
            "weights": [float(x) for x in w], "params": sum(r["params"] for r in members),
            "train_seconds": sum(r["train_seconds"] for r in members),
            "valid": {"nll": nll["valid"]}, "test": {"nll": nll["test"]}}


def environment() -> dict:
    import flax
    import jax

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                                capture_output=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=REPO, text=True,
                                    capture_output=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    device = jax.devices()[0]
    return {"device": f"{device.platform}: {device.device_kind}", "devices": jax.device_count(),
            "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
            "python": platform.python_version(), "jax": jax.__version__,
            "flax": flax.__version__, "commit": commit, "uncommitted_changes": dirty}


def settings(overrides: list[str]) -> str:
    """The --set overrides of a row, without the benchmark's own early-stopping ones."""
    return " ".join(f"`{o}`" for o in overrides if o not in EARLY_STOPPING)


def markdown(result: dict) -> list[str]:
    ds, data = result["dataset"], result["data"]
    title = NAMES.get(ds, "a 2012-format file")
    if result["stand_in"]:
        title = f"embedded chorales (stand-in for {NAMES['jsb']})"
    env = result["environment"]
    lines = [f"# Polyphonic benchmark: {title}", "",
             f"`{result['command']}`: {result['seconds'] / 60:.1f} min on {env['device']} "
             f"({env['cpu_count']} CPUs, load {env['load_average_1min']:.1f} at the end), "
             f"jax {env['jax']}, commit {env['commit']}"
             + (" with uncommitted changes" if env["uncommitted_changes"] else "") + ".", "",
             f"Data: `{data['dir']}`: " + ", ".join(
                 f"{s} {data[s]['pieces']} pieces / {data[s]['frames']:,} frames"
                 for s in ("train", "valid", "test")) + ".", "",
             "| model | preset | settings | params | steps (best) | test NLL/frame "
             "| test exp. acc. | valid NLL/frame | train time | published counterpart |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    base = result["key_frequency_baseline"]
    lines.append(f"| per-key Bernoulli (fitted on train) | | | {data['keys']} | | "
                 f"{base['test']['nll']:.3f} | {base['test']['accuracy']:.3f} | "
                 f"{base['valid']['nll']:.3f} | | |")
    for r in result["rows"]:
        lines.append(
            f"| {r['model']} | {r['preset']} | {settings(r['overrides'])} | {r['params']:,} "
            f"| {r['steps']} "
            f"({r['best_step']}) | {r['test']['nll']:.3f} | {r['test']['accuracy']:.3f} | "
            f"{r['valid']['nll']:.3f} | {r['train_seconds'] / 60:.1f} min | "
            f"{COUNTERPART.get(r['model'], '')} |")
    mix = result.get("mixture")
    if mix:
        weights = ", ".join(f"{m} {w:.2f}" for m, w in zip(mix["members"], mix["weights"],
                                                            strict=True))
        lines.append(f"| mixture of the models above | | weights fitted on valid: {weights} "
                     f"| {mix['params']:,} | | {mix['test']['nll']:.3f} | | "
                     f"{mix['valid']['nll']:.3f} | {mix['train_seconds'] / 60:.1f} min | |")
    published = result["published"]
    if published:
        lines += ["", f"Published test NLL per frame on {NAMES[ds]} (nats; {PUBLISHED_SOURCE}; "
                  "~ check the papers' tables):", "",
                  "| " + " | ".join(published) + " |", "|" + "---|" * len(published),
                  "| " + " | ".join(f"{v:.2f}" for v in published.values()) + " |"]
    lines += ["", "NLL: -log p(frame | earlier frames) in nats, all "
              f"{data['keys']} keys of a frame together, averaged over every frame of the split "
              "(frame-weighted); the first frame of each piece is scored, given a silent frame "
              "and the zero state. Expected accuracy: sum E[TP] / sum E[TP + FP + FN] under the "
              "model's distribution of each frame given the true past (Bay et al. 2009): exact for "
              f"the Bernoulli models, from {TEST_ACCURACY_SAMPLES} drawn frames per frame for "
              "the NADE. Each model is scored at its best valid step (in parentheses). Every "
              "piece is scored whole and exactly, in chunks of the task's `eval_chunk` frames "
              "(256) with the LSTM state or the Transformer's KV cache carried between chunks; "
              "the Transformer attends to the `max_len` frames ending at each frame (a sliding "
              "window, as in training), so scoring is linear in a piece's length. Training "
              "windows may be transposed at batch time (`transpose`); valid and test pieces are "
              "always scored as they are. The mixture row: p(frame | past) = sum_k w_k "
              "p_k(frame | past) over the models above, w fitted by EM on the valid frames and "
              "then fixed for test; each frame's mixture is normalised, so its NLL is exact; its "
              "train time is the members' sum."]
    if result["stand_in"]:
        lines += ["", "The embedded chorales are music21's Bach chorales at quarter-note frames, "
                  "split 80/10/10 by a hash of the piece id and kept in their own keys; the 2012 "
                  "JSB set is 382 chorales transposed to C major / C minor with its own split. "
                  "The published column is the nearest comparison, not the same test set."]
    return lines


def run(path: str | None = None, dataset: str | None = None, quick: bool = False,
        overrides: tuple = (), out: Path = REPO / "benchmarks" / "results",
        runs: Path = REPO / "runs" / "polyphonic", models: tuple | None = None,
        command: str = "", echo=print) -> dict:
    """Prepare the data, train and score every model, write the Markdown and JSON reports."""
    from zoo.codecs import get_codec
    from zoo.data.prepare import prepare
    from zoo.data.prepared import PreparedData
    from zoo.errors import ZooError
    from zoo.families.baselines import key_frequency_baseline

    t_start = time.perf_counter()
    dataset = dataset or guess_dataset(path)
    if dataset is not None and dataset not in PUBLISHED:
        raise ZooError(f"unknown --dataset '{dataset}'; use one of: {', '.join(PUBLISHED)}")
    config = QUICK if quick else CONFIG
    models = models or tuple(config)
    unknown = [m for m in models if m not in config]
    if unknown:
        raise ZooError(f"no benchmark config for {', '.join(unknown)}; use: {', '.join(config)}")
    codec = get_codec("pianoroll")
    data_dir = Path(prepare("bl2012" if path else "embedded-chorales", path, codec,
                            echo=echo)).resolve()
    data = PreparedData(data_dir)
    splits = {s: data.split(s) for s in ("train", "valid", "test")}
    empty = [s for s, split in splits.items() if len(split) == 0]
    if empty:
        raise ZooError(f"{data_dir} has no pieces in {', '.join(empty)}; the benchmark needs all "
                       "three splits")
    rows = []
    for model in models:
        preset, sets = config[model]
        echo(f"== {model} --preset {preset} " + " ".join(f"--set {s}" for s in sets + overrides))
        stop = early_stopping(model, preset)
        rows.append(train_one(model, preset, stop + sets + tuple(overrides), data_dir,
                              Path(runs), echo))
        r = rows[-1]
        echo(f"{model}: test NLL {r['test']['nll']:.4f} nats/frame, expected accuracy "
             f"{r['test']['accuracy']:.4f} (best valid step {r['best_step']} of {r['steps']}, "
             f"{r['train_seconds']:.0f} s training)")
    result = {
        "benchmark": "polyphonic (Boulanger-Lewandowski et al. 2012)",
        "command": command or "python benchmarks/polyphonic.py", "dataset": dataset,
        "stand_in": path is None, "quick": quick,
        "data": {"dir": str(data_dir), "keys": codec.vocab_size,
                 **{s: {"pieces": len(split), "frames": split.num_events}
                    for s, split in splits.items()}},
        "key_frequency_baseline": {s: key_frequency_baseline(splits["train"], splits[s])
                                   for s in ("valid", "test")},
        "rows": rows, "mixture": mixture_row(rows), "published": PUBLISHED.get(dataset, {}) if dataset else {},
        "published_source": PUBLISHED_SOURCE, "environment": environment(),
        "seconds": time.perf_counter() - t_start,
    }
    lines = markdown(result)
    name = f"polyphonic-{'embedded-chorales' if path is None else dataset or data_dir.name}"
    name += "-quick" if quick else ""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    echo("\n".join(lines))
    echo(f"wrote {out / name}.md and .json")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file", nargs="?", help="a 2012-format .pickle or .json (default: the "
                   "embedded chorales)")
    p.add_argument("--dataset", choices=sorted(PUBLISHED),
                   help="which published set to compare with (default: from the file name)")
    p.add_argument("--quick", action="store_true", help="tiny models, few steps: a smoke run")
    p.add_argument("--models", help="comma-separated subset of: " + ", ".join(CONFIG))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a train.*, model.* or task.* setting of every model")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    p.add_argument("--runs", default=str(REPO / "runs" / "polyphonic"))
    args = p.parse_args(argv)
    from zoo.errors import ZooError

    command = "python benchmarks/polyphonic.py " + " ".join(argv if argv is not None
                                                            else sys.argv[1:])
    try:
        run(args.file, args.dataset, args.quick, tuple(args.set), Path(args.out),
            Path(args.runs), tuple(args.models.split(",")) if args.models else None,
            command.strip())
    except ZooError as e:
        print(f"polyphonic: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
