"""Reliability: killed and resumed runs, damaged checkpoints, foreign and old run directories,
identical samples for a seed, unwritable run directories, and multi-process data parallelism."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

from zoo.cli import main
from zoo.runs import RunSpec, load_trained, train_and_evaluate

SMALL = ("model.hidden=32", "batch_size=8", "seq_len=32", "eval_every=1000", "log_every=5",
         "eval_max_pieces=4")
ROOT = Path(__file__).resolve().parents[1]


def _params(workdir):
    trained = load_trained(workdir)
    state, step = trained.state, trained.step
    return step, jax.device_get(state.params)


def _assert_same(a, b):
    jax.tree.map(np.testing.assert_array_equal, a, b)


def _zoo_train(data, workdir, *sets):
    args = [sys.executable, "-m", "zoo", "train", "melody_rnn", "--preset", "tiny", "--data", data,
            "--workdir", str(workdir), "--no-progress"]
    for s in sets:
        args += ["--set", s]
    return args


def test_sigkill_then_resume_equals_uninterrupted(chorale_melodies, tmp_path):
    sets = (*SMALL, "steps=60", "checkpoint_every=10")
    whole = tmp_path / "whole"
    train_and_evaluate(whole, RunSpec("melody_rnn", "tiny", chorale_melodies, sets),
                       progress=False)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_zoo_train(chorale_melodies, killed, *sets), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (killed / "checkpoints" / "20").exists() and proc.poll() is None:
        assert time.time() < deadline, "no checkpoint within 4 minutes"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    resumed = subprocess.run(_zoo_train(chorale_melodies, killed, *sets), cwd=ROOT,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    (step_a, a), (step_b, b) = _params(whole), _params(killed)
    assert step_a == step_b == 60
    _assert_same(a, b)


def test_damaged_latest_checkpoint_falls_back_to_previous(chorale_melodies, tmp_path):
    sets = (*SMALL, "steps=12", "checkpoint_every=4")
    spec = RunSpec("melody_rnn", "tiny", chorale_melodies, sets)
    whole = tmp_path / "whole"
    train_and_evaluate(whole, spec, progress=False)
    run = tmp_path / "run"
    train_and_evaluate(run, spec, progress=False, stop_at=8)
    # A half-written step as an interrupted save leaves it: orbax never lists it.
    shutil.copytree(run / "checkpoints" / "8", run / "checkpoints" / "12.orbax-checkpoint-tmp-1")
    # And the newest complete step damaged on disk afterwards: its array data removed.
    for f in (run / "checkpoints" / "8" / "state").rglob("*"):
        if f.is_file() and "manifest" not in f.name and f.suffix != ".json":
            f.write_bytes(b"")
    out = train_and_evaluate(run, None, progress=False, echo=lambda s: None)
    assert out["step"] == 12
    _assert_same(_params(whole)[1], _params(run)[1])


def test_same_seed_gives_identical_samples(chorale_melodies, tmp_path):
    wd = tmp_path / "run"
    train_and_evaluate(wd, RunSpec("melody_rnn", "tiny", chorale_melodies, (*SMALL, "steps=4")),
                       progress=False)
    for out in ("a", "b"):
        assert main(["sample", "--workdir", str(wd), "--num", "2", "--steps", "48", "--seed", "7",
                     "--out", str(tmp_path / out)]) == 0
    for i in range(2):
        assert ((tmp_path / "a" / f"sample_{i}.mid").read_bytes()
                == (tmp_path / "b" / f"sample_{i}.mid").read_bytes())


def _one_line_error(capsys, argv, expected):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err


def test_foreign_and_old_run_directories(chorale_melodies, tmp_path, capsys):
    a = tmp_path / "a"
    train_and_evaluate(a, RunSpec("melody_rnn", "tiny", chorale_melodies, (*SMALL, "steps=2")),
                       progress=False)
    # A checkpoint of another model shape under a run.json that asks for a different one.
    b = tmp_path / "b"
    shutil.copytree(a / "checkpoints", b / "checkpoints")
    RunSpec("melody_rnn", "tiny", chorale_melodies, (*SMALL, "model.hidden=16")).save(b)
    before = sorted(p.stat().st_mtime_ns for p in (b / "checkpoints").rglob("*"))
    _one_line_error(capsys, ["sample", "--workdir", str(b)], "cannot be restored for this model")
    assert sorted(p.stat().st_mtime_ns for p in (b / "checkpoints").rglob("*")) == before
    # A run directory written by an older format.
    raw = json.loads((a / "run.json").read_text())
    (a / "run.json").write_text(json.dumps({**raw, "format": 0}))
    _one_line_error(capsys, ["eval", "--workdir", str(a)], "run format 0")
    # Another model asked to resume a run directory.
    _one_line_error(capsys, ["train", "performance_rnn", "--workdir", str(b)],
                    "holds a melody_rnn")


def test_unwritable_run_directory(chorale_melodies, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    _one_line_error(capsys, ["train", "melody_rnn", "--preset", "tiny", "--data", chorale_melodies,
                             "--workdir", str(blocker / "run"), "--set", "steps=1"],
                    "cannot")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one_process_with_four_devices(chorale_melodies, tmp_path):
    sets = (*SMALL, "steps=4", "model.dropout=0.2")
    reference = train_and_evaluate(tmp_path / "ref", RunSpec("melody_rnn", "tiny",
                                                             chorale_melodies, sets),
                                   progress=False, devices=jax.devices()[:4])
    port = _free_port()
    procs = []
    for pid in range(2):
        env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
               "JAX_PLATFORMS": "cpu", "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
               "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": str(pid)}
        procs.append(subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "scripts" / "train_one_process.py"),
             chorale_melodies, str(tmp_path / "mp"), str(tmp_path / f"p{pid}.npz"), *sets],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-2000:] for o in outputs)
    assert "process 1 of 2: step 4, 4 devices" in outputs[1]
    leaves, _ = jax.tree.flatten_with_path(jax.device_get(reference["state"].params))
    for pid in range(2):
        got = np.load(tmp_path / f"p{pid}.npz")
        for path, value in leaves:
            np.testing.assert_allclose(got[jax.tree_util.keystr(path)], value, rtol=2e-4,
                                       atol=2e-5)


def test_full_disk_gives_one_line_and_no_corrupt_checkpoint(chorale_melodies, tmp_path):
    wd = tmp_path / "run"
    # A file-size limit makes every large write fail as on a full disk. It is set by a small
    # Python that then execs zoo, not by preexec_fn: forking this multithreaded (JAX) process
    # and running Python in the child can deadlock.
    limited = [sys.executable, "-c",
               "import os, resource, sys; "
               "resource.setrlimit(resource.RLIMIT_FSIZE, (40 * 1024, 40 * 1024)); "
               "os.execv(sys.executable, sys.argv[1:])"]
    result = subprocess.run(limited + _zoo_train(chorale_melodies, wd, *SMALL, "steps=4",
                                                 "checkpoint_every=2"),
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and "is the disk full?" in err[0], result.stderr[-2000:]
    from zoo.training.checkpoint import Checkpoints

    failed = int(re.search(r"saving step (\d+)", err[0]).group(1))
    ckpt = Checkpoints(wd / "checkpoints")
    listed = ckpt.all_steps()
    ckpt.close()
    # The step whose write failed is never listed. An earlier asynchronous save may have
    # finished before the limit bit (it depends on how orbax batched its files): then it is
    # listed, and it reads back.
    assert failed not in listed and all(step < failed for step in listed), (failed, listed)
    if listed:
        assert _params(wd)[0] == max(listed)
