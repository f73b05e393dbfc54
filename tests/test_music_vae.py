"""MusicVAE: shapes, the one-scan bidirectional encoder, free-running decoding that agrees with
teacher forcing (flat and hierarchical), scheduled sampling, the loss terms on known values, the
window rules on literal ids, overfitting a handful of 2-bar melodies, interpolation endpoints, and
the CLI (train, sample, interpolate, eval)."""

import dataclasses
import functools
import json
import math

import jax
import jax.numpy as jnp
import note_seq
import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from zoo.cli import main
from zoo.codecs import get_codec
from zoo.data.prepare import prepare
from zoo.data.prepared import PreparedData
from zoo.families.optim import make_optimizer
from zoo.families.vae import task as vae
from zoo.families.vae.windows import (
    WindowSpec,
    eval_window_batches,
    pad_to_bars,
    piece_window_starts,
    train_batches,
)
from zoo.nets.music_vae import bidirectional_scan, lstm_update
from zoo.registry import build_task, get_preset
from zoo.training.state import create_state
from zoo.training.steps import make_train_step

MELODY = get_codec("melody")
SMALL = dict(z_size=8, encoder_hidden=16, decoder_hidden=16, conductor_hidden=16)


@pytest.fixture(scope="module")
def melodies(tmp_path_factory):
    """40 seeded 8-bar melodies (random walks with mixed note values and some rests) written as
    MIDI and prepared with the melody codec: seconds to make, every split has pieces."""
    root = tmp_path_factory.mktemp("melody_midi")
    rng = np.random.default_rng(0)
    for i in range(40):
        ns = music_pb2.NoteSequence(ticks_per_quarter=220)
        ns.tempos.add(qpm=120)
        step, pitch = 0, int(rng.integers(60, 72))
        while step < 128:  # sixteenths
            length = int(rng.choice([1, 2, 2, 4, 4, 4, 8]))
            if rng.random() > 0.1:
                pitch = int(np.clip(pitch + rng.choice([-4, -2, -1, 0, 1, 2, 3]), 52, 80))
                ns.notes.add(pitch=pitch, start_time=step / 8, end_time=(step + length) / 8,
                             velocity=80)
            step += length
        ns.total_time = step / 8
        note_seq.sequence_proto_to_midi_file(ns, str(root / f"melody_{i:02d}.mid"))
    out = prepare("midi-dir", root, "melody", out=root.parent / "prepared", workers=0,
                  echo=lambda _: None)
    assert all(len(PreparedData(out).split(s)) for s in ("train", "valid"))
    return str(out)


TASK_KEYS = {f.name for f in dataclasses.fields(vae.Config)}


def _task(preset="tiny", codec=MELODY, train=None, **changes):
    """The preset's task with ``changes`` to the network's or the objective's config."""
    p = get_preset("music_vae", preset)
    net = {k: v for k, v in changes.items() if k not in TASK_KEYS}
    objective = {k: v for k, v in changes.items() if k in TASK_KEYS}
    p = dataclasses.replace(p, model=dataclasses.replace(p.model, **net),
                            task=dataclasses.replace(p.task or vae.Config(), **objective),
                            train=train or p.train)
    return build_task("music_vae", p, codec)


def _random_params(task, scale=0.5):
    """Weights ~ N(0, scale^2): larger than at init, so that z and the bars visibly matter."""
    leaves, tree = jax.tree.flatten(jax.eval_shape(task.init, jax.random.key(0)))
    keys = jax.random.split(jax.random.key(0), len(leaves))
    return jax.tree.unflatten(tree, [scale * jax.random.normal(k, x.shape)
                                     for k, x in zip(keys, leaves)])


