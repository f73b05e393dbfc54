"""Use a trained model from Python, as Magenta's ``TrainedModel``: ``load(workdir)`` returns an
object whose methods fit the family, each taking and returning ``note_seq.NoteSequence``s.

    from zoo.api import load
    model = load("runs/melody_rnn-tiny")                 # a run directory, at its last checkpoint
    pieces = model.sample(4, steps=128, temperature=0.9, seed=0)
    more = model.continue_("primer.mid", steps=64)        # or a NoteSequence
    nll = model.score(pieces[0])                          # nats per event

Families: event models (LSTM RNNs, Music Transformer) ``sample``, ``continue_``, ``score``;
piano-roll models ``sample``, ``score`` (nats per frame); MusicVAE ``encode``, ``decode``,
``sample``, ``interpolate``; MuseGAN ``sample``, ``interpolate``. Steps are the codec's steps
(events, sixteenths or frames); ``seed`` makes every draw repeatable.
"""

from __future__ import annotations

from pathlib import Path

import jax
import note_seq
import numpy as np

from zoo.bundle import load_bundle
from zoo.codecs import END
from zoo.codecs.base import without_corpus_filters
from zoo.data.audio import DEFAULT_SAMPLE_RATE, write_wav
from zoo.data.writers import write_midi, write_pieces
from zoo.errors import SkipPiece, ZooError
from zoo.families.coconet.task import CoconetTask
from zoo.families.frames.task import FrameModelTask
from zoo.families.gan.task import GanTask
from zoo.families.lm.task import LanguageModelTask
from zoo.families.vae import task as vae
from zoo.generate import check_conditions
from zoo.runs import Trained, load_trained

Piece = note_seq.NoteSequence | str | Path


def _note_sequence(piece: Piece) -> note_seq.NoteSequence:
    if isinstance(piece, note_seq.NoteSequence):
        return piece
    try:
        return note_seq.midi_file_to_note_sequence(str(piece))
    except Exception as e:  # note-seq raises several types for unreadable files
        raise ZooError(f"cannot read {piece}: {str(e).splitlines()[0]}") from None


class TrainedModel:
    """A trained model: ``task`` (the family: network, codec, configs), ``params``, ``codec``,
    ``step``, ``name``; ``data`` is the run's prepared data (None for a bundle)."""

    def __init__(self, task, params, step: int, name: str, data=None):
        self.task, self.codec, self.params, self.step = task, task.codec, params, step
        self.name, self.data = name, data

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} at step {self.step}>"

    def held_out(self, i: int = 0, split: str = "valid") -> note_seq.NoteSequence:
        """Piece ``i`` of the run's ``split`` (default: validation, not trained on), decoded to a
        NoteSequence; a bundle carries no data, so it has none."""
        if self.data is None:
            raise ZooError(f"{self.name} is a bundle: it carries no data (load the run directory)")
        pieces = self.data.split(split)
        if not 0 <= i < len(pieces):
            raise ZooError(f"{self.data.dir} has {len(pieces)} {split} pieces; there is no {i}")
        return self.codec.decode(np.asarray(pieces[i]))

    def write(self, pieces: list[note_seq.NoteSequence], folder: str | Path, wav: bool = True,
              sample_rate: int = DEFAULT_SAMPLE_RATE) -> list[Path]:
        """Write sample_<i>.mid, .png (piano roll), .wav (``sample_rate`` Hz, if ``wav``) and an
        index.html showing them into ``folder``; returns the MIDI paths. Without a renderer the
        WAVs are skipped with one printed line."""
        return write_pieces(pieces, Path(folder), f"{self.name} step {self.step}", wav=wav,
                            sample_rate=sample_rate)

    @staticmethod
    def write_midi(piece: note_seq.NoteSequence, path: str | Path) -> Path:
        """One piece as a standard MIDI file."""
        return write_midi(piece, Path(path))

    @staticmethod
    def write_wav(piece: note_seq.NoteSequence, path: str | Path,
                  sample_rate: int = DEFAULT_SAMPLE_RATE) -> Path:
        """One piece rendered with the General MIDI SoundFont: 16-bit stereo PCM at
        ``sample_rate`` Hz, as long as the piece (raises ZooError naming what to install when
        no renderer is there)."""
        return write_wav(piece, Path(path), sample_rate)

    def _encode(self, piece: Piece) -> np.ndarray:
        """A piece in the codec's ids (or frames), without the corpus filters (minimum bars)."""
        try:
            return without_corpus_filters(self.codec).encode(_note_sequence(piece))
        except SkipPiece as e:
            raise ZooError(f"cannot encode the piece with codec {self.codec.name}: {e.reason}"
                           ) from None

    def _score(self, pieces) -> list[float]:
        """Mean NLL per scored step of each piece, nats (the task's own evaluation batches)."""
        out = []
        for piece in pieces:
            batches = self.task.eval_batches([self._encode(piece)], 1)
            sums = None
            for b in batches:
                _, s = self.task.loss(self.params, b, jax.random.key(0), step=None, train=False)
                s = jax.device_get(s)
                sums = s if sums is None else jax.tree.map(lambda x, y: x + y, sums, s)
            out.append(self.task.summarize(sums)["nll"])
        return out

    def sample(self, n: int, steps: int | None = None, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, seed: int = 0) -> list[note_seq.NoteSequence]:
        """``n`` pieces of up to ``steps`` codec steps (default: the training window)."""
        if n < 1:
            raise ZooError(f"n must be at least 1, not {n}")
        return self.task.generate(self.params, n, steps or self.task.cfg.seq_len,
                                  np.array([END], np.int32), jax.random.key(seed),
                                  temperature=temperature, top_k=top_k, top_p=top_p)


