"""The piano-roll models end to end on a file in the 2012 format: `zoo prepare bl2012`, train,
sample (MIDI + PNG), `zoo eval --metric frame-nll`, and benchmarks/polyphonic.py in --quick mode."""

import importlib.util
import json
from pathlib import Path

import note_seq
import numpy as np
import pytest

from zoo.cli import main

# I, IV, V, vi in C as four voices (MIDI pitches), and a progression that mostly moves on.
CHORDS = [(48, 64, 67, 72), (53, 65, 69, 72), (55, 62, 67, 71), (57, 64, 69, 72)]
NEXT = np.array([[0.1, 0.4, 0.4, 0.1], [0.2, 0.1, 0.6, 0.1], [0.7, 0.1, 0.1, 0.1],
                 [0.1, 0.5, 0.3, 0.1]])


def _progression(rng, length: int) -> list[list[int]]:
    """A 2012-format sequence: frames (lists of MIDI pitches) of chords held 1 or 2 frames."""
    frames, chord = [], 0
    while len(frames) < length:
        frames += [list(CHORDS[chord])] * int(rng.integers(1, 3))
        chord = int(rng.choice(4, p=NEXT[chord]))
    return frames[:length]


@pytest.fixture(scope="module")
def bl2012_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    sets = {split: [_progression(rng, int(rng.integers(16, 40))) for _ in range(n)]
            for split, n in (("train", 40), ("valid", 8), ("test", 8))}
    path = tmp_path_factory.mktemp("bl2012") / "jsb_like.json"
    path.write_text(json.dumps(sets))
    return path


@pytest.fixture(scope="module")
def prepared(bl2012_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared") / "jsb_like"
    assert main(["prepare", "bl2012", str(bl2012_file), "--codec", "pianoroll",
                 "--out", str(out), "--workers", "0"]) == 0
    return out


def test_nade_trains_samples_and_reports_frame_nll(bl2012_file, prepared, tmp_path, capsys):
    wd = tmp_path / "nade"
    assert main(["train", "pianoroll_rnn_nade", "--preset", "tiny", "--data", str(prepared),
                 "--workdir", str(wd), "--set", "steps=60", "--set", "batch_size=8",
                 "--set", "seq_len=32", "--set", "eval_every=30", "--no-progress"]) == 0
    assert main(["sample", "--workdir", str(wd), "--num", "2", "--steps", "24"]) == 0
    for i in range(2):
        ns = note_seq.midi_file_to_note_sequence(str(wd / "samples" / f"sample_{i}.mid"))
        assert ns.notes and all(21 <= n.pitch <= 108 for n in ns.notes)
        onsets = [n.start_time for n in ns.notes]
        assert max(onsets.count(t) for t in onsets) >= 2, "frames hold chords"
        assert (wd / "samples" / f"sample_{i}.png").stat().st_size > 1000
    capsys.readouterr()
    assert main(["eval", "--workdir", str(wd), "--metric", "frame-nll"]) == 0
    assert "NLL/frame" in capsys.readouterr().out
    report = json.loads((wd / "eval.json").read_text())
    assert report["metric"] == "frame-nll" and report["first_frame_scored"]
    test = report["splits"]["test"]
    assert test["frames"] == sum(len(s) for s in json.loads(bl2012_file.read_text())["test"])
    # learned the progression: far better than independent keys fitted on train
    assert test["nll"] < 0.7 * test["key_frequency_nll"], test
    assert 0.0 < test["accuracy"] <= 1.0
    assert main(["eval", "--workdir", str(wd), "--metric", "bleu"]) == 2
    assert "reports frame-nll, accuracy, not 'bleu'" in capsys.readouterr().err


def _benchmark_module():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "polyphonic.py"
    spec = importlib.util.spec_from_file_location("polyphonic_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_quick_on_a_2012_file(bl2012_file, tmp_path):
    bench = _benchmark_module()
    out, runs = tmp_path / "results", tmp_path / "runs"
    result = bench.run(str(bl2012_file), quick=True, out=out, runs=runs,
                       overrides=("steps=60", "eval_every=20", "checkpoint_every=20"),
                       echo=lambda s: None)
    assert result["dataset"] == "jsb" and not result["stand_in"]     # guessed from the name
    md = (out / "polyphonic-jsb-quick.md").read_text()
    saved = json.loads((out / "polyphonic-jsb-quick.json").read_text())
    assert [r["model"] for r in saved["rows"]] == ["pianoroll_rnn", "pianoroll_rnn_nade"]
    assert saved["data"]["test"]["pieces"] == 8
    for row in saved["rows"]:
        records = [json.loads(x) for x in
                   (Path(row["workdir"]) / "metrics.jsonl").read_text().splitlines()]
        valid = {r["step"]: r["nll"] for r in records if r["split"] == "valid"}
        assert row["best_step"] == min(valid, key=valid.get) and row["best_checkpoint_kept"]
        assert row["best_step"] > min(valid), "valid NLL improved after the first evaluation"
        # the restored best checkpoint scores what training measured at that step
        assert row["valid"]["nll"] == pytest.approx(valid[row["best_step"]], rel=1e-4)
        assert row["test"]["frames"] == saved["data"]["test"]["frames"]
        assert row["test"]["nll"] < 0.2 * 88 * np.log(2)
        assert f"{row['test']['nll']:.3f}" in md
    rnn, nade = (r["test"]["nll"] for r in saved["rows"])
    # chords are one mixture of key patterns: only the NADE can beat independent keys by far
    assert nade < min(rnn, saved["key_frequency_baseline"]["test"]["nll"]) - 0.5
    assert "| 8.71 | 6.27 | 5.56 | 8.67 |" in md        # published JSB numbers beside ours
    # the frame-level mixture: weights fitted on valid can only improve valid on every member
    mix = saved["mixture"]
    assert mix["members"] == ["pianoroll_rnn", "pianoroll_rnn_nade"]
    assert sum(mix["weights"]) == pytest.approx(1.0) and min(mix["weights"]) >= 0
    assert mix["valid"]["nll"] <= min(r["valid"]["nll"] for r in saved["rows"]) + 1e-6
    assert f"{mix['test']['nll']:.3f}" in md
    # a mixture of a model with itself is the model: weights 1/2 each, the same NLL
    twice = bench.mixture_row([saved["rows"][1], saved["rows"][1]])
    assert twice["weights"] == pytest.approx([0.5, 0.5])
    assert twice["test"]["nll"] == pytest.approx(nade, rel=1e-6)  # float32 sums apart
    again = bench.run(str(bl2012_file), quick=True, out=out, runs=runs,
                      overrides=("steps=60", "eval_every=20", "checkpoint_every=20"),
                      echo=lambda s: None)
    assert [r["test"] for r in again["rows"]] == [r["test"] for r in saved["rows"]]
