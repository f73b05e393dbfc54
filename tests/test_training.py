"""The engine on real music (the embedded chorales' top lines): loss goes down, a resumed run
equals an uninterrupted one, 8 devices equal 1, the step compiles once, non-finite losses stop."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo.errors import ZooError
from zoo.runs import RunSpec, train_and_evaluate

SMALL = ("model.hidden=32", "batch_size=8", "seq_len=32", "eval_every=1000", "log_every=2",
         "eval_max_pieces=8", "learning_rate=0.01")


def _spec(data, *extra):
    return RunSpec("melody_rnn", "tiny", data, SMALL + tuple(extra))


def _params(summary):
    return jax.device_get(summary["state"].params)


def test_loss_goes_down_on_real_music(chorale_melodies, tmp_path):
    s = train_and_evaluate(tmp_path / "run", _spec(chorale_melodies, "steps=60", "eval_every=60"),
                           progress=False)
    lines = [l for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    import json
    train = [json.loads(l) for l in lines if '"train"' in l]
    first, last = train[0]["nll"], np.mean([r["nll"] for r in train[-5:]])
    assert last < first - 0.5, (first, last)
    assert s["valid"]["nll"] < np.log(40) - 0.5  # clearly better than uniform over 40 ids
    assert s["train_step_compiles"] == 1


def test_resumed_run_equals_uninterrupted(chorale_melodies, tmp_path):
    spec = _spec(chorale_melodies, "steps=8", "checkpoint_every=4", "model.dropout=0.3",
                 "transpose=(-2,2)")
    whole = train_and_evaluate(tmp_path / "whole", spec, progress=False)
    part = train_and_evaluate(tmp_path / "part", spec, progress=False, stop_at=4)
    assert part["step"] == 4
    resumed = train_and_evaluate(tmp_path / "part", None, progress=False)
    assert resumed["step"] == 8
    jax.tree.map(np.testing.assert_array_equal, _params(whole), _params(resumed))


def test_eight_devices_equal_one(chorale_melodies, tmp_path):
    assert jax.device_count() == 8, "conftest sets 8 simulated CPU devices"
    spec = _spec(chorale_melodies, "steps=5", "model.dropout=0.2")
    eight = train_and_evaluate(tmp_path / "eight", spec, progress=False)
    one = train_and_evaluate(tmp_path / "one", spec, progress=False, devices=jax.devices()[:1])
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5),
                 _params(eight), _params(one))
    assert eight["train_step_compiles"] == 1 and one["train_step_compiles"] == 1


def test_same_seed_same_parameters(chorale_melodies, tmp_path):
    spec = _spec(chorale_melodies, "steps=3")
    a = train_and_evaluate(tmp_path / "a", spec, progress=False)
    b = train_and_evaluate(tmp_path / "b", spec, progress=False)
    jax.tree.map(np.testing.assert_array_equal, _params(a), _params(b))
    c = train_and_evaluate(tmp_path / "c", dataclasses.replace(
        spec, overrides=spec.overrides + ("seed=1",)), progress=False)
    assert not np.allclose(_params(a)["logits"]["kernel"], _params(c)["logits"]["kernel"])


@pytest.fixture
def nan_loss_after_step_2(monkeypatch):
    """Make the loss NaN from the third update on."""
    from zoo.training import steps

    def poisoned(task, tx, schedule):
        def loss(p, b, r, *, step, train):
            value, sums = task.loss(p, b, r, step=step, train=train)
            return jnp.where(step >= 2, jnp.nan, value), sums

        return steps.guarded_step(steps.gradient_update(loss, tx, schedule))

    monkeypatch.setattr("zoo.training.loop.make_train_step", poisoned)


def test_nonfinite_loss_stops_without_saving(chorale_melodies, tmp_path, nan_loss_after_step_2):
    spec = _spec(chorale_melodies, "steps=6", "checkpoint_every=1")
    with pytest.raises(ZooError, match="non-finite loss at step 3"):
        train_and_evaluate(tmp_path / "run", spec, progress=False)
    from zoo.training.checkpoint import Checkpoints

    ckpt = Checkpoints(tmp_path / "run" / "checkpoints")
    assert ckpt.latest_step() == 2  # step 3's state was never saved
    ckpt.close()


def test_nonfinite_loss_skip_keeps_parameters(chorale_melodies, tmp_path, nan_loss_after_step_2):
    two = train_and_evaluate(tmp_path / "two", _spec(chorale_melodies, "steps=2"), progress=False)
    six = train_and_evaluate(tmp_path / "six", _spec(chorale_melodies, "steps=6",
                                                     "nonfinite=skip"), progress=False)
    assert six["step"] == 6 and six["skipped_nonfinite"] == 4
    jax.tree.map(np.testing.assert_array_equal, _params(two), _params(six))


def test_batch_must_divide_over_devices(chorale_melodies, tmp_path):
    with pytest.raises(ZooError, match="does not divide over 8 devices"):
        train_and_evaluate(tmp_path / "r", _spec(chorale_melodies, "batch_size=12"),
                           progress=False)


def test_early_stopping_on_valid_nll(chorale_melodies, tmp_path):
    spec = _spec(chorale_melodies, "steps=20", "eval_every=2", "early_stopping_patience=1",
                 "learning_rate=0")
    out = train_and_evaluate(tmp_path / "run", spec, progress=False, echo=lambda s: None)
    assert out["step"] == 4  # best at the first evaluation, no better one at the second


def test_early_stopping_must_keep_its_best_checkpoint(chorale_melodies, tmp_path):
    spec = _spec(chorale_melodies, "eval_every=2", "checkpoint_every=2", "keep_checkpoints=3",
                 "early_stopping_patience=3")
    with pytest.raises(ZooError, match="--set keep_checkpoints=4"):
        train_and_evaluate(tmp_path / "run", spec, progress=False, echo=lambda s: None)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_bfloat16_compute_trains(chorale_melodies, tmp_path):
    out = train_and_evaluate(tmp_path / "run", _spec(chorale_melodies, "steps=4",
                                                     "compute_dtype=bfloat16"), progress=False)
    params = _params(out)
    assert all(x.dtype == np.float32 for x in jax.tree.leaves(params))
    assert np.isfinite(out["valid"]["nll"])