class EventModel(TrainedModel):
    """An event language model (Melody/Performance/Drums/Polyphony RNN, Music Transformer).

    Conditioned ones take their conditions as keywords: Improv RNN ``chords="C G Am F"`` and
    ``steps_per_chord=16``; conditioned Performance RNN ``density=4.0`` (notes per second) and
    ``pitch_histogram="C major"`` (or 12 weights from C); left out, a condition takes its default
    (Improv: "C G Am F C G F C"; Performance: the control absent)."""

    def sample(self, n: int, steps: int | None = None, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, seed: int = 0, *, chords=None, steps_per_chord=None,
               density=None, pitch_histogram=None) -> list[note_seq.NoteSequence]:
        """``n`` pieces of up to ``steps`` events (default: the training window)."""
        return self.continue_(None, steps, n, temperature, top_k, top_p, seed, chords=chords,
                              steps_per_chord=steps_per_chord, density=density,
                              pitch_histogram=pitch_histogram)

    def continue_(self, primer: Piece | None, steps: int | None = None, n: int = 1,
                  temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                  seed: int = 0, *, chords=None, steps_per_chord=None, density=None,
                  pitch_histogram=None) -> list[note_seq.NoteSequence]:
        """``n`` continuations of ``primer`` (a NoteSequence or a MIDI path; None: from nothing)
        by up to ``steps`` events each; every returned piece starts with the primer's events."""
        if n < 1:
            raise ZooError(f"n must be at least 1, not {n}")
        given = check_conditions(self.task, dict(
            chords=chords, steps_per_chord=steps_per_chord, density=density,
            pitch_histogram=pitch_histogram))
        prefix = np.array([END], np.int32) if primer is None else np.concatenate(
            [[END], self._encode(primer)]).astype(np.int32)
        return self.task.generate(self.params, n, steps or self.task.cfg.seq_len, prefix,
                                  jax.random.key(seed), temperature=temperature, top_k=top_k,
                                  top_p=top_p, **given)

    def score(self, sequence: Piece | list) -> float | list[float]:
        """NLL per event in nats of one piece (or a list of pieces: one value each), every event
        after the start symbol scored, the end symbol included, as ``zoo eval`` scores."""
        many = isinstance(sequence, list)
        scores = self._score(sequence if many else [sequence])
        return scores if many else scores[0]


class PianorollModel(TrainedModel):
    """A piano-roll frame model (RNN, RNN-NADE, Transformer)."""

    def score(self, sequence: Piece | list) -> float | list[float]:
        """NLL per frame in nats (the whole frame of keys at once, the first given silence)."""
        many = isinstance(sequence, list)
        scores = self._score(sequence if many else [sequence])
        return scores if many else scores[0]


