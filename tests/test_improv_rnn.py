"""Improv RNN: the melody + chord codec (literal ids, chords from the data or inferred), the
conditioned network (shapes, causality, the chord changes the output, step-by-step decoding),
and a tiny run trained, sampled over a progression from the CLI and continued from the API."""

import jax
import jax.numpy as jnp
import note_seq
import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from zoo.cli import main
from zoo.codecs import get_codec
from zoo.codecs.improv import (
    NUM_CHORDS,
    chord_class,
    chord_figure,
    chord_pitch_classes,
    chord_vectors,
    parse_chords,
)
from zoo.data.prepare import split_of
from zoo.errors import ZooError
from zoo.nets.conditioned_lm import ConditionedLM, Config

CHORD = music_pb2.NoteSequence.TextAnnotation.CHORD_SYMBOL
TRIADS = {"C": (60, 64, 67), "F": (60, 65, 69), "G": (59, 62, 67), "Am": (60, 64, 69)}


def test_chord_vocabulary_and_encodings():
    assert NUM_CHORDS == 97
    assert all(chord_class(chord_figure(c)) == c for c in range(NUM_CHORDS))
    assert parse_chords("C G Am, F") == [1, 8, 22, 6]
    assert chord_class("G7") == 1 + 12 * 4 + 7 and chord_pitch_classes(chord_class("G7")) == (
        2, 5, 7, 11)
    assert chord_class("C/E") == 1 and chord_class("C9") == 1  # reduced to the triad
    assert chord_class("Csus4") == 0  # not a triad: no chord
    triad, pitches = chord_vectors("triad"), chord_vectors("pitches")
    assert triad.shape == (97, 49) and pitches.shape == (97, 37)
    assert np.flatnonzero(triad[chord_class("Am")]).tolist() == [13 + 9]
    # chord pitches: no-chord flag, root one-hot, pitch classes, bass one-hot
    assert np.flatnonzero(pitches[chord_class("Am")]).tolist() == [1 + 9, 13 + 0, 13 + 4, 13 + 9,
                                                                   25 + 9]
    assert np.flatnonzero(pitches[0]).tolist() == [0]
    with pytest.raises(ZooError, match="cannot read the chord 'Hm'"):
        parse_chords("C Hm")


def _lead_sheet(notes, chords=None, voices=()):
    """Melody (pitch, start step, end step) at 120 qpm (0.125 s a sixteenth), optional chord
    symbols (figure, step) and accompanying voices (list of notes, one instrument each)."""
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=120)
    ns.time_signatures.add(numerator=4, denominator=4)
    for i, voice in enumerate([notes, *voices]):
        for pitch, start, end in voice:
            ns.notes.add(pitch=pitch, start_time=start * 0.125, end_time=end * 0.125,
                         velocity=80, instrument=i)
    for figure, step in chords or []:
        ns.text_annotations.add(time=step * 0.125, text=figure, annotation_type=CHORD)
    ns.total_time = max(n.end_time for n in ns.notes)
    return ns


def test_codec_packs_the_data_chords_with_literal_ids():
    codec = get_codec("improv", min_bars=0, min_unique_pitches=0, render_chords=False)
    assert (codec.vocab_size, codec.event_vocab_size, codec.num_events) == (3688, 40, 38)
    ns = _lead_sheet([(60, 0, 4), (64, 4, 8)], chords=[("C", 0), ("Am", 4)])
    ids = codec.encode(ns)
    # NOTE_ON(60) = melody event 2 + 12; NO_EVENT = 0; chord C = 1, Am = 22; id = 2 + c * 38 + e
    assert ids.tolist() == [2 + 38 + 14, 2 + 38, 2 + 38, 2 + 38,
                            2 + 22 * 38 + 18, 2 + 22 * 38, 2 + 22 * 38, 2 + 22 * 38]
    melody, chords = codec.unpack(ids)
    assert melody.tolist() == [16, 2, 2, 2, 20, 2, 2, 2] and chords.tolist() == [1] * 4 + [22] * 4
    back = codec.decode(ids)
    assert [(a.time, a.text) for a in back.text_annotations] == [(0.0, "C"), (0.5, "Am")]
    assert np.array_equal(codec.encode(back), ids)
    assert codec.chord_tones(ids) == (8, 8)  # C in C, E in Am
    up = codec.transpose(ids, 2)
    assert codec.chords_of(up).tolist() == [3] * 4 + [24] * 4 and codec.event_ids(up)[0] == 18


def test_codec_infers_chords_from_the_voices():
    """No chord symbols: note-seq's inference over all voices, one chord per beat."""
    codec = get_codec("improv", min_bars=0, min_unique_pitches=0, render_chords=False)
    melody, accompaniment = [], []
    for beat, name in enumerate(["C", "C", "F", "F", "G", "G", "C", "C"]):
        top = TRIADS[name][2] + 12
        melody.append((top, 4 * beat, 4 * beat + 4))
        accompaniment.append([(p, 4 * beat, 4 * beat + 4) for p in TRIADS[name]])
    voices = [[chord[i] for chord in accompaniment] for i in range(3)]
    ids = codec.encode(_lead_sheet(melody, voices=voices))
    chords = codec.chords_of(ids)
    assert [chord_figure(c) for c in chords[::4]] == ["C", "C", "F", "F", "G", "G", "C", "C"]
    assert {n.pitch for n in codec.decode(ids).notes} <= {m[0] for m in melody}  # the top voice


