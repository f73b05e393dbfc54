"""Coconet: network shapes, the loss on erased cells only (Magenta's rescaling), the mask as the
network's only view of the piece, the Gibbs sampler keeping given cells exactly and repeating
with a seed, harmonize keeping the melody note for note, infill keeping everything outside the
erased bars, the four-part statistics, and one tiny run through the CLI and the Python API."""

import jax
import jax.numpy as jnp
import note_seq
import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from zoo.cli import main
from zoo.codecs import get_codec
from zoo.errors import ZooError
from zoo.eval.voices import (
    chord_tone_rate,
    harmony_statistics,
    parallel_counts,
    voice_grid,
    voice_ranges,
)
from zoo.families.coconet.batches import frames_to_rolls, orderless_mask, rolls_to_frames
from zoo.families.coconet.task import coconet_sums
from zoo.nets.coconet import Coconet, Config, gibbs_sample, yao_schedule
from zoo.registry import build_task, get_preset

codec = get_codec("multitrack")
TINY = Config(layers=4, filters=8, dilation_window=16)
P, C, V = TINY.pitches, TINY.classes, TINY.voices


@pytest.fixture(scope="module")
def net():
    model = Coconet(TINY)
    return model, jax.jit(model.init_params)(jax.random.key(0))


@pytest.fixture(scope="module")
def task():
    t = build_task("coconet", get_preset("coconet", "tiny"), codec)
    return t, jax.jit(t.init)(jax.random.key(1))


def random_rolls(seed, B, T):
    return np.random.default_rng(seed).integers(0, C, (B, T, V)).astype(np.int32)


def test_shapes_and_dilations(net):
    model, params = net
    rolls = random_rolls(2, 2, 24)
    logits = jax.jit(model.apply)({"params": params}, rolls, jnp.ones((2, 24, V)))
    assert logits.shape == (2, 24, V, C) and logits.dtype == jnp.float32
    paper = Config(layers=32, dilation_window=32)
    rates = paper.dilations()
    assert len(rates) == 29 and rates[:7] == [(1, 1), (2, 2), (4, 4), (8, 8), (16, 16),
                                              (16, 32), (1, 1)]
    assert Config(dilated=False).dilations() == [(1, 1)] * 29


def test_loss_is_on_erased_cells_only_rescaled_as_magenta(net):
    model, params = net
    rolls = random_rolls(3, 2, 8)
    erased = np.zeros((2, 8, V), np.float32)
    erased[0, 1, 2] = erased[0, 5, 0] = 1.0
    erased[1, :, 3] = 1.0
    steps = np.ones((2, 8), np.float32)
    steps[1, 6:] = 0.0  # piece 1 is 6 steps long: its padding is neither scored nor counted
    logits = np.random.default_rng(4).normal(size=(2, 8, V, C)).astype(np.float32)

    sums = jax.jit(coconet_sums)(logits, rolls, erased, steps)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, rolls[..., None], axis=-1)[..., 0]
    # Magenta: sum_b D_b / k_b * sum_erased nll, D_b = steps x voices, k_b = erased cells
    want = 8 * V / 2 * (nll[0, 1, 2] + nll[0, 5, 0]) + 6 * V / 6 * nll[1, :6, 3].sum()
    np.testing.assert_allclose(float(sums["nll_sum"]), want, rtol=1e-5)
    assert float(sums["cells"]) == 14 * V and float(sums["frames"]) == 14

    # the gradient reaches the logits of erased, real cells only
    grad = jax.jit(jax.grad(lambda lg: coconet_sums(lg, rolls, erased, steps)["nll_sum"]))(logits)
    touched = np.abs(np.asarray(grad)).sum(-1) > 0
    assert np.array_equal(touched, (erased * steps[..., None]) > 0)


def test_network_sees_given_cells_and_nothing_of_erased_ones(net):
    model, params = net
    rolls = random_rolls(5, 1, 16)
    known = np.ones((1, 16, V), np.float32)
    known[0, 4:8, 1:] = 0.0
    apply = jax.jit(model.apply)
    f = lambda r: np.asarray(apply({"params": params}, r, known))
    base = f(rolls)
    hidden = rolls.copy()
    hidden[0, 4:8, 1:] = (hidden[0, 4:8, 1:] + 7) % C        # erased cells changed
    np.testing.assert_array_equal(f(hidden), base)
    given = rolls.copy()
    given[0, 5, 0] = (given[0, 5, 0] + 3) % C                # a given cell changed
    assert np.abs(f(given)[0, 5, 1] - base[0, 5, 1]).max() > 1e-6