class MusicVAEModel(TrainedModel):
    """MusicVAE, as Magenta's ``TrainedModel``: windows of ``task.window_steps`` sixteenths."""

    def encode(self, sequences: list[Piece]) -> tuple[np.ndarray, np.ndarray]:
        """(mu_NxZ, sigma_NxZ) of q(z|x) for the first window of each piece."""
        return vae.encode(self.task, self.params, [_note_sequence(s) for s in sequences])

    def decode(self, z_NxZ, temperature: float = 0.5, seed: int = 0
               ) -> list[note_seq.NoteSequence]:
        """One window per row of z (temperature 0: the most likely token at every step)."""
        ids = vae.decode(self.task, self.params, np.asarray(z_NxZ, np.float32),
                         jax.random.key(seed), temperature=temperature)
        return [self.codec.decode(row) for row in ids]

    def sample(self, n: int, steps: int | None = None, temperature: float = 0.5, top_k: int = 0,
               top_p: float = 1.0, seed: int = 0) -> list[note_seq.NoteSequence]:
        """``n`` windows decoded from z ~ N(0, I) (``steps``, if given, must be the window)."""
        return super().sample(n, steps or self.task.window_steps, temperature, top_k, top_p,
                              seed)

    def interpolate(self, a: Piece, b: Piece, n: int = 8, temperature: float = 0.5,
                    seed: int = 0) -> list[note_seq.NoteSequence]:
        """``n`` windows decoded along the spherical path from a's mean z to b's."""
        ids = vae.interpolate(self.task, self.params, _note_sequence(a), _note_sequence(b), n,
                              jax.random.key(seed), temperature=temperature)
        return [self.codec.decode(row) for row in ids]


class MuseGANModel(TrainedModel):
    """MuseGAN: phrases of ``bars`` bars from noise, one instrument per track."""

    def sample(self, n: int, steps: int | None = None, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, seed: int = 0) -> list[note_seq.NoteSequence]:
        return super().sample(n, steps, temperature, top_k, top_p, seed)

    def interpolate(self, a: Piece, b: Piece, n: int = 8, temperature: float = 0.5,
                    seed: int = 0) -> note_seq.NoteSequence:
        """One NoteSequence: ``n`` phrases end to end along the spherical path between the
        latents found for the first phrases of a and b (the generator inverted)."""
        return self.task.interpolate(self.params, _note_sequence(a), _note_sequence(b), n,
                                     jax.random.key(seed), temperature=temperature)


def _source(piece: Piece, default: str) -> str:
    return str(piece) if isinstance(piece, (str, Path)) else default


class CoconetModel(TrainedModel):
    """Coconet: four voices on the sixteenth grid, every draw by blocked Gibbs sampling with
    the annealed masking schedule (``task.gibbs_steps`` steps, temperature ``task.temperature``
    unless given)."""

    def sample(self, n: int, steps: int | None = None, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, seed: int = 0) -> list[note_seq.NoteSequence]:
        """``n`` pieces of ``steps`` sixteenths (default: the training crop), all voices drawn
        (temperature 1.0: the run's own, Magenta's 0.99)."""
        return super().sample(n, steps, temperature, top_k, top_p, seed)

    def harmonize(self, melody: Piece, n: int = 1, temperature: float | None = None,
                  gibbs_steps: int | None = None, seed: int = 0) -> list[note_seq.NoteSequence]:
        """``n`` harmonisations of ``melody`` (its highest voice): each keeps the melody's notes
        as they were (instrument 0) and adds alto, tenor, bass (instruments 1..3)."""
        return self.task.harmonize(self.params, _note_sequence(melody), jax.random.key(seed),
                                   num=n, source=_source(melody, "the melody"),
                                   temperature=temperature, steps=gibbs_steps)

    def infill(self, piece: Piece, bars: str, n: int = 1, temperature: float | None = None,
               gibbs_steps: int | None = None, seed: int = 0) -> list[note_seq.NoteSequence]:
        """``n`` versions of ``piece`` with every voice of ``bars`` ("3-4", from 1, inclusive)
        drawn again; every note outside those bars is kept as it was."""
        return self.task.infill(self.params, _note_sequence(piece), bars, jax.random.key(seed),
                                num=n, source=_source(piece, "the piece"),
                                temperature=temperature, steps=gibbs_steps)


_BY_TASK = [(LanguageModelTask, EventModel), (FrameModelTask, PianorollModel),
            (vae.VAETask, MusicVAEModel), (GanTask, MuseGANModel), (CoconetTask, CoconetModel)]


def load(path: str | Path) -> TrainedModel:
    """The trained model in a run directory (at its latest checkpoint) or a bundle file
    (``zoo export``)."""
    path = Path(path)
    if path.is_file():
        b = load_bundle(path)
        task, params, step, name, data = b.task, b.params, b.step, b.name, None
    else:
        trained: Trained = load_trained(path)
        spec = trained.built.spec
        task, params, step = trained.built.task, trained.state.params, trained.step
        name, data = f"{spec.model}/{spec.preset}", trained.built.data
    for task_type, model_type in _BY_TASK:
        if isinstance(task, task_type):
            return model_type(task, params, step, name, data)
    raise ZooError(f"{path}: no Python API for {type(task).__name__} yet")
