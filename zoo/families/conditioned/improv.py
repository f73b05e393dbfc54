"""Improv RNN (Magenta's ``improv_rnn``): a melody LSTM that reads the chord of every step.

Data: ``zoo.codecs.improv`` packs a melody event and a chord class per sixteenth note; the
network reads and predicts the melody ids (40) and reads the chord as a vector
(``task.chord_encoding``: triad one-hot 49, or chord pitches 37).

Sampling follows a progression: ``generate(..., chords="C G Am F", steps_per_chord=16)`` (default
Magenta's example "C G Am F C G F C"), the progression repeated over primer and sample; every row
runs ``steps`` sixteenths (END is never drawn). The report adds what the conditioning does:

- ``nll_shuffled``: the same NLL with each piece's chords shuffled (the labels of its chord
  segments permuted, segment lengths kept): the conditioning helps where this is higher;
- ``chord_tones``: share of sounding melody steps whose pitch class is in the chord (N.C. steps
  not counted), for the data, for the data against shuffled chords (what chance gives), and for
  melodies sampled over the first ``seq_len`` steps of ``task.sample_pieces`` of the split's own
  chord tracks.
"""

from __future__ import annotations

import jax
import numpy as np

from zoo.codecs import END
from zoo.codecs.improv import NUM_CHORDS, chord_vectors, parse_chords
from zoo.errors import ZooError
from zoo.families.conditioned.config import ImprovConfig
from zoo.families.conditioned.task import ConditionedTask
from zoo.families.lm.batches import with_end_symbols
from zoo.families.lm.task import LanguageModelTask
from zoo.families.task import Column

DEFAULT_CHORDS = "C G Am F C G F C"


def shuffled_segments(chords: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Chord classes (T,) with the labels of their constant runs permuted (lengths kept)."""
    chords = np.asarray(chords)
    if not len(chords):
        return chords
    starts = np.flatnonzero(np.concatenate([[True], chords[1:] != chords[:-1]]))
    labels = chords[starts][rng.permutation(len(starts))]
    return np.repeat(labels, np.diff(np.concatenate([starts, [len(chords)]])))


class ImprovTask(ConditionedTask):
    """Chord-conditioned melody: see the module docstring."""

    stop_at_end = False
    condition_names = ("chords", "steps_per_chord")
    report_columns = (*LanguageModelTask.report_columns[:2],
                      Column("nll_shuffled", "shuffled", ".4f", 9),
                      LanguageModelTask.report_columns[2],
                      Column("chord_tones_data", "ct-data", ".3f", 8),
                      Column("chord_tones_shuffled", "ct-shuf", ".3f", 8),
                      Column("chord_tones_samples", "ct-sample", ".3f", 9),
                      *LanguageModelTask.report_columns[4:])
    report_notes = ("shuffled: NLL/event with each piece's chord segments permuted; ct: share "
                    "of sounding melody steps in the current chord (data, data over shuffled "
                    "chords, samples over the data's chords)",)

    @staticmethod
    def default_config():
        return ImprovConfig()

    def check_network(self) -> None:
        super().check_network()
        if self.model.config.num_events != self.codec.event_vocab_size:
            raise ZooError(f"the network predicts {self.model.config.num_events} ids but the "
                           f"melody has {self.codec.event_vocab_size}: set "
                           f"model.event_vocab={self.codec.event_vocab_size}")

    @property
    def condition_size(self) -> int:
        return chord_vectors(self.config.chord_encoding).shape[1]

    def _vectors(self, chords: np.ndarray) -> np.ndarray:
        return chord_vectors(self.config.chord_encoding)[chords]

    def track(self, ids, rng):
        seq = with_end_symbols(ids)
        return self.codec.event_ids(seq), self._vectors(self.codec.chords_of(seq))

    def shuffled_track(self, seed: int = 0):
        """``track`` with each piece's chord segments permuted (seeded by the piece's ids)."""

        def track(ids, rng):
            melody, chords = self.codec.unpack(ids)
            order = np.random.default_rng([seed, len(ids), int(np.sum(ids, dtype=np.int64))])
            return self.track(self.codec.pack(melody, shuffled_segments(chords, order)), None)

        return track

    # ---- sampling
    def schedule(self, prefix_ids, steps: int, chords=DEFAULT_CHORDS, steps_per_chord: int = 16):
        progression = parse_chords(chords) if isinstance(chords, str) else list(chords)
        if steps_per_chord < 1:
            raise ZooError(f"steps per chord must be at least 1, not {steps_per_chord}")
        if not progression or min(progression) < 0 or max(progression) >= NUM_CHORDS:
            raise ZooError(f"chord classes must lie in 0..{NUM_CHORDS - 1}")
        primer = self.codec.event_ids(prefix_ids)
        total = len(primer) - 1 + steps
        track = np.asarray(progression)[(np.arange(total) // steps_per_chord) % len(progression)]
        return primer, self._vectors(track), track

    def piece(self, events, track):
        events = np.asarray(events)[: len(track)]
        return self.codec.decode(self.codec.pack(events, track[: len(events)]))

    # ---- the report
    def extra_metrics(self, params, split) -> dict[str, float]:
        data, shuffled = [0, 0], [0, 0]
        rng = np.random.default_rng(0)
        for i in range(len(split)):
            ids = np.asarray(split[i])
            melody, chords = self.codec.unpack(ids)
            for acc, c in ((data, chords), (shuffled, shuffled_segments(chords, rng))):
                hits, total = self.codec.chord_tones(self.codec.pack(melody, c))
                acc[0], acc[1] = acc[0] + hits, acc[1] + total
        return {"nll_shuffled": self.nll(params, split, self.shuffled_track()),
                "chord_tones_data": data[0] / max(data[1], 1),
                "chord_tones_shuffled": shuffled[0] / max(shuffled[1], 1),
                "chord_tones_samples": self.sampled_chord_tones(params, split)}

    def sampled_chord_tones(self, params, split, seed: int = 0) -> float:
        """Chord-tone share of melodies sampled (temperature 1) over the chords of the first
        ``seq_len`` steps of ``sample_pieces`` evenly spaced pieces of ``split``."""
        n = min(self.config.sample_pieces, len(split))
        if n == 0:
            return float("nan")
        picks = np.unique(np.linspace(0, len(split) - 1, n).round().astype(int))
        steps = self.cfg.seq_len
        tracks = []
        for i in picks:
            chords = self.codec.chords_of(np.asarray(split[i]))[:steps]
            tracks.append(np.resize(chords, steps))  # a short piece's chords repeated
        tracks = np.stack(tracks)
        primer = np.full((len(tracks), 1), END, np.int32)  # the start symbol
        rows = self.sample_events(params, primer, self._vectors(tracks), steps,
                                  jax.random.key(seed))
        hits = total = 0
        for row, chords in zip(rows, tracks):
            h, t = self.codec.chord_tones(self.codec.pack(row, chords))
            hits, total = hits + h, total + t
        return hits / max(total, 1)
