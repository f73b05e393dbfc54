"""MuseGAN: the multitrack codec, phrase batches, network shapes, the gradient penalty against its
definition, and one short run on real chorales through the CLI (the step compiles once, the
checkpoint holds the whole GAN, MuseGAN's metrics move toward the data's, sample and eval)."""

import json

import jax
import jax.numpy as jnp
import note_seq
import numpy as np
import optax
import pytest
from note_seq.protobuf import music_pb2

from zoo.cli import main
from zoo.codecs import get_codec
from zoo.errors import SkipPiece, ZooError
from zoo.families.gan.config import Config as GANConfig
from zoo.families.gan.task import to_frames
from zoo.nets.musegan import Config, MuseGAN, sample_latents
from zoo.registry.musegan import PRESETS

QUARTER = 0.5  # seconds at 120 qpm
codec = get_codec("multitrack")  # 4 tracks x 84 keys (24..107), 16 steps per 4/4 bar


def sequence(notes, meter=(4, 4), by="part"):
    """notes: (pitch, start_quarter, end_quarter, voice[, is_drum]) at 120 qpm."""
    ns = music_pb2.NoteSequence()
    ns.tempos.add(qpm=120)
    ns.time_signatures.add(numerator=meter[0], denominator=meter[1], time=0.0)
    for pitch, start, end, voice, *drum in notes:
        note = ns.notes.add(pitch=pitch, start_time=start * QUARTER, end_time=end * QUARTER,
                            velocity=80, is_drum=bool(drum and drum[0]))
        setattr(note, by, voice)
    ns.total_time = max(n.end_time for n in ns.notes)
    return ns


def satb(bars=2):
    """Four parts, each holding one pitch per bar (S 72, A 67, T 64, B 48)."""
    return sequence([(p, 4 * b, 4 * b + 4, v) for b in range(bars)
                     for v, p in enumerate((72, 67, 64, 48))])


def test_codec_keeps_one_roll_per_part_side_by_side():
    frames = codec.encode(satb())
    assert frames.dtype == np.uint8 and frames.shape == (32, 4 * 84) and codec.vocab_size == 336
    assert [np.flatnonzero(f).tolist() for f in frames[[0, 31]]] == [
        [72 - 24, 84 + 67 - 24, 168 + 64 - 24, 252 + 48 - 24]] * 2


def test_codec_fills_missing_voices_with_silence_and_skips_extra_ones():
    folk = codec.encode(sequence([(60, 0, 1, 0), (62, 1, 8, 0)], by="instrument"))
    assert folk.shape == (32, 336) and not folk[:, 84:].any()
    assert np.flatnonzero(folk[:, :84].any(0)).tolist() == [60 - 24, 62 - 24]
    with pytest.raises(SkipPiece, match="5 voices for 4 pitched tracks"):
        codec.encode(sequence([(60 + v, 0, 4, v) for v in range(5)]))
    with pytest.raises(SkipPiece, match="meter 3/4"):
        codec.encode(sequence([(60, 0, 6, 0)], meter=(3, 4)))
    assert codec.encode(sequence([(60, 0, 4, 0)], meter=(2, 2))).shape == (16, 336)


def test_codec_decode_makes_one_instrument_per_track_and_round_trips():
    frames = codec.encode(satb(3))
    ns = codec.decode(frames)
    assert sorted({(n.instrument, n.pitch) for n in ns.notes}) == [
        (0, 72), (1, 67), (2, 64), (3, 48)]
    assert all(n.end_time - n.start_time == 12 * QUARTER for n in ns.notes)  # held: one note
    assert np.array_equal(codec.encode(ns), frames)
    rng = np.random.default_rng(0)
    noise = (rng.random((48, 336)) < 0.05).astype(np.uint8)
    noise[::16, 0] = 1  # no silent bar
    noise[:, 84:168] = 0  # an empty alto stays the alto's
    assert np.array_equal(codec.encode(codec.decode(noise)), noise)


def test_codec_transposes_pitched_tracks_only():
    frames = codec.encode(satb())
    up = codec.transpose(frames, 2)
    assert np.array_equal(up, codec.encode(sequence([(p + 2, 4 * b, 4 * b + 4, v)
                                                     for b in range(2)
                                                     for v, p in enumerate((72, 67, 64, 48))])))
    assert codec.transpose(frames, 40) is None  # soprano 72 + 40 > 107
    drums = get_codec("multitrack", drum_track=True)
    ns = sequence([(36, 0, 1, 9, True), (60, 0, 4, 0)], by="instrument")
    frames = drums.encode(ns)
    assert np.flatnonzero(frames[0]).tolist() == [36 - 24, 84 + 60 - 24]
    assert np.flatnonzero(drums.transpose(frames, 3)[0]).tolist() == [36 - 24, 84 + 63 - 24]
    assert [(n.pitch, n.is_drum) for n in drums.decode(frames).notes] == [(36, True), (60, False)]


