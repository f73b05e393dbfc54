"""Improv RNN (Magenta's improv_rnn): a melody LSTM conditioned on the chord of every sixteenth
(melody 48-84 as the melody codec, chords from the data or inferred from the chorales' voices).

basic_improv:         zoo train improv_rnn --preset basic_improv          # triad one-hot (49), 2x64
chord_pitches_improv: zoo train improv_rnn --preset chord_pitches_improv  # chord pitches (37), 3x256
tiny:                 zoo train improv_rnn --preset tiny                   # CPU: minutes
Sample: zoo sample --workdir RUN --chords "C G Am F" --steps-per-chord 16
"""

from zoo.config import TrainConfig
from zoo.families.conditioned.config import ImprovConfig
from zoo.nets.conditioned_lm import Config
from zoo.registry.preset import Preset

DEFAULT_PRESET = "basic_improv"
_MELODY = 40  # the melody codec's ids: the network reads and predicts these, the chord is input

PRESETS = {
    "basic_improv": Preset(
        Config(event_vocab=_MELODY, condition_size=49, hidden=64, num_layers=2, dropout=0.5),
        TrainConfig(batch_size=128, seq_len=256, learning_rate=1e-3, clip_norm=5.0),
        codec="improv", source="embedded-chorales", task=ImprovConfig(chord_encoding="triad"),
        note="Magenta basic_improv: triad chords (49), 2x64, batch 128, keep 0.5, clip 5"),
    "chord_pitches_improv": Preset(
        Config(event_vocab=_MELODY, condition_size=37, hidden=256, num_layers=3, dropout=0.5),
        TrainConfig(batch_size=128, seq_len=256, learning_rate=1e-3, clip_norm=3.0),
        codec="improv", source="embedded-chorales", task=ImprovConfig(chord_encoding="pitches"),
        note="Magenta chord_pitches_improv: chord pitches (37), 3x256, batch 128, clip 3"),
    "tiny": Preset(
        Config(event_vocab=_MELODY, condition_size=37, hidden=128, num_layers=1, dropout=0.2),
        TrainConfig(steps=1000, batch_size=32, seq_len=128, learning_rate=3e-3, clip_norm=5.0,
                    transpose=(-5, 6), eval_every=500, checkpoint_every=500, log_every=50),
        codec="improv", source="embedded-chorales", task=ImprovConfig(chord_encoding="pitches"),
        note="CPU size: chord pitches, 1x128, transposed -5..6"),
}
