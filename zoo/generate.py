"""``zoo sample``: draw pieces from a trained run and write MIDI files and piano-roll PNGs
(primers from a MIDI file or a list of pitches, encoded by the run's codec)."""

from __future__ import annotations

import time
from pathlib import Path

import jax
import note_seq
import numpy as np
from note_seq.protobuf import music_pb2

from zoo.codecs import END
from zoo.codecs.base import without_corpus_filters
from zoo.data.audio import DEFAULT_SAMPLE_RATE
from zoo.data.writers import write_pieces  # noqa: F401  (every sampler writes through it)
from zoo.errors import SkipPiece, ZooError


def primer_from_pitches(pitches: list[int], qpm: float = 120.0) -> music_pb2.NoteSequence:
    """One quarter note per pitch, in order."""
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=qpm)
    beat = 60.0 / qpm
    for i, p in enumerate(pitches):
        ns.notes.add(pitch=int(p), start_time=i * beat, end_time=(i + 1) * beat, velocity=80)
    ns.total_time = len(pitches) * beat
    return ns


def primer_ids(codec, primer_midi: str | None, primer_pitches: str | None) -> np.ndarray:
    """The start of every sample: for token codecs END (the start symbol) then the encoded
    primer; for frame codecs the primer's frames (T, P), or END alone when there is none."""
    if primer_midi and primer_pitches:
        raise ZooError("give --primer or --primer-pitches, not both")
    ns = None
    if primer_midi:
        try:
            ns = note_seq.midi_file_to_note_sequence(primer_midi)
        except Exception as e:  # note-seq raises several types for unreadable files
            raise ZooError(f"cannot read primer {primer_midi}: {str(e).splitlines()[0]}") from None
    elif primer_pitches:
        try:
            pitches = [int(p) for p in primer_pitches.split(",") if p.strip()]
        except ValueError:
            raise ZooError(f"bad --primer-pitches '{primer_pitches}': expected e.g. 60,62,64"
                           ) from None
        ns = primer_from_pitches(pitches)
    if ns is None:
        return np.array([END], np.int32)
    # A primer is not training data: the codec's corpus filters (minimum bars...) do not apply.
    try:
        ids = without_corpus_filters(codec).encode(ns)
    except SkipPiece as e:
        raise ZooError(f"primer cannot be encoded with codec {codec.name}: {e.reason}") from None
    if codec.kind == "frames":
        return ids  # frame models start from a silent frame; the primer is frames (T, P)
    return np.concatenate([[END], ids]).astype(np.int32)


def check_conditions(task, conditions: dict | None) -> dict:
    """The conditions given (None values dropped), or a ZooError when ``task`` takes none of
    them (conditioned models list theirs in ``condition_names``)."""
    given = {k: v for k, v in (conditions or {}).items() if v is not None}
    allowed = getattr(task, "condition_names", ())
    wrong = [k for k in given if k not in allowed]
    if wrong:
        flags = ", ".join("--" + k.replace("_", "-") for k in wrong)
        takes = ", ".join("--" + k.replace("_", "-") for k in allowed) or "no conditions"
        raise ZooError(f"this model does not take {flags} (it takes {takes})")
    return given


def write_samples(task, params, step: int, label: str, out: Path, num: int = 4,
                  steps: int | None = None, primer: str | None = None,
                  primer_pitches: str | None = None, temperature: float = 1.0, top_k: int = 0,
                  top_p: float = 1.0, seed: int = 0, wav: bool = False,
                  sample_rate: int = DEFAULT_SAMPLE_RATE, echo=print,
                  conditions: dict | None = None) -> list[Path]:
    """Sample ``num`` pieces of up to ``steps`` events from ``task`` with ``params``; write
    sample_<i>.mid, .png (and .wav) and index.html into ``out``. Returns the MIDI paths.
    ``conditions``: what a conditioned model follows (chords, density, pitch_histogram)."""
    steps = steps or task.cfg.seq_len
    prefix = primer_ids(task.codec, primer, primer_pitches)
    given = check_conditions(task, conditions)
    t0 = time.perf_counter()
    pieces = task.generate(params, num, steps, prefix, jax.random.key(seed),
                           temperature=temperature, top_k=top_k, top_p=top_p, **given)
    seconds = time.perf_counter() - t0
    settings = (f"temperature {temperature}, top-k {top_k or 'off'}, top-p {top_p}, seed {seed}"
                + (f", primer {primer or primer_pitches}" if primer or primer_pitches else "")
                + "".join(f", {k.replace('_', ' ')} {v}" for k, v in given.items()))
    paths = write_pieces(pieces, out, f"{label} step {step}", wav=wav, sample_rate=sample_rate,
                         notes=[f"{num} samples of up to {steps} steps; {settings}."], echo=echo)
    echo(f"wrote {num} samples and index.html to {out} ({seconds:.2f} s including compilation, "
         f"checkpoint step {step})")
    return paths


def generate(workdir: Path, num: int = 4, steps: int | None = None, primer: str | None = None,
             primer_pitches: str | None = None, temperature: float = 1.0, top_k: int = 0,
             top_p: float = 1.0, seed: int = 0, out: Path | None = None, wav: bool = False,
             sample_rate: int = DEFAULT_SAMPLE_RATE, echo=print,
             conditions: dict | None = None) -> list[Path]:
    """``write_samples`` from the run in ``workdir`` (default out: WORKDIR/samples)."""
    from zoo.runs import load_trained

    trained = load_trained(workdir)
    return write_samples(trained.built.task, trained.state.params, trained.step,
                         trained.built.spec.model, Path(out) if out else Path(workdir) / "samples",
                         num, steps, primer, primer_pitches, temperature, top_k, top_p, seed,
                         wav=wav, sample_rate=sample_rate, echo=echo, conditions=conditions)