def _net(C=5, V=11):
    """A 1-layer network, its parameters, its jitted apply, ids_2x9 and cond_2x9xC."""
    model = ConditionedLM(Config(vocab_size=V, condition_size=C, hidden=16, num_layers=1,
                                 dropout=0.0))
    ids = jax.random.randint(jax.random.key(1), (2, 9), 0, V)
    cond = jax.random.normal(jax.random.key(2), (2, 9, C))
    params = jax.jit(model.init_params)(jax.random.key(0))  # eager init is slow (QR)
    return model, params, jax.jit(model.apply), ids, cond


def test_network_shapes_causality_and_conditioning():
    model, params, apply, ids, cond = _net()
    logits, carry = apply({"params": params}, ids, model.carry_for(cond))
    assert logits.shape == (2, 9, 11) and logits.dtype == jnp.float32 and int(carry["pos"]) == 9
    t = 4
    for changed_ids, changed_cond in ((ids.at[:, t].add(1) % 11, cond),
                                      (ids, cond.at[:, t].add(1.0))):
        other, _ = apply({"params": params}, changed_ids, model.carry_for(changed_cond))
        np.testing.assert_array_equal(logits[:, :t], other[:, :t])  # nothing before t moves
        assert not np.allclose(logits[:, t:], other[:, t:])  # the change reaches t and after


def test_step_by_step_reads_the_schedule_as_the_full_pass():
    model, params, apply, ids, cond = _net()
    full, _ = apply({"params": params}, ids, model.carry_for(cond))
    out, carry = apply({"params": params}, ids[:, :3], model.carry_for(cond))
    steps = [out]
    for t in range(3, 9):
        out, carry = apply({"params": params}, ids[:, t:t + 1], carry)
        steps.append(out)
    np.testing.assert_allclose(jnp.concatenate(steps, axis=1), full, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def lead_sheets(tmp_path_factory):
    """Twelve 4-bar MIDI pieces: a melody of chord tones over block chords (inferred chords)."""
    from zoo.data.prepare import prepare

    folder = tmp_path_factory.mktemp("leads")
    rng = np.random.default_rng(0)
    names = [f"lead_{i}.mid" for i in range(60)]
    splits = {n: split_of(n) for n in names}
    chosen = ([n for n in names if splits[n] == "train"][:8]
              + [n for n in names if splits[n] == "valid"][:2]
              + [n for n in names if splits[n] == "test"][:2])
    for name in chosen:
        melody, voices = [], [[], [], []]
        for half in range(8):
            triad = TRIADS[rng.choice(list(TRIADS))]
            for i, p in enumerate(triad):
                voices[i].append((p - 12, 8 * half, 8 * half + 8))
            for step in range(8 * half, 8 * half + 8, 2):
                melody.append((int(rng.choice(triad)) + 12, step, step + 2))
        note_seq.sequence_proto_to_midi_file(_lead_sheet(melody, voices=voices),
                                             str(folder / name))
    return str(prepare("midi-dir", folder, get_codec("improv", min_bars=4), out=folder / "data",
                       workers=0, echo=lambda s: None))


FAST = ["--set", "steps=3", "--set", "batch_size=8", "--set", "seq_len=32",
        "--set", "task.sample_pieces=2", "--no-progress"]


def test_tiny_run_samples_over_a_progression_from_the_cli_and_the_api(lead_sheets, tmp_path,
                                                                      capsys):
    wd = tmp_path / "run"
    assert main(["train", "improv_rnn", "--preset", "tiny", "--data", lead_sheets,
                 "--workdir", str(wd), *FAST]) == 0
    assert main(["sample", "--workdir", str(wd), "--num", "2", "--steps", "32",
                 "--chords", "C G Am F", "--steps-per-chord", "8"]) == 0
    ns = note_seq.midi_file_to_note_sequence(str(wd / "samples" / "sample_0.mid"))
    rendered = {n.pitch % 12 for n in ns.notes if n.instrument == 1 and n.start_time < 1.0}
    assert rendered == {0, 4, 7}  # the first chord, C, rendered for the first 8 sixteenths
    assert main(["sample", "--workdir", str(wd), "--chords", "C Q7"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot read the chord 'Q7'" in err and len(err.splitlines()) == 1

    from zoo.api import load

    model = load(wd)
    with pytest.raises(ZooError, match="does not take --density"):
        model.sample(1, density=4.0)
    report = model.task.extra_metrics(model.params, model.data.split("valid"))  # as zoo eval's
    assert {c.key for c in model.task.report_columns} - {"events", "nll", "accuracy",
                                                         "unigram_nll", "bigram_nll"} == set(report)
    assert report["nll_shuffled"] > 0 and report["chord_tones_data"] > 0.5  # chord tones, mostly
    assert 0 <= report["chord_tones_shuffled"] <= 1 and 0 <= report["chord_tones_samples"] <= 1
    a = model.sample(2, steps=32, chords="C G", steps_per_chord=16, seed=3)
    b = model.sample(2, steps=32, chords="Eb Bbm", steps_per_chord=16, seed=3)
    assert [(t.time, t.text) for t in a[0].text_annotations] == [(0.0, "C"), (2.0, "G")]
    # the same draws under other chords give other melodies: the condition is read
    assert [n.pitch for n in a[0].notes if n.instrument == 0] != [
        n.pitch for n in b[0].notes if n.instrument == 0]
    primer = _lead_sheet([(67, 0, 4), (72, 4, 8)])
    more = model.continue_(primer, steps=24, chords="C F", steps_per_chord=16, seed=1)[0]
    melody = sorted((n.start_time, n.pitch) for n in more.notes if n.instrument == 0)
    assert melody[:2] == [(0.0, 67), (0.5, 72)]  # the primer's notes, kept
    assert [(t.time, t.text) for t in more.text_annotations] == [(0.0, "C"), (2.0, "F")]