@pytest.mark.parametrize("config", [
    Config(),
    Config(tracks=5, steps_per_bar=48),  # the paper's shape
    Config(variant="dense", dense_hidden=32),
])
def test_network_shapes(config):
    model = MuseGAN(config)
    z = sample_latents(config, jax.random.key(0), jnp.arange(3))
    assert z["private"].shape == (3, config.tracks, config.latent_dim)
    x = jnp.zeros((3, config.tracks, 4, config.steps_per_bar, 84))
    params = jax.eval_shape(model.init, jax.random.key(1), z, x)["params"]
    assert set(params) == {"generator", "critic"}
    logits = jax.eval_shape(lambda p: model.apply({"params": p}, z, method="generate"), params)
    scores = jax.eval_shape(lambda p: model.apply({"params": p}, x, method="score"), params)
    assert logits.shape == x.shape and scores.shape == (3,)


def test_gradient_penalty_equals_its_definition():
    from zoo.families.gan.task import gradient_penalty

    real = jax.random.bernoulli(jax.random.key(0), 0.3, (3, 2, 5)).astype(jnp.float32)
    fake = jax.random.uniform(jax.random.key(1), (3, 2, 5))
    eps = jnp.array([0.0, 0.25, 0.9])
    # a linear critic w.x has gradient w everywhere: GP = (||w|| - 1)^2
    w = jax.random.normal(jax.random.key(2), (2, 5))
    linear = lambda x: jnp.sum(x * w, axis=(1, 2))
    np.testing.assert_allclose(gradient_penalty(linear, real, fake, eps),
                               (np.linalg.norm(np.asarray(w)) - 1) ** 2, rtol=1e-5)
    # a nonlinear critic: one gradient per phrase, taken phrase by phrase at its mixed point
    v = jax.random.normal(jax.random.key(3), (10, 4))
    critic = lambda x: jnp.sum(jnp.tanh(x.reshape(len(x), -1) @ v) ** 2, axis=-1)
    direct = []
    for i in range(3):
        mixed = eps[i] * real[i] + (1 - eps[i]) * fake[i]
        g = jax.grad(lambda y: critic(y[None])[0])(mixed)
        direct.append((np.linalg.norm(np.asarray(g)) - 1) ** 2)
    np.testing.assert_allclose(gradient_penalty(critic, real, fake, eps), np.mean(direct),
                               rtol=1e-5)


# ---- on real chorales

@pytest.fixture(scope="module")
def chorales(tmp_path_factory):
    """80 of the embedded chorales prepared with `zoo prepare embedded-chorales --codec multitrack`."""
    from zoo.data.sources import music21_corpus

    folder = tmp_path_factory.mktemp("bach")
    for path in sorted((music21_corpus() / "bach").glob("*.mxl"))[:80]:
        (folder / path.name).symlink_to(path)
    out = tmp_path_factory.mktemp("prepared") / "multitrack"
    assert main(["prepare", "embedded-chorales", str(folder), "--codec", "multitrack",
                 "--out", str(out), "--workers", "2"]) == 0
    return str(out)


def test_phrase_batches_are_a_function_of_seed_and_index(chorales):
    from zoo.data.prepared import PreparedData
    from zoo.families.gan.phrases import eval_phrase_batches, train_batches

    split = PreparedData(chorales).split("train")
    whole = train_batches(split, codec, 8, bars=4, seed=3, draws=2).batch(5)
    assert whole["inputs"].shape == (8, 2, 4, 4, 16, 84) and whole["row"].tolist() == list(range(8))
    again = train_batches(split, codec, 8, bars=4, seed=3, draws=2).batch(5)
    assert np.array_equal(whole["inputs"], again["inputs"])
    halves = [train_batches(split, codec, 8, 4, 3, 2, process_index=p, process_count=2).batch(5)
              for p in range(2)]
    assert np.array_equal(np.concatenate([h["inputs"] for h in halves]), whole["inputs"])
    assert not np.array_equal(train_batches(split, codec, 8, 4, 4, 2).batch(5)["inputs"],
                              whole["inputs"])
    # every phrase is 4 whole bars of some piece: its frames occur in the data from a bar line
    frames = whole["inputs"][0, 0].transpose(1, 2, 0, 3).reshape(64, 336)
    assert any(np.array_equal(split[i][s:s + 64], frames) for i in range(len(split))
               for s in range(0, len(split[i]) - 63, 16))
    batches = eval_phrase_batches(PreparedData(chorales).split("valid"), codec, 4, 16)
    mask = np.concatenate([b["mask"] for b in batches])
    assert mask.sum() > 0 and set(mask[int(mask.sum()):]) <= {0.0}


