"""Portable bundles: `zoo export` writes one file; zoo.api.load, `zoo sample --bundle` and
`zoo eval --bundle` give what the run gives; a damaged file or another format ends in one line."""

import json
import zipfile

import note_seq
import pytest

from zoo.api import load
from zoo.cli import main

FAST = ["--set", "batch_size=8", "--set", "eval_every=1000", "--set", "eval_max_pieces=4",
        "--set", "steps=6", "--set", "seq_len=64", "--set", "model.hidden=32", "--no-progress"]


@pytest.fixture(scope="module")
def run_and_bundle(chorale_melodies, tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle")
    assert main(["train", "melody_rnn", "--preset", "tiny", "--data", chorale_melodies,
                 "--workdir", str(root / "run"), *FAST]) == 0
    assert main(["export", "--workdir", str(root / "run"), str(root / "melody.zoo")]) == 0
    return root / "run", root / "melody.zoo"


def _error(capsys, argv) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_a_bundle_holds_the_run(run_and_bundle):
    run, bundle = run_and_bundle
    with zipfile.ZipFile(bundle) as z:
        info = json.loads(z.read("bundle.json"))
    assert (info["model"], info["preset"], info["step"]) == ("melody_rnn", "tiny", 6)
    assert info["codec"]["card"]["vocab_size"] == 40 and info["configs"]["model"]["hidden"] == 32
    assert info["data"]["fingerprint"] and info["versions"]["jax"]
    a, b = load(run), load(bundle)
    assert [list(p.notes) for p in a.sample(2, steps=32, seed=3)] == [
        list(p.notes) for p in b.sample(2, steps=32, seed=3)]
    piece = a.sample(1, steps=32, seed=4)[0]
    assert a.score(piece) == pytest.approx(b.score(piece), rel=1e-6)


def test_sample_and_eval_from_a_bundle(run_and_bundle, chorale_melodies, tmp_path, capsys):
    run, bundle = run_and_bundle
    assert main(["sample", "--bundle", str(bundle), "--num", "2", "--steps", "32",
                 "--out", str(tmp_path / "s")]) == 0
    assert isinstance(note_seq.midi_file_to_note_sequence(str(tmp_path / "s" / "sample_1.mid")),
                      note_seq.NoteSequence)
    assert main(["eval", "--workdir", str(run)]) == 0
    from_run = json.loads((run / "eval.json").read_text())["splits"]["valid"]["nll"]
    assert main(["eval", "--bundle", str(bundle), "--data", chorale_melodies]) == 0
    report = json.loads(bundle.with_name("melody.eval.json").read_text())
    assert report["splits"]["valid"]["nll"] == pytest.approx(from_run, rel=1e-6)


def test_damaged_or_foreign_bundles_end_in_one_line(run_and_bundle, tmp_path, capsys):
    _, bundle = run_and_bundle
    cut = tmp_path / "cut.zoo"
    cut.write_bytes(bundle.read_bytes()[: len(bundle.read_bytes()) // 2])
    assert "not a readable zoo bundle" in _error(capsys, ["sample", "--bundle", str(cut)])
    with zipfile.ZipFile(bundle) as z:
        info, blob = json.loads(z.read("bundle.json")), bytearray(z.read("params.npz"))
    blob[-100] ^= 0xFF
    for name, meta, params in (("flipped", info, bytes(blob)),
                               ("future", {**info, "format": 99}, bytes(blob))):
        with zipfile.ZipFile(tmp_path / f"{name}.zoo", "w") as z:
            z.writestr("bundle.json", json.dumps(meta))
            z.writestr("params.npz", params)
    assert "do not match their checksum" in _error(
        capsys, ["sample", "--bundle", str(tmp_path / "flipped.zoo")])
    assert "bundle format 99" in _error(capsys, ["eval", "--bundle",
                                                 str(tmp_path / "future.zoo")])
    assert "one of them" in _error(capsys, ["sample"])
