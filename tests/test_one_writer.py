"""Runs that cannot hang forever or be written by two processes, and prepared data that cannot
be read damaged: the progress watchdog (stacks, one line, exit 75, resume), one writer per run
directory (a live holder refuses a second `zoo train`, a killed one's lock is taken over), two
`zoo prepare` of one data set at once, a prepare killed mid-way, and checksummed arrays."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import note_seq
import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from zoo.cli import main
from zoo.data.prepare import prepare
from zoo.data.prepared import PreparedData
from zoo.errors import ZooError
from zoo.training.watchdog import STALL_EXIT_CODE

ROOT = Path(__file__).parent.parent
SMALL = ["--set", "model.hidden=32", "--set", "batch_size=8", "--set", "seq_len=32",
         "--set", "eval_every=1000", "--set", "eval_max_pieces=4", "--no-progress"]


def _env():
    return {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
            "JAX_PLATFORMS": "cpu"}


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_stalled_step_writes_every_stack_exits_75_and_the_run_resumes(chorale_melodies,
                                                                         tmp_path, capsys):
    wd = tmp_path / "run"
    train = ["train", "melody_rnn", "--preset", "tiny", "--data", chorale_melodies,
             "--workdir", str(wd), *SMALL, "--set", "steps=6", "--set", "checkpoint_every=2"]
    # the 5th step never returns; 10 s covers this tiny step's compilation
    t0 = time.monotonic()
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "scripts" / "stall_train.py"),
                             "5", *train, "--set", "stall_seconds=10"], cwd=ROOT, env=_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == STALL_EXIT_CODE, result.stderr[-3000:]
    assert time.monotonic() - t0 > 10
    line = result.stderr.strip().splitlines()[-1]
    assert "no progress for" in line and "run the same `zoo train` again" in line, line
    dumps = list(wd.glob("stall-*.txt"))
    assert len(dumps) == 1 and str(dumps[0]) in line
    text = dumps[0].read_text()
    assert "stalled_train_step" in text and "zoo-watchdog" not in text.split("\n")[0]
    assert text.count("Thread 0x") >= 2  # the main thread and the others (prefetch, watchdog)
    assert main(train) == 0
    out = capsys.readouterr().out
    assert "resuming" in out and "step 6" in out


def test_one_writer_per_run_directory(chorale_melodies, tmp_path, capsys):
    wd = tmp_path / "run"
    train = ["train", "melody_rnn", "--preset", "tiny", "--data", chorale_melodies,
             "--workdir", str(wd), *SMALL]
    assert main([*train, "--set", "steps=2"]) == 0
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from zoo.runs import run_lock; run_lock(sys.argv[1]).__enter__(); "
         "print('held', flush=True); time.sleep(600)", str(wd)],
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = _snapshot(wd)
        capsys.readouterr()
        assert main([*train, "--set", "steps=4"]) == 2
        err = _one_line(capsys)
        assert f"is in use by process {holder.pid}" in err and "since" in err, err
        assert _snapshot(wd) == before  # nothing changed
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the killed holder's lock is free: the run goes on from its checkpoint
    assert main([*train, "--set", "steps=4"]) == 0
    assert "resuming" in capsys.readouterr().out


def _melody_folder(folder: Path, n: int = 30) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        ns = music_pb2.NoteSequence(ticks_per_quarter=220)
        ns.tempos.add(qpm=120)
        t, pitch = 0.0, 60
        for _ in range(64):
            pitch = int(np.clip(pitch + rng.integers(-3, 4), 55, 79))
            ns.notes.add(pitch=pitch, start_time=t, end_time=t + 0.25, velocity=80)
            t += 0.25
        ns.total_time = t
        note_seq.sequence_proto_to_midi_file(ns, str(folder / f"tune_{i:02d}.mid"))
    return folder


def _arrays(directory) -> dict:
    data = PreparedData(directory)
    return {s: [np.array(data.split(s)[i]) for i in range(len(data.split(s)))]  # copies
            for s in data.split_names}


def _prepare_cmd(folder, out):
    return [sys.executable, "-m", "zoo", "prepare", "midi-dir", str(folder), "--codec", "melody",
            "--out", str(out), "--workers", "0"]


def test_two_prepares_of_one_data_set_at_once_both_end_with_a_correct_cache(tmp_path):
    folder = _melody_folder(tmp_path / "midi")
    out = tmp_path / "shared"
    procs = [subprocess.Popen(_prepare_cmd(folder, out), cwd=ROOT, env=_env(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sum("reusing" in o for o in outputs) == 1, outputs  # the second waited, then reused
    alone = prepare("midi-dir", folder, "melody", out=tmp_path / "alone", workers=0,
                    echo=lambda s: None)
    got, want = _arrays(out), _arrays(alone)
    assert got.keys() == want.keys()
    for split in want:
        assert len(got[split]) == len(want[split])
        for a, b in zip(got[split], want[split]):
            np.testing.assert_array_equal(a, b)
    assert not list(tmp_path.glob(".shared.tmp-*"))


def test_a_prepare_killed_midway_leaves_nothing_read_as_complete(tmp_path):
    out = tmp_path / "chorales"
    proc = subprocess.Popen([sys.executable, "-m", "zoo", "prepare", "embedded-chorales",
                             "--codec", "melody", "--out", str(out), "--workers", "0"],
                            cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".chorales.tmp-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # some pieces written
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(tmp_path.glob(".chorales.tmp-*")), "the prepare finished before it was killed"
    assert not (out / "manifest.json").exists()
    with pytest.raises(ZooError, match="no prepared data set"):
        PreparedData(out)
    lines = []
    prepare("embedded-chorales", None, "melody", out=out, workers=0, echo=lines.append)
    assert len(PreparedData(out).split("train")) > 0
    assert not list(tmp_path.glob(".chorales.tmp-*"))  # the killed run's folder is cleaned up


def test_a_damaged_cache_is_named_and_prepared_again(tmp_path, capsys):
    folder = _melody_folder(tmp_path / "midi")
    out = prepare("midi-dir", folder, "melody", out=tmp_path / "data", workers=0,
                  echo=lambda s: None)
    files = json.loads((out / "manifest.json").read_text())["files"]
    assert {"train.data.npy", "train.offsets.npy", "valid.data.npy"} <= set(files)
    want = _arrays(out)
    data = out / "train.data.npy"
    data.write_bytes(data.read_bytes()[:-12])  # truncated
    with pytest.raises(ZooError, match=r"train\.data\.npy has [\d,]+ bytes, not the [\d,]+"):
        PreparedData(out)
    assert main(["train", "melody_rnn", "--preset", "tiny", "--data", str(out),
                 "--workdir", str(tmp_path / "run"), *SMALL, "--set", "steps=1"]) == 2
    err = _one_line(capsys)
    assert "train.data.npy" in err and "damaged" in err and not (tmp_path / "run").exists()
    lines = []
    prepare("midi-dir", folder, "melody", out=out, workers=0, echo=lines.append)
    assert any("train.data.npy has" in line and "preparing" in line for line in lines), lines
    assert all(np.array_equal(a, b) for a, b in zip(_arrays(out)["train"], want["train"]))
    valid = out / "valid.data.npy"
    raw = bytearray(valid.read_bytes())
    raw[-1] ^= 0x01  # one bit, same size
    valid.write_bytes(bytes(raw))
    with pytest.raises(ZooError, match=r"valid\.data\.npy is altered"):
        PreparedData(out)
