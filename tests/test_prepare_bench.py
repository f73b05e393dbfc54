"""The midi-dir prepare row of ``python -m benchmarks``: old (note-seq) and new path, one report."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repo root holds benchmarks/

from benchmarks import __main__ as bench  # noqa: E402
from benchmarks import data_pipeline, report  # noqa: E402


def test_prepare_midi_row_times_both_paths_and_renders(tmp_path):
    row = data_pipeline.prepare_midi_scale(8, tmp_path, workers=0)
    assert row["same_arrays"] and row["files"] == 8
    assert row["old"]["readers"] == {"note-seq: ZOO_MIDI_READER": row["old"]["pieces"]}
    assert set(row["new"]["readers"]) <= {"symusic"} and row["new"]["pieces"] >= 1
    assert row["old"]["cpu_s"] > 0 and row["new"]["peak_rss_mb"] > 0
    text = report.markdown([row], {"command": "python -m benchmarks"})
    assert "| 8 / melody | note-seq (old) |" in text and "speed-up" in text


def test_prepare_midi_row_is_in_the_full_plan_and_on_request():
    assert bench.full_plan().prepare_midi >= 200 and bench.quick_plan().prepare_midi
    assert "prepare" in bench.parse(["--models", "prepare"]).models
