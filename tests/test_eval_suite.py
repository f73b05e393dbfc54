"""`zoo eval --samples N` end to end: a tiny Melody RNN on the chorale melodies."""

import html
import json

import numpy as np
import pytest
from conftest import check_index_html

from zoo.cli import main
from zoo.data.audio import wav_info
from zoo.eval import Notes
from zoo.eval.suite import HISTOGRAMS, STATISTICS, compare, piece_statistics

FAST = ["--set", "steps=6", "--set", "batch_size=8", "--set", "seq_len=32",
        "--set", "model.hidden=32", "--set", "eval_max_pieces=4", "--no-progress"]


def test_eval_prints_the_table_and_writes_json_and_png(chorale_melodies, tmp_path, capsys):
    wd = tmp_path / "run"
    assert main(["train", "melody_rnn", "--preset", "tiny", "--data", chorale_melodies,
                 "--workdir", str(wd), *FAST]) == 0
    capsys.readouterr()
    assert main(["eval", "--workdir", str(wd), "--splits", "valid", "--samples", "4",
                 "--wav", "--sample-rate", "16000"]) == 0
    out = capsys.readouterr().out
    for name, (label, _, _) in {**STATISTICS, **HISTOGRAMS}.items():
        assert label in out, name
    assert "originality against" in out and "samples (4)" in out

    report = json.loads((wd / "eval" / "samples.json").read_text())
    assert report["num_samples"] == 4 and report["steps"] == 32
    stats = report["statistics"]
    assert stats["num_notes"]["samples"]["pieces"] == 4
    assert 0.0 <= stats["pitch_range"]["overlap"] <= 1.0
    assert stats["polyphony"]["samples"]["mean"] == 1.0  # a melody model plays one note at once
    assert abs(sum(stats["pitch_class_histogram"]["data"]) - 1.0) < 1e-9
    per_sample = report["originality"]["per_sample"]
    assert len(per_sample) == 4 and all(r["longest_run"] <= r["notes"] for r in per_sample)
    assert report["originality"]["held_out"]["pieces"] > 0
    assert (wd / "eval" / "histograms.png").stat().st_size > 10_000
    # index.html: the statistics table (every statistic), the histograms, each sample with audio
    page = check_index_html(wd / "eval", 4, wav=True)
    for name, (label, _, _) in {**STATISTICS, **HISTOGRAMS}.items():
        assert f"<td>{html.escape(label)}</td>" in page, name
    assert "src='histograms.png'" in page
    assert wav_info(wd / "eval" / "sample_0.wav")[0] > 0
    # `zoo eval` keeps the samples' report in eval.json beside the NLL table
    assert json.loads((wd / "eval.json").read_text())["samples"]["num_samples"] == 4


def test_identical_sets_are_at_distance_zero():
    rng = np.random.default_rng(0)
    pieces = []
    for _ in range(12):
        start = np.sort(rng.choice(64, 20, replace=False))
        pieces.append(Notes.from_arrays(rng.integers(55, 80, 20), start, start + 2))
    rows = compare(piece_statistics(pieces), piece_statistics(pieces))
    for name in STATISTICS:
        assert rows[name]["overlap"] == pytest.approx(1.0) and rows[name]["kl"] == 0.0, name
    assert rows["pitch_class_histogram"]["euclidean"] == 0.0
    shifted = [Notes.from_arrays(p.pitch + 1, p.start, p.end) for p in pieces]
    moved = compare(piece_statistics(pieces), piece_statistics(shifted))
    assert moved["pitch_range"]["overlap"] == 1.0  # a transposition keeps the range...
    assert moved["pitch_class_histogram"]["euclidean"] > 0.05  # ...but not the pitch classes