STEPS = 30
# logit_offset 0 (MuseGAN's output layer): the generator starts from random weights that sound
# about half the keys; the presets' -4 starts it from sparse rolls, already near the data's
# pitch-class counts by chance, which a 30-step run cannot be expected to improve on
RUN = ["--set", f"steps={STEPS}", "--set", f"eval_every={STEPS}", "--set", "log_every=10",
       "--set", "batch_size=8", "--set", "learning_rate=0.002", "--set", "model.logit_offset=0",
       "--set", "task.report_phrases=128", "--set", "task.inversion_steps=40", "--no-progress"]


@pytest.fixture(scope="module")
def run(chorales, tmp_path_factory):
    """`zoo train musegan --preset tiny` on the chorales, recording the summary the CLI gets and
    the state the run starts from."""
    from zoo import runs
    from zoo.training import loop

    seen = {}
    real_train, real_initial = runs.train_and_evaluate, loop.Trainer.initial_state

    def train(*args, **kwargs):
        seen["summary"] = real_train(*args, **kwargs)
        return seen["summary"]

    def initial_state(self):
        state = real_initial(self)
        seen["initial"] = jax.device_get(state)  # the step donates the state's buffers
        return state

    workdir = tmp_path_factory.mktemp("runs") / "musegan"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runs, "train_and_evaluate", train)
        mp.setattr(loop.Trainer, "initial_state", initial_state)
        assert main(["train", "musegan", "--preset", "tiny", "--data", chorales,
                     "--workdir", str(workdir), *RUN]) == 0
    return workdir, seen


def test_gan_step_compiles_once_and_checkpoints_both_networks(run):
    from zoo.runs import load_trained

    workdir, seen = run
    summary = seen["summary"]
    assert summary["step"] == STEPS and summary["train_step_compiles"] == 1
    assert summary["skipped_nonfinite"] == 0
    assert {"critic_loss", "generator_loss", "gradient_penalty"} <= set(summary["train"])
    trained = load_trained(workdir)
    state, step = trained.state, trained.step
    assert step == STEPS
    assert set(state.params) == set(state.opt_state) == {"generator", "critic"}
    for net in ("generator", "critic"):  # both networks and both Adam states moved
        moved = jax.tree.map(lambda a, b: not np.allclose(a, b), jax.device_get(state.params[net]),
                             seen["initial"].params[net])
        assert any(jax.tree.leaves(moved)), net
        counts = [x for x in jax.tree.leaves(state.opt_state[net]) if np.ndim(x) == 0]
        assert counts and int(counts[0]) == (STEPS * 5 if net == "critic" else STEPS)


def test_metric_distances_to_the_data_shrink_from_initialization(run):
    from zoo.families.gan.task import metric_distances
    from zoo.runs import RunSpec, build_run

    workdir, seen = run
    built = build_run(RunSpec.load(workdir))
    task = built.task
    data = task.musegan_metrics(task.data_phrases(built.data.split("train"), 256))
    distance = {}
    for name, params in (("init", seen["initial"].params),
                         ("trained", seen["summary"]["state"].params)):
        samples = task.sample_phrases(params, 128, jax.random.key(0))
        distance[name] = metric_distances(task.musegan_metrics(samples), data)
    # random weights sound about half the keys of every track: ~9 pitch classes a bar and chords
    # everywhere, where each chorale voice sings one note at a time in 3-4 pitch classes a bar
    for metric in ("used_pitch_classes", "tonal_distance"):
        assert distance["trained"][metric] < 0.8 * distance["init"][metric], (metric, distance)
    assert distance["trained"]["polyphonicity"] <= distance["init"]["polyphonicity"], distance
    assert sum(distance["trained"].values()) < 0.7 * sum(distance["init"].values()), distance


