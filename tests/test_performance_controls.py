"""Performance controls: note density and pitch-class histogram equal note-seq's control signals,
their condition vectors (optional conditioning), and a tiny conditioned Performance RNN sampled
from the CLI and the API with controls, without them, and over a small control sweep."""

import glob
import os

import music21
import note_seq
import numpy as np
import pytest
from note_seq import musicxml_reader
from note_seq.protobuf import music_pb2

from zoo.cli import main
from zoo.codecs import END, get_codec
from zoo.codecs import performance_controls as controls
from zoo.errors import ZooError
from zoo.families.conditioned.config import ControlConfig
from zoo.registry import build_task, get_preset

codec = get_codec("performance")


def test_controls_equal_note_seq_control_signals_on_a_chorale():
    path = sorted(glob.glob(os.path.join(os.path.dirname(music21.corpus.__file__), "bach",
                                         "bwv1*.mxl")))[0]
    ids = codec.encode(musicxml_reader.musicxml_file_to_sequence_proto(path))
    performance = note_seq.Performance(steps_per_second=100, num_velocity_bins=32,
                                       max_shift_steps=100)
    for i in ids:
        performance.append(codec._encoding.decode_event(int(i) - 2))
    density = note_seq.NoteDensityPerformanceControlSignal(3.0, list(controls.DENSITY_BINS))
    np.testing.assert_allclose(controls.note_density(ids, codec),
                               density.extract(performance), rtol=0, atol=1e-9)
    signal = note_seq.PitchHistogramPerformanceControlSignal(5.0)
    values = signal.extract(performance)
    want = [signal.encoder.events_to_input(values, i) for i in range(len(values))]
    np.testing.assert_allclose(controls.pitch_histogram(ids, codec), want, rtol=0, atol=1e-9)


def _notes(*notes):
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    for pitch, start, end in notes:
        ns.notes.add(pitch=pitch, start_time=start, end_time=end, velocity=80)
    ns.total_time = max(n[2] for n in notes)
    return ns


def test_literal_values_keys_and_bad_input():
    ids = codec.encode(_notes((60, 0.0, 1.0), (64, 1.0, 2.0)))
    # VELOCITY, NOTE_ON 60, SHIFT 1 s, NOTE_OFF 60, NOTE_ON 64, SHIFT 1 s, NOTE_OFF 64
    assert controls.note_density(ids, codec).tolist() == [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    density, hist = controls.realised(ids, codec)
    assert density == 1.0 and np.round(hist, 6).tolist() == [0.5, 0, 0, 0, 0.5] + [0] * 7
    assert controls.density_one_hot([0.5, 1.0, 4.0, 100.0]).argmax(axis=1).tolist() == [0, 1,
                                                                                       3, 7]
    c_major = controls.key_histogram("C major") * 9
    assert np.round(c_major, 6).tolist() == [2, 0, 1, 0, 1, 1, 0, 2, 0, 1, 0, 1]
    assert np.flatnonzero(controls.key_histogram("Bb minor")).tolist() == [0, 1, 3, 5, 6, 8, 10]
    assert controls.parse_histogram("[1,0,0,0,1,0,0,1,0,0,0,0]").tolist()[:5] == [
        1 / 3, 0, 0, 0, 1 / 3]
    for bad in ("[1, 2]", "[a]", "H major", "[0,0,0,0,0,0,0,0,0,0,0,0]"):
        with pytest.raises(ZooError):
            controls.parse_histogram(bad)


@pytest.fixture(scope="module")
def task():
    preset = get_preset("performance_rnn_conditioned", "tiny")
    return build_task("performance_rnn_conditioned", preset, codec)


def test_condition_vectors_and_optional_controls(task):
    assert task.condition_size == 22 == task.model.config.condition_size
    c_major = controls.key_histogram("C major")
    cond = task.condition(1, [4.0], [c_major])[0]
    assert np.flatnonzero(cond[:9]).tolist() == [3] and cond[21] == 0.0  # bin [4, 8), present
    np.testing.assert_allclose(cond[9:21], c_major)
    absent = task.condition(1)[0]
    assert np.flatnonzero(absent).tolist() == [8, 21]  # both flags: absent
    ids = codec.encode(_notes((60, 0.0, 1.0), (64, 1.0, 2.0)))
    events, cond = task.track(ids, None)
    assert events.tolist() == [END, *ids.tolist(), END] and cond.shape == (len(ids) + 2, 22)
    assert not cond[:, [8, 21]].any()  # evaluation: every control present
    rng = np.random.default_rng(0)
    flags = np.array([task.track(ids, rng)[1][0, [8, 21]] for _ in range(400)])
    assert 0.4 < flags.mean() < 0.6  # each left out of about half the examples
    with pytest.raises(ZooError, match="width 22 but this task gives 8"):
        type(task)(task.model, codec, task.cfg, ControlConfig(histogram=False, optional=False))


def test_tiny_run_follows_controls_from_the_cli_and_the_api(chorale_performances, tmp_path):
    wd = tmp_path / "run"
    assert main(["train", "performance_rnn_conditioned", "--preset", "tiny", "--data",
                 chorale_performances, "--workdir", str(wd), "--set", "steps=3",
                 "--set", "batch_size=8", "--set", "seq_len=32", "--set", "eval_max_pieces=2",
                 "--no-progress"]) == 0
    assert main(["sample", "--workdir", str(wd), "--num", "2", "--steps", "48",
                 "--density", "4", "--pitch-histogram", "C major"]) == 0
    assert (wd / "samples" / "sample_1.mid").exists()

    from zoo.api import load

    model = load(wd)
    slow = model.sample(2, steps=64, density=1.0, seed=5)
    fast = model.sample(2, steps=64, density=32.0, seed=5)
    free = model.sample(2, steps=64, seed=5)  # no control: the optional model samples too
    # Whole samples compared (every row's notes): one row alone can end at once, empty under
    # either control, as row 0 of seed 5 does.
    notes = lambda pieces: [[(n.pitch, n.start_time) for n in p.notes] for p in pieces]
    assert len(free) == 2 and notes(free) != notes(slow)
    assert notes(slow) != notes(fast)
    with pytest.raises(ZooError, match="does not take --chords"):
        model.sample(1, chords="C G")
    with pytest.raises(ZooError, match="notes per second"):
        model.sample(1, density=-1.0)
    with pytest.raises(ZooError, match="12 numbers"):
        model.sample(1, pitch_histogram="[1,2")

    from zoo.families.conditioned.performance import control_sweep

    task, params = model.task, model.params
    sweep = control_sweep(task, params, densities=(2.0, 8.0), keys=("C major", "F# major"),
                          num=2, steps=64)
    assert set(sweep["density"]["requested_to_mean_realised"]) == {"2.0", "8.0"}
    assert 0.0 <= sweep["histogram"]["nearest_key_is_requested"] <= 1.0
    assert sweep["histogram"]["mean_l1"] <= 2.0 and sweep["histogram"]["mean_l1_no_control"]
    pieces = [model.data.split("valid")[0][:200]]
    metrics = task.extra_metrics(params, pieces)
    assert np.isfinite(metrics["nll_no_controls"]) and metrics["nll_no_controls"] > 0