def test_gibbs_keeps_given_cells_and_repeats_with_its_seed(net):
    model, params = net
    rolls = random_rolls(6, 3, 16)
    given = (np.random.default_rng(7).random(rolls.shape) < 0.5).astype(np.float32)
    anything = np.ones((*rolls.shape, C), bool)  # every draw with a class mask: one compile
    run = lambda seed, allowed=anything: np.asarray(gibbs_sample(
        model, params, rolls, given, jax.random.key(seed), steps=6, allowed_BxTxVxC=allowed))
    out = run(0)
    assert out.shape == rolls.shape and out.min() >= 0 and out.max() < C
    np.testing.assert_array_equal(out[given == 1], rolls[given == 1])
    np.testing.assert_array_equal(run(0), out)
    assert not np.array_equal(run(1), out)
    # a voice restricted to rests stays silent wherever it is free
    allowed = np.ones((*rolls.shape, C), bool)
    allowed[:, :, 3, :P] = False
    silent = run(0, allowed)
    assert np.all(silent[:, :, 3][given[:, :, 3] == 0] == P)
    assert float(yao_schedule(0, 10, 0.1, 0.9, 0.7)) == pytest.approx(0.9)
    assert float(yao_schedule(10, 10, 0.1, 0.9, 0.7)) == pytest.approx(0.1)


def test_rolls_round_trip_through_the_codec_frames_and_masks():
    rolls = np.array([[40, 30, 20, P], [41, 30, 12, 0]], np.int32)
    frames = rolls_to_frames(rolls, codec.num_keys, 12, P)  # class 0 = key 12 = MIDI 36
    assert frames.shape == (2, 4 * 84) and frames.sum() == 7
    assert frames[0, 40 + 12] == 1 and frames[1, 3 * 84 + 12] == 1
    np.testing.assert_array_equal(frames_to_rolls(frames, V, 84, 12, P), rolls)
    m = orderless_mask(5, 8, V, np.random.default_rng(0))
    assert m.shape == (8, V) and 1 <= m.sum() <= 20 and m[5:].sum() == 0


def melody(pitches, qpm=100.0, repeat_offset=0.01):
    """Quarter notes slightly off the grid, repeated pitches included."""
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=qpm)
    beat = 60.0 / qpm
    for i, p in enumerate(pitches):
        ns.notes.add(pitch=p, start_time=i * beat + repeat_offset, end_time=(i + 0.9) * beat,
                     velocity=90, program=73)
    ns.total_time = len(pitches) * beat
    return ns


def test_harmonize_keeps_the_melody_note_for_note(task):
    t, params = task
    # every draw of this test and the next is 2 pieces x 64 steps: one compiled sampler
    tune = melody([67, 67, 69, 71, 72, 72, 71, 69, 67, 67, 69, 71, 72, 71, 69, 67])
    outs = t.harmonize(params, tune, jax.random.key(0), num=2)
    want = [(n.pitch, n.start_time, n.end_time, n.velocity) for n in tune.notes]
    for out in outs:
        assert [(n.pitch, n.start_time, n.end_time, n.velocity)
                for n in out.notes if n.instrument == 0] == want
        assert {n.instrument for n in out.notes} == {0, 1, 2, 3}
        assert all(36 <= n.pitch <= 81 for n in out.notes)
    up = melody([n.pitch + 5 for n in tune.notes])                 # the melody a fourth higher
    other = t.harmonize(params, up, jax.random.key(0), num=2)
    assert [n.pitch for n in other[0].notes if n.instrument > 0] != [
        n.pitch for n in outs[0].notes if n.instrument > 0]        # the melody steers the rest
    again = t.harmonize(params, tune, jax.random.key(0), num=2)
    assert again[0] == outs[0] and outs[0] != outs[1]
    with pytest.raises(ZooError, match="outside the model's range"):
        t.harmonize(params, melody([90]), jax.random.key(0), source="high.mid")


def test_infill_keeps_every_note_outside_the_erased_bars(task):
    t, params = task
    piece = t.generate(params, 2, 64, np.array([1]), jax.random.key(3))[0]  # 4 bars, 4 voices
    bar = 2.0  # seconds per 4/4 bar at 120 qpm
    out, second = t.infill(params, piece, "2-3", jax.random.key(1), num=2)
    assert out != second
    outside = lambda ns: sorted((n.instrument, n.pitch, round(max(n.start_time, 0), 6),
                                 round(n.end_time, 6)) for n in ns.notes
                                if n.end_time <= bar + 1e-6 or n.start_time >= 3 * bar - 1e-6)
    assert outside(out) == outside(piece) and outside(piece)
    inside = [n for n in out.notes if n.start_time >= bar - 1e-6 and n.end_time <= 3 * bar + 1e-6]
    assert inside and all(36 <= n.pitch <= 81 for n in inside)
    for bad, message in (("5-6", "cannot erase"), ("x", "bad bars"), ("3-2", "bad bars")):
        with pytest.raises(ZooError, match=message):
            t.infill(params, piece, bad, jax.random.key(1))


