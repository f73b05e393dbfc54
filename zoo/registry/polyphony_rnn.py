"""Polyphony RNN (Magenta): an LSTM over START, END, STEP_END and note-on / note-continue events
for 128 pitches (259 events), 16th-note steps.

default: zoo train polyphony_rnn                   # 3x256, batch 64, keep 0.5, clip 5, transpose -4..4
tiny:    zoo train polyphony_rnn --preset tiny
"""

from zoo.config import TrainConfig
from zoo.nets.lstm_lm import Config
from zoo.registry.preset import Preset

DEFAULT_PRESET = "default"

PRESETS = {
    "default": Preset(
        Config(hidden=256, num_layers=3, dropout=0.5),
        TrainConfig(batch_size=64, seq_len=512, clip_norm=5.0, transpose=(-4, 4)),
        codec="polyphony", source="embedded-chorales",
        note="Magenta polyphony_rnn: 3x256, batch 64, keep 0.5, clip 5, 80-512 steps"),
    "tiny": Preset(
        Config(hidden=128, num_layers=1, dropout=0.0),
        TrainConfig(steps=400, batch_size=32, seq_len=128, learning_rate=3e-3,
                    transpose=(-4, 4), eval_every=200, checkpoint_every=200, eval_max_pieces=40),
        codec="polyphony", source="embedded-chorales", note="CPU size"),
}