def test_bidirectional_scan_equals_two_separate_directions():
    rng = np.random.default_rng(0)
    B, T, H = 2, 5, 3
    xw = jnp.asarray(rng.normal(size=(2, B, T, 4 * H)), jnp.float32)
    w_hh = jnp.asarray(rng.normal(size=(2, H, 4 * H)) * 0.5, jnp.float32)
    y, h_last = bidirectional_scan(xw, w_hh, jnp.float32)

    def one_direction(x_BxTx4H, w, times):
        c = h = jnp.zeros((B, H))
        out = {}
        for t in times:
            c, h = lstm_update(x_BxTx4H[:, t] + h @ w, c)
            out[t] = h
        return jnp.stack([out[t] for t in range(T)], axis=1), h

    fw, fw_last = one_direction(xw[0], w_hh[0], range(T))
    bw, bw_last = one_direction(xw[1], w_hh[1], reversed(range(T)))
    np.testing.assert_allclose(y, jnp.concatenate([fw, bw], -1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_last[0], fw_last, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_last[1], bw_last, rtol=1e-5, atol=1e-6)  # after step 1


@pytest.mark.parametrize("preset", ["tiny", "hier_tiny"])
def test_shapes_and_free_running_decoding_agrees_with_teacher_forcing(preset):
    """Greedy free-running ids fed back under teacher forcing give the same argmax at every step:
    the hierarchical decoder restarts each bar from its embedding, its first input the previous
    bar's last token, in both paths."""
    deeper = dict(encoder_layers=2) if preset == "hier_tiny" else {}
    task = _task(preset, **SMALL, **deeper)
    params = _random_params(task)
    T, V = task.window_steps, MELODY.vocab_size
    assert T == (32 if preset == "tiny" else 256)
    ids = jnp.asarray(np.random.default_rng(0).integers(2, V, (3, T)), jnp.int32)

    @jax.jit
    def run(params, ids, z):
        apply = functools.partial(task.model.apply, {"params": params})
        mu, sigma = apply(ids, method="encode")
        greedy = apply(z, 0.0, method="decode", rngs={"sampling": jax.random.key(3)})
        return mu, sigma, greedy, apply(z, greedy, method="reconstruct")

    mu, sigma, greedy, refed = run(params, ids, jax.random.normal(jax.random.key(2), (3, 8)))
    assert refed.shape == (3, T, V) and greedy.shape == (3, T) and greedy.dtype == jnp.int32
    assert mu.shape == sigma.shape == (3, 8) and bool(jnp.all(sigma > 0))
    greedy = np.asarray(greedy)
    assert greedy.min() >= 2 and greedy.max() < V  # never PAD or END inside a window
    assert len(np.unique(greedy)) > 3
    np.testing.assert_array_equal(np.argmax(np.asarray(refed)[..., 2:], -1) + 2, greedy)


def test_scheduled_sampling_feeds_the_models_own_samples():
    """With sampling probability 1 the flat decoder never sees the true tokens (only the start
    symbol), so the logits do not depend on them; with 0 (teacher forcing) they do."""
    task = _task("tiny", **SMALL)
    params = _random_params(task)
    z = jax.random.normal(jax.random.key(2), (2, 8))
    a, b = (jnp.asarray(np.random.default_rng(i).integers(2, 40, (2, 32)), jnp.int32)
            for i in range(2))

    @jax.jit
    def logits(ids, p):
        return task.model.apply({"params": params}, z, ids, p, method="reconstruct",
                                rngs={"sampling": jax.random.key(5)})

    np.testing.assert_allclose(logits(a, 1.0), logits(b, 1.0), rtol=1e-5, atol=1e-5)
    assert not np.allclose(logits(a, 0.0)[:, 1:], logits(b, 0.0)[:, 1:], atol=1e-3)


def test_kl_free_bits_beta_and_sampling_schedule_match_their_formulas():
    mu = jnp.array([[0.0, 0.0], [1.0, -2.0]])
    sigma = jnp.array([[1.0, 1.0], [0.5, 2.0]])
    # 0.5 * [(1 + 0.25 - 1 - 2 ln 0.5) + (4 + 4 - 1 - 2 ln 2)] = 0.5 * 7.25
    np.testing.assert_allclose(vae.kl_divergence(mu, sigma), [0.0, 3.625], atol=1e-6)
    np.testing.assert_allclose(vae.kl_cost(jnp.array([3.625, 3.625, 0.1]), 1.0),
                               [3.625 - math.log(2), 3.625 - math.log(2), 0.0], rtol=1e-6)
    assert float(vae.kl_cost(jnp.array(3.625), 256.0)) == 0.0  # under the free bits: free
    np.testing.assert_allclose(vae.beta_at(0, 0.2, 0.99), 0.0)
    np.testing.assert_allclose(vae.beta_at(1, 0.2, 0.99), 0.002, rtol=1e-5)
    np.testing.assert_allclose(vae.beta_at(100, 0.5, 0.99), 0.5 * (1 - 0.99 ** 100), rtol=1e-5)
    np.testing.assert_allclose(vae.beta_at(5, 0.2, 0.0), 0.2)  # beta_rate 0: constant
    np.testing.assert_allclose(vae.sampling_probability(0, "inverse_sigmoid", 1000.0),
                               1 - 1000 / 1001, atol=1e-7)
    np.testing.assert_allclose(vae.sampling_probability(5000, "inverse_sigmoid", 1000.0),
                               1 - 1000 / (1000 + math.exp(5)), rtol=1e-5)
    # slerp: ends exact; between orthogonal unit vectors, on the unit circle at angle t * 90 deg
    z = vae.slerp(jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]), jnp.array([0.0, 1 / 3, 1.0]))
    c, s = math.cos(math.pi / 6), math.sin(math.pi / 6)
    np.testing.assert_allclose(z, [[1.0, 0.0], [c, s], [0.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(vae.slerp(jnp.ones(2), 2 * jnp.ones(2), jnp.array([0.5])),
                               [[1.5, 1.5]], atol=1e-5)  # parallel: linear


def test_loss_is_reconstruction_plus_beta_times_kl_above_free_bits():
    task = _task("tiny", free_bits=3.0, max_beta=0.4, beta_rate=0.9, **SMALL)
    params = _random_params(task)
    ids = jnp.asarray(np.random.default_rng(1).integers(2, 40, (4, 32)), jnp.int32)
    batch = {"inputs": ids, "mask": jnp.array([1.0, 1.0, 1.0, 0.0])}
    rng = jax.random.key(7)
    latent, sampling = jax.random.split(rng)

    @jax.jit
    def both(params):
        return (task.loss(params, batch, rng, train=True, step=jnp.int32(3)),
                task.model.apply({"params": params}, ids,
                                 rngs={"latent": latent, "sampling": sampling}))

    (loss, sums), (logits, mu, sigma) = both(params)
    recon = -np.take_along_axis(np.asarray(jax.nn.log_softmax(logits)), np.asarray(ids)[..., None],
                                -1)[..., 0].sum(-1)
    m, s = np.asarray(mu, np.float64), np.asarray(sigma, np.float64)
    kl = 0.5 * np.sum(m ** 2 + s ** 2 - 1 - np.log(s ** 2), -1)
    assert kl[:3].min() > 3 * math.log(2) and sums["windows"] == 3
    beta = (1 - 0.9 ** 3) * 0.4
    expected = recon[:3] + beta * np.maximum(kl[:3] - 3 * math.log(2), 0)
    np.testing.assert_allclose(loss, expected.mean(), rtol=1e-4)
    np.testing.assert_allclose(sums["kl_sum"], kl[:3].sum(), rtol=1e-4)


# ---------------------------------------------------------------- windows

NOTE, HOLD, OFF = 4 + 12, 2, 3          # NOTE_ON(60), NO_EVENT, NOTE_OFF
A = [NOTE] + [HOLD] * 15                 # a bar of one held note
R = [OFF] + [HOLD] * 15                  # a bar of rest


def test_window_rules_on_literal_melody_ids():
    spec = WindowSpec(steps=32)
    # bars A R A R A A: windows AR, RA, AR (duplicate), RA (duplicate), AA
    piece = np.array(A + R + A + R + A + A)
    np.testing.assert_array_equal(piece_window_starts(piece, MELODY, spec, 16), [0, 16, 64])
    # half rest is kept; more than half is dropped
    np.testing.assert_array_equal(piece_window_starts(np.array(A + R + R), MELODY, spec, 16), [0])
    # a window read alone: starting inside a held note, the holds are rest (8 + 16 silent of 32)
    np.testing.assert_array_equal(piece_window_starts(np.array(A + R + A), MELODY, spec, 8),
                                  [0, 16])
    # padding to whole bars ends the last note where the piece ends
    np.testing.assert_array_equal(pad_to_bars(np.array([NOTE, HOLD, HOLD]), MELODY),
                                  [NOTE, HOLD, HOLD, OFF] + [HOLD] * 12)


def test_window_rules_on_literal_drum_ids():
    drums = get_codec("drums")
    kick, empty = 2 + 1, 2
    spec = WindowSpec(steps=32)
    once = np.array([kick] + [empty] * 31)                      # 4 of 32 steps sound
    quarters = np.array(([kick] + [empty] * 3) * 8)             # every step sounds
    assert len(piece_window_starts(once, drums, spec, 16)) == 0
    np.testing.assert_array_equal(piece_window_starts(quarters, drums, spec, 16), [0])


def test_window_batches_are_pure_functions_of_seed_and_index(melodies):
    data = PreparedData(melodies)
    train, spec = data.split("train"), WindowSpec(32)
    a = train_batches(train, MELODY, spec, 8, seed=0, transpose=(-2, 2))
    b = train_batches(train, MELODY, spec, 8, seed=0, transpose=(-2, 2))
    np.testing.assert_array_equal(a.batch(7)["inputs"], b.batch(7)["inputs"])
    assert not np.array_equal(a.batch(7)["inputs"], a.batch(8)["inputs"])
    halves = [train_batches(train, MELODY, spec, 8, 0, (-2, 2), i, 2).batch(7)["inputs"]
              for i in range(2)]
    np.testing.assert_array_equal(np.concatenate(halves), a.batch(7)["inputs"])
    evals = eval_window_batches(data.split("valid"), MELODY, spec, 8)
    assert all(e["inputs"].shape == (8, 32) for e in evals) and evals[-1]["mask"].sum() >= 1
    silent = np.array([1.0 - vae_sounding(row) for e in evals for row, m in
                       zip(e["inputs"], e["mask"]) if m])
    assert silent.max() <= 0.5


def vae_sounding(row):
    from zoo.families.vae.windows import sounding_steps

    return sounding_steps(row[None], MELODY)[0].mean()


# ---------------------------------------------------------------- overfitting and interpolation

def _windows(data_dir, n):
    """The first 2-bar window of each of the first ``n`` pieces of the train split."""
    train = PreparedData(data_dir).split("train")
    rows = []
    for i in range(len(train)):
        starts = piece_window_starts(train[i], MELODY, WindowSpec(32), 16)
        if len(starts):
            rows.append(pad_to_bars(train[i], MELODY)[starts[0]:starts[0] + 32])
        if len(rows) == n:
            return np.stack(rows)
    raise AssertionError("not enough windows")


def test_tiny_vae_overfits_and_interpolation_ends_decode_back(melodies):
    windows = _windows(melodies, 8)
    preset = get_preset("music_vae", "tiny")
    cfg = dataclasses.replace(preset.train, batch_size=8, learning_rate=1e-2, decay="constant")
    task = _task("tiny", train=cfg)
    tx, schedule = make_optimizer(cfg)
    state = create_state(task.init, tx, jax.random.key(0))
    step = jax.jit(make_train_step(task, tx, schedule))
    batch = {"inputs": jnp.asarray(windows), "mask": jnp.ones(8)}
    accuracy = []  # teacher forced with z ~ q(z|x), measured by each step before its update
    # Stop at 0.99 teacher forced over 10 steps, and decode greedily: at 0.98 the free-running
    # decoding still flipped between 0.6 and 1.0 of one window from one step to the next, and
    # at temperature 0.5 even later (it failed on an AMD EPYC, having passed on an Intel Xeon).
    for _ in range(600):
        state, metrics = step(state, batch, jax.random.key(1))
        accuracy.append(vae.summarize(jax.device_get(metrics))["accuracy"])
        if min(accuracy[-10:]) >= 0.99:
            break
    assert min(accuracy[-10:]) >= 0.95, accuracy[-10:]
    ends = vae.interpolate(task, state.params, windows[0], windows[1], 5, jax.random.key(2),
                           temperature=0.0)
    assert ends.shape == (5, 32)
    assert np.mean(ends[0] == windows[0]) >= 0.9, (ends[0], windows[0])
    assert np.mean(ends[-1] == windows[1]) >= 0.9, (ends[-1], windows[1])


# ---------------------------------------------------------------- the command line

FAST = ["--set", "steps=6", "--set", "batch_size=8", "--set", "eval_max_pieces=4",
        "--set", "model.z_size=8", "--set", "model.encoder_hidden=16",
        "--set", "model.decoder_hidden=16", "--no-progress"]


def test_cli_train_sample_interpolate_eval(melodies, tmp_path, capsys):
    wd = tmp_path / "vae"
    assert main(["train", "music_vae", "--preset", "tiny", "--data", melodies,
                 "--workdir", str(wd), *FAST]) == 0
    assert main(["sample", "--workdir", str(wd), "--num", "2", "--temperature", "0.5"]) == 0
    for i in range(2):
        ns = note_seq.midi_file_to_note_sequence(str(wd / "samples" / f"sample_{i}.mid"))
        assert ns.total_time <= 4.0 + 1e-6  # 2 bars at 120 qpm
    windows = _windows(melodies, 2)
    paths = []
    for i, w in enumerate(windows):
        paths.append(str(tmp_path / f"{'ab'[i]}.mid"))
        note_seq.sequence_proto_to_midi_file(MELODY.decode(w), paths[-1])
    for bad in (["interpolate", *paths, "--workdir", str(wd), "--steps", "1"],
                ["sample", "--workdir", str(wd), "--primer-pitches", "60,62,64"]):
        capsys.readouterr()
        assert main(bad) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    out = tmp_path / "between.mid"
    assert main(["interpolate", *paths, "--workdir", str(wd), "--steps", "8",
                 "--out", str(out)]) == 0
    ns = note_seq.midi_file_to_note_sequence(str(out))
    assert len(ns.notes) > 0 and 4.0 * 7 < ns.total_time <= 4.0 * 8 + 1e-6  # 8 windows in order
    assert main(["eval", "--workdir", str(wd), "--splits", "valid"]) == 0
    valid = json.loads((wd / "eval.json").read_text())["splits"]["valid"]
    for key in ("accuracy", "sampled_accuracy", "greedy_accuracy"):
        assert 0.0 <= valid[key] <= 1.0
    assert valid["kl"] >= 0 and valid["elbo"] < 0 and valid["windows"] > 0