def test_voice_statistics_on_hand_made_grids():
    # a C major chord moving up a step: S-B in octaves (72/48 -> 74/50) and A-B in fifths
    # (67/48 -> 69/50), both voices of each pair rising; S-A stay in fourths
    grid = np.array([[72, 67, 64, 48]] * 4 + [[74, 69, 65, 50]] * 4)
    assert parallel_counts(grid) == (1, 1)
    assert chord_tone_rate(np.array([[72, 67, 64, 48]] * 4)) == 1.0
    assert voice_ranges(grid)[3].tolist() == [48.0, 50.0, 49.0]
    contrary = np.array([[67, 60, -1, -1], [69, 58, -1, -1]])  # a fifth, then not
    assert parallel_counts(contrary) == (0, 0)
    stats = harmony_statistics([grid])
    assert stats["bars"] == 0.5 and stats["parallel_octaves_per_bar"] == 2.0
    assert stats["parallel_fifths_per_bar"] == 2.0 and stats["voice_crossing_rate"] == 0.0
    ns = music_pb2.NoteSequence()
    ns.tempos.add(qpm=120)
    for v, p in enumerate([72, 67, 64, 48]):
        ns.notes.add(pitch=p, start_time=0.0, end_time=0.5, instrument=v, velocity=80)
    assert voice_grid(ns).tolist() == [[72, 67, 64, 48]] * 4


# ---- one tiny run on real chorales, through the CLI and the Python API

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """12 embedded chorales prepared with the multitrack codec; the tiny preset trained 10
    steps."""
    from zoo.data.prepare import prepare
    from zoo.data.sources import music21_corpus

    folder = tmp_path_factory.mktemp("bach")
    for chorale in sorted((music21_corpus() / "bach").glob("*.mxl"))[:12]:
        (folder / chorale.name).symlink_to(chorale)
    data = prepare("embedded-chorales", str(folder), "multitrack", workers=2, echo=lambda s: None,
                   out=tmp_path_factory.mktemp("prepared") / "multitrack")
    workdir = tmp_path_factory.mktemp("runs") / "coconet"
    assert main(["train", "coconet", "--preset", "tiny", "--data", str(data), "--workdir",
                 str(workdir), "--set", "steps=10", "--no-progress"]) == 0
    return workdir


def test_cli_harmonize_infill_sample_and_the_api(run, tmp_path, capsys):
    from zoo.api import CoconetModel, load

    tune = melody([60, 62, 64, 64, 65, 67, 67, 65, 64, 62, 60, 60])
    note_seq.sequence_proto_to_midi_file(tune, str(tmp_path / "melody.mid"))
    # every draw below is one piece of 48 steps with the tiny preset's 8 Gibbs steps: one compile
    assert main(["harmonize", str(tmp_path / "melody.mid"), "--workdir", str(run),
                 "--out", str(tmp_path / "h"), "--seed", "3"]) == 0
    written = note_seq.midi_file_to_note_sequence(str(tmp_path / "h" / "sample_0.mid"))
    read = note_seq.midi_file_to_note_sequence(str(tmp_path / "melody.mid"))
    key = lambda ns, inst: [(n.pitch, round(n.start_time, 3), round(n.end_time, 3))
                            for n in ns.notes if n.instrument == inst]
    assert key(written, 0) == key(read, 0) and len({n.instrument for n in written.notes}) == 4
    assert (tmp_path / "h" / "sample_0.png").exists() and (tmp_path / "h" / "index.html").exists()

    assert main(["infill", str(tmp_path / "h" / "sample_0.mid"), "--workdir", str(run),
                 "--erase", "bars", "2-2", "--out", str(tmp_path / "i")]) == 0
    filled = note_seq.midi_file_to_note_sequence(str(tmp_path / "i" / "sample_0.mid"))
    assert len({n.instrument for n in filled.notes}) == 4
    assert main(["sample", "--workdir", str(run), "--num", "1", "--steps", "48",
                 "--out", str(tmp_path / "s")]) == 0
    capsys.readouterr()
    for argv, message in (
            (["infill", str(tmp_path / "melody.mid"), "--workdir", str(run), "--erase", "notes",
              "1-2"], "only bars"),
            (["harmonize", str(tmp_path / "nothing.mid"), "--workdir", str(run)], "cannot read"),
            (["infill", str(tmp_path / "melody.mid"), "--workdir", str(run), "--erase", "bars",
              "9-12"], "cannot erase bars 9-12")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1

    assert main(["export", "--workdir", str(run), str(tmp_path / "coconet.zoo")]) == 0
    model = load(tmp_path / "coconet.zoo")
    assert isinstance(model, CoconetModel)
    from_run = load(run).harmonize(tmp_path / "melody.mid", seed=5)[0]
    from_bundle = model.harmonize(tmp_path / "melody.mid", seed=5)[0]
    assert from_run == from_bundle
    pieces = model.infill(from_bundle, "1-1") + model.sample(1, steps=48)
    assert all(isinstance(p, note_seq.NoteSequence) and p.notes for p in pieces)
