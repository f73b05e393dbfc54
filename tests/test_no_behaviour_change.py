"""Every family's tiny preset, trained a few steps with a fixed seed, ends with the parameters
recorded in ``tests/golden/tiny_params.json`` (written before the layering refactor), to float
tolerance: refactors of the skeleton must not change what a preset trains.

Each parameter leaf is fingerprinted by its shape, its sum, its sum of squares and 8 values at
fixed flat positions. Re-record only for an intended change of behaviour:
``ZOO_RECORD_GOLDEN=1 .venv/bin/python -m pytest tests/test_no_behaviour_change.py``.
"""

import json
import os
from pathlib import Path

import jax
import numpy as np
import pytest
from test_cli import _drum_midi

GOLDEN = Path(__file__).parent / "golden" / "tiny_params.json"
STEPS = ("steps=3", "batch_size=8", "eval_every=1000", "checkpoint_every=1000", "log_every=1")

# (model, preset, data fixture, extra overrides)
SLOW = pytest.mark.slow  # `make test-slow`: the same networks as a faster case above them
CASES = [
    ("melody_rnn", "tiny", "chorale_melodies", ("seq_len=32",)),
    ("performance_rnn", "tiny", "chorale_performances", ("seq_len=32",)),
    pytest.param("polyphony_rnn", "tiny", "chorale_polyphony", ("seq_len=32",), marks=SLOW),
    ("drums_rnn", "tiny", "drum_beats", ("seq_len=32",)),
    pytest.param("music_transformer", "tiny", "chorale_performances", ("seq_len=32",),
                 marks=SLOW),
    ("music_transformer", "melody_tiny", "chorale_melodies", ("seq_len=32",)),
    ("music_vae", "tiny", "chorale_melodies", ()),
    pytest.param("music_vae", "hier_tiny", "chorale_melodies", (), marks=SLOW),
    pytest.param("pianoroll_rnn", "tiny", "chorale_pianoroll", ("seq_len=32",), marks=SLOW),
    ("pianoroll_rnn_nade", "tiny", "chorale_pianoroll", ("seq_len=32",)),
    ("pianoroll_transformer", "tiny", "chorale_pianoroll", ("seq_len=32",)),
    pytest.param("musegan", "tiny", "chorale_multitrack", (), marks=SLOW),
]


@pytest.fixture(scope="module")
def drum_beats(tmp_path_factory):
    from zoo.data.prepare import prepare

    folder = tmp_path_factory.mktemp("drums")
    for i in range(24):
        _drum_midi(folder / f"beat_{i}.mid", i)
    return str(prepare("midi-dir", folder, "drums", out=folder / "prepared", workers=0,
                       echo=lambda s: None))


@pytest.fixture(scope="module")
def chorale_pianoroll(tmp_path_factory):
    from zoo.data.prepare import prepare

    out = tmp_path_factory.mktemp("data") / "chorales-pianoroll"
    return str(prepare("embedded-chorales", None, "pianoroll", out=out, workers=2,
                       echo=lambda s: None))


@pytest.fixture(scope="module")
def chorale_multitrack(tmp_path_factory):
    from zoo.data.prepare import prepare

    out = tmp_path_factory.mktemp("data") / "chorales-multitrack"
    return str(prepare("embedded-chorales", None, "multitrack", out=out, workers=2,
                       echo=lambda s: None))


def fingerprint(params) -> dict:
    leaves = jax.tree_util.tree_leaves_with_path(jax.device_get(params))
    out = {}
    for path, leaf in leaves:
        a = np.asarray(leaf, np.float64).ravel()
        picks = np.linspace(0, a.size - 1, num=min(8, a.size)).astype(int)
        out[jax.tree_util.keystr(path)] = {
            "shape": list(np.shape(leaf)), "sum": float(a.sum()), "sumsq": float((a * a).sum()),
            "values": [float(a[i]) for i in picks]}
    return out


def _train(model, preset, data, extra, workdir):
    from zoo.runs import RunSpec, train_and_evaluate

    spec = RunSpec(model, preset, data, STEPS + extra)
    summary = train_and_evaluate(workdir, spec, progress=False, devices=jax.devices()[:1])
    return fingerprint(summary["state"].params)


@pytest.mark.parametrize("model,preset,fixture,extra", CASES,
                         ids=[f"{c[0]}-{c[1]}" if isinstance(c, tuple)
                              else f"{c.values[0]}-{c.values[1]}" for c in CASES])
def test_tiny_preset_trains_the_recorded_parameters(model, preset, fixture, extra, request,
                                                    tmp_path):
    got = _train(model, preset, request.getfixturevalue(fixture), extra, tmp_path / "run")
    key = f"{model}/{preset}"
    if os.environ.get("ZOO_RECORD_GOLDEN"):
        table = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
        table[key] = got
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(table, indent=1, sort_keys=True))
        return
    want = json.loads(GOLDEN.read_text())[key]
    assert sorted(got) == sorted(want), "parameter names changed"
    for name, w in want.items():
        g = got[name]
        assert g["shape"] == w["shape"], name
        n = float(np.prod(w["shape"]) or 1)
        np.testing.assert_allclose(g["sum"], w["sum"], rtol=1e-4, atol=1e-5 * np.sqrt(n),
                                   err_msg=name)
        np.testing.assert_allclose(g["sumsq"], w["sumsq"], rtol=1e-4, atol=1e-6 * n,
                                   err_msg=name)
        np.testing.assert_allclose(g["values"], w["values"], rtol=1e-4, atol=5e-5, err_msg=name)
