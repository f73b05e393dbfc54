"""The `zoo` command end to end on tiny presets, and its one-line errors (exit code 2)."""

import json

import note_seq
import pytest
from conftest import check_index_html
from note_seq.protobuf import music_pb2

from zoo.cli import main

FAST = ["--set", "steps=12", "--set", "batch_size=8", "--set", "seq_len=32",
        "--set", "model.hidden=32", "--set", "eval_max_pieces=4", "--no-progress"]


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def _check_samples(workdir, n):
    for i in range(n):
        ns = note_seq.midi_file_to_note_sequence(str(workdir / "samples" / f"sample_{i}.mid"))
        assert isinstance(ns, music_pb2.NoteSequence)
        assert (workdir / "samples" / f"sample_{i}.png").stat().st_size > 1000


def test_melody_rnn_train_sample_eval(chorale_melodies, tmp_path, capsys):
    wd = tmp_path / "run"
    assert main(["train", "melody_rnn", "--preset", "tiny", "--data", chorale_melodies,
                 "--workdir", str(wd), *FAST]) == 0
    assert main(["sample", "--workdir", str(wd), "--num", "3", "--steps", "40",
                 "--top-p", "0.9", "--primer-pitches", "60,62,64"]) == 0
    _check_samples(wd, 3)
    check_index_html(wd / "samples", 3, wav=False)
    primed = note_seq.midi_file_to_note_sequence(str(wd / "samples" / "sample_0.mid"))
    assert [n.pitch for n in primed.notes[:3]] == [60, 62, 64]
    assert main(["eval", "--workdir", str(wd)]) == 0
    report = json.loads((wd / "eval.json").read_text())
    assert {"valid", "test"} <= set(report["splits"])
    assert report["splits"]["valid"]["bigram_nll"] > 0
    # a second `zoo train` on the finished run resumes and does nothing more
    assert main(["train", "melody_rnn", "--preset", "tiny", "--workdir", str(wd), *FAST]) == 0
    assert "step 12" in capsys.readouterr().out


@pytest.mark.parametrize("model,fixture", [("performance_rnn", "chorale_performances"),
                                           ("polyphony_rnn", "chorale_polyphony")])
def test_other_event_rnns_train_and_sample(model, fixture, request, tmp_path):
    data = request.getfixturevalue(fixture)
    wd = tmp_path / model
    assert main(["train", model, "--preset", "tiny", "--data", data, "--workdir", str(wd),
                 *FAST]) == 0
    assert main(["sample", "--workdir", str(wd), "--num", "2", "--steps", "64"]) == 0
    _check_samples(wd, 2)


def _drum_midi(path, seed):
    """Two bars of a rock beat with some variation, on the drum channel."""
    import random

    rng = random.Random(seed)
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=120)
    for step in range(32 * 4):
        t = step * 0.125
        hits = [42] if step % 2 == 0 else []
        if step % 8 == 0:
            hits.append(36)
        if step % 8 == 4:
            hits.append(38)
        if rng.random() < 0.1:
            hits.append(rng.choice([45, 49, 51]))
        for p in hits:
            ns.notes.add(pitch=p, start_time=t, end_time=t + 0.1, velocity=90, is_drum=True,
                         instrument=9)
    ns.total_time = 32 * 4 * 0.125
    note_seq.sequence_proto_to_midi_file(ns, str(path))


def test_drums_rnn_on_a_generated_midi_folder(tmp_path):
    folder = tmp_path / "drums"
    folder.mkdir()
    for i in range(24):
        _drum_midi(folder / f"beat_{i}.mid", i)
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00")
    out = tmp_path / "prepared"
    assert main(["prepare", "midi-dir", str(folder), "--codec", "drums", "--out", str(out),
                 "--workers", "0"]) == 0
    wd = tmp_path / "run"
    assert main(["train", "drums_rnn", "--preset", "tiny", "--data", str(out), "--workdir",
                 str(wd), *FAST]) == 0
    assert main(["sample", "--workdir", str(wd), "--num", "2", "--steps", "64"]) == 0
    _check_samples(wd, 2)
    ns = note_seq.midi_file_to_note_sequence(str(wd / "samples" / "sample_0.mid"))
    assert all(n.is_drum for n in ns.notes)


def test_one_line_errors(chorale_melodies, tmp_path, capsys):
    assert "unknown model 'nope'" in _error(capsys, ["train", "nope"])
    assert "unknown preset 'huge'" in _error(capsys, ["train", "melody_rnn", "--preset", "huge"])
    base = ["train", "melody_rnn", "--preset", "tiny", "--data", chorale_melodies,
            "--workdir", str(tmp_path / "w")]
    assert "malformed --set" in _error(capsys, [*base, "--set", "steps"])
    assert "bad value for steps" in _error(capsys, [*base, "--set", "steps=many"])
    assert "unknown setting 'stepz'" in _error(capsys, [*base, "--set", "stepz=3"])
    assert "reads 'performance'" in _error(capsys, ["train", "performance_rnn", "--preset",
                                                    "tiny", "--data", chorale_melodies])
    assert "not a run directory" in _error(capsys, ["sample", "--workdir", str(tmp_path)])
    assert "does not exist" in _error(capsys, ["prepare", "midi-dir", str(tmp_path / "none"),
                                               "--codec", "melody"])
    assert "unknown codec" in _error(capsys, ["prepare", "embedded-folk", "--codec", "mp3"])
    assert not (tmp_path / "w").exists()  # nothing was written by the failed commands


def test_models_lists_every_preset(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("melody_rnn", "performance_rnn", "drums_rnn", "polyphony_rnn"):
        assert name in out
    assert "attention" in out and "tiny" in out
