"""The Python API (zoo.api.load) on tiny trained runs of each family: samples are NoteSequences,
a continuation starts with its primer, a score is the model's own NLL, MusicVAE encodes, decodes
and interpolates, and the README's block runs as written (MuseGAN's API: tests/test_musegan.py)."""

import math
import os

import jax
import jax.numpy as jnp
import note_seq
import numpy as np
import pytest
from conftest import check_bundle_round_trip

from zoo.api import EventModel, MusicVAEModel, PianorollModel, load
from zoo.cli import main
from zoo.codecs import END
from zoo.codecs.base import without_corpus_filters
from zoo.errors import ZooError
from zoo.families.lm.batches import with_end_symbols
from zoo.generate import primer_from_pitches

FAST = ["--set", "batch_size=8", "--set", "eval_every=1000", "--set", "eval_max_pieces=4",
        "--no-progress"]


def _train(model, preset, data, workdir, *sets):
    extra = [x for s in sets for x in ("--set", s)]
    assert main(["train", model, "--preset", preset, "--data", data, "--workdir", str(workdir),
                 *FAST, *extra]) == 0
    return workdir


@pytest.fixture(scope="module")
def melody_run(chorale_melodies, tmp_path_factory):
    return _train("melody_rnn", "tiny", chorale_melodies, tmp_path_factory.mktemp("m") / "run",
                  "steps=12", "seq_len=128", "model.hidden=32")


def test_event_model_samples_continues_and_scores(melody_run, tmp_path):
    model = load(melody_run)
    assert isinstance(model, EventModel) and model.step == 12
    pieces = model.sample(3, steps=40, temperature=0.9, seed=1)
    assert len(pieces) == 3 and all(isinstance(p, note_seq.NoteSequence) for p in pieces)
    again = model.sample(3, steps=40, temperature=0.9, seed=1)
    assert [list(p.notes) for p in again] == [list(p.notes) for p in pieces]  # seeded
    primer = primer_from_pitches([60, 62, 64, 65])
    path = tmp_path / "primer.mid"
    note_seq.sequence_proto_to_midi_file(primer, str(path))
    for given in (primer, str(path)):
        (cont,) = model.continue_(given, steps=24, seed=2)
        assert [n.pitch for n in cont.notes[:4]] == [60, 62, 64, 65]
    # the score is -mean log p of every event after the start symbol, end symbol included
    ids = without_corpus_filters(model.codec).encode(primer)
    seq = with_end_symbols(ids)
    net = model.task.model
    logits, _ = net.apply({"params": model.params}, jnp.asarray(seq[None, :-1]),
                          net.initial_carry(1))
    logp = jax.nn.log_softmax(logits[0].astype(jnp.float32))
    want = -float(jnp.mean(logp[jnp.arange(len(seq) - 1), seq[1:]]))
    assert model.score(primer) == pytest.approx(want, rel=1e-5)
    assert model.score([primer, pieces[0]])[0] == pytest.approx(want, rel=1e-5)
    with pytest.raises(ZooError, match="cannot read"):
        model.continue_(tmp_path / "missing.mid")


def test_pianoroll_model_samples_and_scores(tmp_path_factory, tmp_path):
    from zoo.data.prepare import prepare

    data = str(prepare("embedded-chorales", None, "pianoroll",
                       out=tmp_path_factory.mktemp("d") / "roll", workers=2, echo=lambda s: None))
    run = _train("pianoroll_rnn_nade", "tiny", data, tmp_path_factory.mktemp("p") / "r",
                 "steps=6", "seq_len=32")
    model = load(run)
    assert isinstance(model, PianorollModel)
    check_bundle_round_trip(run, tmp_path, lambda m: m.sample(1, steps=16, seed=3))
    (piece,) = model.sample(1, steps=16, seed=0)
    nll = model.score(piece)
    assert math.isfinite(nll) and 0 < nll < 88 * math.log(2)  # better than a fair coin per key


def test_music_vae_encodes_decodes_samples_and_interpolates(chorale_melodies, tmp_path):
    run = _train("music_vae", "tiny", chorale_melodies, tmp_path / "vae", "steps=4",
                 "model.z_size=8", "model.encoder_hidden=16", "model.decoder_hidden=16")
    model = load(run)
    assert isinstance(model, MusicVAEModel)
    check_bundle_round_trip(run, tmp_path)
    a, b = primer_from_pitches([60, 64, 67, 72] * 2), primer_from_pitches([72, 71, 69, 67] * 2)
    mu, sigma = model.encode([a, b])
    assert mu.shape == sigma.shape == (2, 8) and np.all(sigma > 0)
    decoded = model.decode(mu, temperature=0.0)
    assert len(decoded) == 2 and all(isinstance(p, note_seq.NoteSequence) for p in decoded)
    assert len(model.sample(3, seed=1)) == 3
    path = model.interpolate(a, b, n=4, temperature=0.0)
    assert len(path) == 4
    # the ends of the path decode the ends' means
    ends = model.decode(mu, temperature=0.0)
    assert list(path[0].notes) == list(ends[0].notes) and list(path[-1].notes) == list(
        ends[1].notes)


def test_the_readme_api_block_runs_as_written(chorale_melodies, tmp_path, monkeypatch):
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("### From Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    _train("melody_rnn", "tiny", chorale_melodies, Path("runs/demo-melody_rnn"), "steps=6",
           "seq_len=64", "model.hidden=32")
    exec(compile(block, "README.md", "exec"), {})
    assert END == 1 and os.path.isdir("runs/demo-melody_rnn")
    # what the block wrote: MIDI + PNG + WAV per sample, the page, and the longer piece's WAV
    from zoo.data.audio import wav_info

    for i in range(4):
        assert all(os.path.getsize(f"listen/sample_{i}.{ext}") > 0 for ext in ("mid", "png"))
        seconds, rms = wav_info(f"listen/sample_{i}.wav")
        assert seconds > 0 and rms > 1e-4
    assert os.path.isfile("listen/index.html")
    assert wav_info("longer.wav")[1] > 1e-4
