"""``zoo eval --samples N``: music statistics of a model's samples beside its data, and an
originality check against the training set.

Works for any model in the zoo: samples come from ``task.generate`` and data pieces from the
codec's ``decode``, so everything is compared as NoteSequences. The data side is the opening of
each of a seeded subset of training pieces, cut to the length a sample has (``seq_len`` events),
so statistics that grow with length (pitch range, pitches used) compare like with like.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from zoo.eval import STEPS_PER_QUARTER, Notes, distances, originality, pitch, rhythm

DATA_PIECES = 256  # training pieces whose statistics stand for the data (a cap, for speed)
HELD_OUT_PIECES = 64  # validation pieces checked for originality, the baseline a model can reach

# name -> (label for the table, statistic of one piece, number format)
STATISTICS: dict[str, tuple[str, Callable[[Notes], float], str]] = {
    "num_notes": ("notes", lambda n: float(len(n)), ".1f"),
    "pitch_range": ("pitch range (semitones)", pitch.pitch_range, ".1f"),
    "num_pitches": ("pitches used", pitch.num_pitches, ".1f"),
    "num_pitch_classes": ("pitch classes used", pitch.num_pitch_classes, ".1f"),
    "pitch_class_entropy": ("pitch-class entropy (bits)", pitch.pitch_class_entropy, ".2f"),
    "scale_consistency": ("scale consistency", pitch.scale_consistency, ".3f"),
    "in_scale_rate": ("in-scale rate (C major)", pitch.in_scale_rate, ".3f"),
    "mean_abs_interval": ("mean |interval| (semitones)", pitch.mean_abs_interval, ".2f"),
    "empty_beat_rate": ("empty-beat rate", rhythm.empty_beat_rate, ".3f"),
    "empty_bar_rate": ("empty-bar rate", rhythm.empty_bar_rate, ".3f"),
    "polyphony": ("polyphony (notes sounding)", rhythm.polyphony, ".2f"),
    "polyphony_rate": ("polyphony rate", rhythm.polyphony_rate, ".3f"),
    "mean_duration": ("mean note length (quarters)", rhythm.mean_duration, ".3f"),
    "mean_ioi": ("mean inter-onset (quarters)", rhythm.mean_inter_onset_interval, ".3f"),
    "note_density": ("note density (per beat)", rhythm.note_density, ".2f"),
    "groove_consistency": ("groove consistency", rhythm.groove_consistency, ".3f"),
}
HISTOGRAMS: dict[str, tuple[str, Callable[[Notes], np.ndarray], tuple[str, ...]]] = {
    "pitch_class_histogram": ("pitch-class histogram", pitch.pitch_class_histogram,
                              pitch.PITCH_CLASS_NAMES),
    "duration_histogram": ("note-length histogram", rhythm.duration_histogram,
                           rhythm.DURATION_NAMES),
}


def piece_statistics(pieces: list[Notes]) -> dict[str, np.ndarray]:
    """Every statistic of every piece: name -> (pieces,) for scalars, (pieces, K) histograms."""
    out = {name: np.array([fn(p) for p in pieces], np.float64).reshape(len(pieces))
           for name, (_, fn, _) in STATISTICS.items()}
    for name, (_, fn, names) in HISTOGRAMS.items():
        out[name] = np.array([fn(p) for p in pieces], np.float64).reshape(len(pieces), len(names))
    return out


def compare(data: dict[str, np.ndarray], samples: dict[str, np.ndarray]) -> dict[str, dict]:
    """name -> {"data": {mean, std}, "samples": {mean, std}, "overlap", "kl"} for scalar
    statistics, and {"data": mean histogram, "samples": ..., "overlap", "kl", "euclidean"} for
    histograms."""
    rows = {}
    for name in STATISTICS:
        rows[name] = {"data": _mean_std(data[name]), "samples": _mean_std(samples[name]),
                      **distances.compare_values(data[name], samples[name])}
    for name in HISTOGRAMS:
        rows[name] = {"data": distances.mean_histogram(data[name]).tolist(),
                      "samples": distances.mean_histogram(samples[name]).tolist(),
                      **distances.compare_histograms(data[name], samples[name])}
    return rows


def _mean_std(values: np.ndarray) -> dict[str, float]:
    v = values[~np.isnan(values)]
    return {"mean": float(v.mean()) if v.size else np.nan,
            "std": float(v.std()) if v.size else np.nan, "pieces": int(v.size)}


def _entropy_bits(h: list[float]) -> float:
    h = np.asarray(h, np.float64)
    h = h[h > 0]
    return float(-(h * np.log2(h)).sum()) if h.size else np.nan


def table_cells(rows: dict[str, dict], num_data: int,
                num_samples: int) -> tuple[list[str], list[list[str]]]:
    """(header, one row of cells per statistic): data and sample mean ± std, overlapping area,
    KL(data || samples); histograms give the entropy of the mean histogram and the Euclidean
    distance. The terminal table and index.html both show these cells."""
    header = ["statistic", f"data ({num_data})", f"samples ({num_samples})", "overlap", "KL",
              "L2"]
    cells = []
    for name, (label, _, fmt) in STATISTICS.items():
        r = rows[name]
        cells.append([label] + [f"{r[side]['mean']:{fmt}} ± {r[side]['std']:{fmt}}"
                                if not math.isnan(r[side]["mean"]) else "n/a"
                                for side in ("data", "samples")]
                     + [_num(r["overlap"]), _num(r["kl"]), ""])
    for name, (label, _, _) in HISTOGRAMS.items():
        r = rows[name]
        cells.append([label] + [f"H {_entropy_bits(r[side]):.2f} bits"
                                for side in ("data", "samples")]
                     + [_num(r["overlap"]), _num(r["kl"]), _num(r["euclidean"])])
    return header, cells


def table(rows: dict[str, dict], num_data: int, num_samples: int) -> list[str]:
    """The statistics as text lines, one per statistic (``table_cells``)."""
    header, cells = table_cells(rows, num_data, num_samples)
    lines = [f"{header[0]:<30} {header[1]:>15} {header[2]:>15} {header[3]:>8} {header[4]:>7}"]
    for c in cells:
        lines.append(f"{c[0]:<30} {c[1]:>15} {c[2]:>15} {c[3]:>8} {c[4]:>7}"
                     + (f"  L2 {c[5]}" if c[5] else ""))
    return lines


def _caption(result: dict) -> str:
    """One sample's originality in words, for index.html."""
    return (f"{result['notes']} notes; longest run shared with a training piece "
            f"{result['longest_run']} notes" + (" (flagged as a copy)" if result["copied"] else ""))