def test_cli_samples_midi_and_pngs_and_prints_the_metric_table(run, capsys):
    workdir, _ = run
    capsys.readouterr()
    assert main(["sample", "--workdir", str(workdir), "--num", "2"]) == 0
    for i in range(2):
        ns = note_seq.midi_file_to_note_sequence(str(workdir / "samples" / f"sample_{i}.mid"))
        assert len({n.instrument for n in ns.notes}) > 1  # one instrument (colour) per track
        assert ns.total_time <= 4 * 4 * QUARTER + 1e-6  # one 4-bar phrase
        assert (workdir / "samples" / f"sample_{i}.png").stat().st_size > 1000
    assert main(["eval", "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    for label in ("EB  empty bars", "UPC pitch classes/bar", "QN  qualified notes",
                  "PP  polyphonicity", "TD  tonal distance", "samples", "train", "valid"):
        assert label in out, label
    report = json.loads((workdir / "eval.json").read_text())
    assert set(report["distance_to_train"]) >= {"used_pitch_classes", "tonal_distance"}
    assert len(report["metrics"]["samples"]["empty_bar_rate"]) == 4


@pytest.mark.slow  # `make test-slow`; the API test interpolates the same run in make test
def test_interpolate_between_two_chorale_phrases(run):
    from zoo.runs import RunSpec, build_run

    workdir, seen = run
    built = build_run(RunSpec.load(workdir))
    task, params = built.task, seen["summary"]["state"].params
    # inverting the generator's own output from another start closes most of the loss gap to the
    # latents that made it
    made = sample_latents(task.net, jax.random.key(5), jnp.arange(2))
    logits = task.model.apply({"params": params}, made, method="generate")
    target = jax.nn.sigmoid(logits)
    best = float(jnp.mean(optax.sigmoid_binary_cross_entropy(logits, target)))
    _, losses = task.invert(params, target, jax.random.key(1))
    assert losses.shape == (40,) and losses[-1] - best < 0.5 * (losses[0] - best), (losses, best)
    # between the first phrases of two training pieces (what `zoo interpolate a.mid b.mid` runs)
    pieces = [built.codec.decode(to_frames(p)) for p in task.data_phrases(built.data.split("train"), 2)]
    ns = task.interpolate(params, *pieces, 3, jax.random.key(2))
    assert ns.notes and ns.total_time <= 3 * 8.0 + 1e-6  # three 4-bar phrases (8 s) end to end
    assert len({n.instrument for n in ns.notes}) > 1


def test_one_line_errors(run, chorales, capsys):
    workdir, _ = run
    assert main(["sample", "--workdir", str(workdir), "--primer-pitches", "60,62,64,65"]) == 2
    assert "takes no primer" in capsys.readouterr().err
    assert main(["train", "musegan", "--preset", "musegan", "--data", chorales,
                 "--workdir", str(workdir.parent / "paper")]) == 2
    err = capsys.readouterr().err
    assert "--codec multitrack_musegan" in err and len(err.splitlines()) == 1
    assert main(["train", "musegan", "--preset", "tiny", "--data", chorales, "--set",
                 "model.steps_per_bar=48", "--workdir", str(workdir.parent / "wrong")]) == 2
    err = capsys.readouterr().err
    assert "--set tracks=4 --set steps_per_quarter=12" in err and len(err.splitlines()) == 1
    assert not (workdir.parent / "wrong").exists()
    with pytest.raises(ZooError, match="unknown task.loss"):
        GANConfig(loss="hinge")
    with pytest.raises(ZooError, match="unknown model.variant"):
        MuseGAN(Config(variant="wide")).init(jax.random.key(0), sample_latents(
            Config(), jax.random.key(0), jnp.arange(1)), jnp.zeros((1, 4, 4, 16, 84)))


def test_musegan_preset_follows_the_paper():
    paper = PRESETS["musegan"]
    data = get_codec(paper.codec)  # the preset names its codec's parameters: drums + 4 tracks
    assert (data.tracks, data.steps_per_bar, data.num_keys, data.drum_track) == (5, 48, 84, True)
    assert data.vocab_size == 5 * 84
    assert (paper.model.tracks, paper.model.bars, paper.model.steps_per_bar,
            paper.model.pitches) == (5, 4, 48, 84)
    objective = paper.task or GANConfig()
    assert (objective.loss, objective.gradient_penalty, objective.critic_steps) == (
        "wgan-gp", 10.0, 5)
    assert (paper.train.batch_size, paper.train.learning_rate, objective.adam_b1,
            objective.adam_b2) == (64, 1e-3, 0.5, 0.9)


def test_python_api_samples_and_interpolates(run, tmp_path):
    from conftest import check_bundle_round_trip

    from zoo.api import MuseGANModel, load

    workdir, _ = run
    model = load(workdir)
    assert isinstance(model, MuseGANModel) and model.step == STEPS
    check_bundle_round_trip(workdir, tmp_path)
    phrases = model.sample(2, seed=0)
    assert len(phrases) == 2 and all(isinstance(p, note_seq.NoteSequence) for p in phrases)
    a, b = (model.codec.decode(to_frames(p))
            for p in model.task.data_phrases(model.data.split("train"), 2))
    ns = model.interpolate(a, b, n=3)
    assert isinstance(ns, note_seq.NoteSequence) and ns.notes