def _num(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.3f}"


def originality_lines(sample_summary: dict, held_out_summary: dict | None, results: list[dict],
                      num_train: int) -> list[str]:
    s = sample_summary
    lines = [f"originality against {num_train} training pieces ({originality.NGRAM_NOTES}-note "
             f"n-grams; a copy repeats more than {s['max_copy_notes']} notes of one piece):",
             f"{'':<16} {'longest run (notes)':>22} {'n-gram overlap':>15} {'copies':>8}"]
    for label, summary in (("samples", s), ("held-out data", held_out_summary)):
        if summary and summary["pieces"]:
            runs = f"mean {summary['mean_longest_run']:.1f}, max {summary['max_longest_run']}"
            lines.append(f"{label:<16} {runs:>22} {_num(summary['mean_ngram_overlap']):>15} "
                         f"{summary['copied']:>4}/{summary['pieces']:<3}")
    for i, r in enumerate(results):
        if r["copied"]:
            lines.append(f"  sample {i} copies notes {r['run_start']}-"
                         f"{r['run_start'] + r['longest_run'] - 1} from training piece "
                         f"{r['source_id']} (its notes {r['source_start']}-"
                         f"{r['source_start'] + r['longest_run'] - 1})")
    return lines


def write_histograms_png(rows: dict[str, dict], path: Path, title: str = "") -> Path:
    """Bar charts of the mean pitch-class and note-length histograms, data beside samples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(HISTOGRAMS), figsize=(12, 3.8), dpi=100)
    for ax, (name, (label, _, names)) in zip(axes, HISTOGRAMS.items()):
        x = np.arange(len(names))
        for shift, side, colour in ((-0.2, "data", "#1f77b4"), (0.2, "samples", "#d62728")):
            ax.bar(x + shift, np.nan_to_num(rows[name][side]), width=0.4, label=side,
                   color=colour)
        ax.set_xticks(x, names)
        ax.set_ylabel("share of notes")
        ax.set_title(f"{label} (overlap {_num(rows[name]['overlap'])})")
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _opening(codec, piece: np.ndarray, steps: int) -> Notes:
    return Notes.from_sequence(codec.decode(np.asarray(piece[:steps])), STEPS_PER_QUARTER)


def _jsonable(x):
    """nan -> None (strict JSON), numpy scalars -> Python numbers, recursively."""
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if math.isnan(x) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def evaluate_samples(trained, num: int, seed: int = 0, out: Path = Path("eval"),
                     steps: int | None = None, data_pieces: int = DATA_PIECES,
                     max_copy_notes: int = originality.MAX_COPY_NOTES, wav: bool = False,
                     sample_rate: int = 22050, echo=print) -> dict:
    """Sample ``num`` pieces, compare their statistics with the data's, check their originality;
    print the table, write ``out/samples.json``, ``out/histograms.png``, each sample's MIDI, PNG
    (and WAV) and ``out/index.html`` (the table, then the samples); return the report.

    Args:
      trained: a run at a checkpoint (``zoo.runs.load_trained``: .trainer, .state, .built).
      steps: events per sample (default: the training ``seq_len``); data openings have as many.
      data_pieces: at most this many training pieces (a seeded subset) stand for the data.
      max_copy_notes: a sample repeating more consecutive notes of one piece is flagged.
    """
    import jax

    from zoo.codecs import END
    from zoo.data.writers import write_pieces
    from zoo.errors import ZooError

    if num < 1:
        raise ZooError(f"--samples must be at least 1, got {num}")
    trainer, state, built = trained.trainer, trained.state, trained.built
    codec, data = built.codec, built.data
    steps = steps or trainer.cfg.seq_len
    pieces = trainer.task.generate(state.params, num, steps, np.array([END], np.int32),
                                   jax.random.key(seed))
    sample_notes = [Notes.from_sequence(ns, STEPS_PER_QUARTER) for ns in pieces]

    rng = np.random.default_rng(seed)
    train = data.split("train")
    if len(train) == 0:
        raise ZooError(f"{data.dir} has no training pieces to compare with")
    chosen = np.sort(rng.permutation(len(train))[:data_pieces])
    data_notes = [_opening(codec, train[int(i)], steps) for i in chosen]
    rows = compare(piece_statistics(data_notes), piece_statistics(sample_notes))

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    index = originality.cached_index(data, "train", STEPS_PER_QUARTER, fallback_dir=out,
                                     echo=echo)
    results = [originality.originality(n, index, max_copy_notes=max_copy_notes)
               for n in sample_notes]
    sample_summary = originality.summarize(results, max_copy_notes)
    valid = data.split("valid")
    held = np.sort(rng.permutation(len(valid))[:HELD_OUT_PIECES])
    held_results = [originality.originality(_opening(codec, valid[int(i)], steps), index,
                                            max_copy_notes=max_copy_notes) for i in held]
    held_summary = originality.summarize(held_results, max_copy_notes)

    spec = built.spec
    lines = table(rows, len(data_notes), len(sample_notes))
    copies = originality_lines(sample_summary, held_summary, results, len(train))
    lines += [""] + copies
    echo(f"{num} samples of {steps} events (seed {seed}) beside the openings of "
         f"{len(data_notes)} training pieces:")
    echo("\n".join(lines))
    png = write_histograms_png(rows, out / "histograms.png",
                               title=f"{spec.model}/{spec.preset}: data vs {num} samples")
    write_pieces(pieces, out, f"{spec.model}/{spec.preset}: {num} samples against the data",
                 wav=wav, sample_rate=sample_rate,
                 table=table_cells(rows, len(data_notes), len(sample_notes)),
                 captions=[_caption(r) for r in results],
                 notes=[f"{num} samples of {steps} events (seed {seed}) beside the openings of "
                        f"{len(data_notes)} training pieces.", "\n".join(copies)],
                 figures=[png.name], echo=echo)
    report = _jsonable({
        "num_samples": num, "steps": steps, "seed": seed, "data_pieces": len(data_notes),
        "statistics": rows,
        "originality": {"samples": sample_summary, "held_out": held_summary,
                        "per_sample": results},
        "table": lines, "png": str(png),
    })
    (out / "samples.json").write_text(json.dumps(report, indent=2))
    echo(f"wrote {out / 'samples.json'}, {png} and {out / 'index.html'}")
    return report
