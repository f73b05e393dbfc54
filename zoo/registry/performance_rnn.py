"""Performance RNN (Magenta): an LSTM over performance events with velocity (388 events:
128 note-on, 128 note-off, 100 time shifts of 10 ms, 32 velocity bins).

with_velocity: zoo train performance_rnn                     # 3x512, batch 64, clip 3, no dropout
tiny:          zoo train performance_rnn --preset tiny
Data: 32-512 events per window; augmentation: time stretch 0.95-1.05, transpose -3..3.
"""

from zoo.config import TrainConfig
from zoo.nets.lstm_lm import Config
from zoo.registry.preset import Preset

DEFAULT_PRESET = "with_velocity"

PRESETS = {
    "with_velocity": Preset(
        Config(hidden=512, num_layers=3, dropout=0.0),
        TrainConfig(batch_size=64, seq_len=512, clip_norm=3.0, transpose=(-3, 3),
                    stretch=(0.95, 1.05)),
        codec="performance", source="embedded-chorales",
        note="Magenta performance_with_dynamics: 3x512, batch 64, keep 1.0, clip 3"),
    "tiny": Preset(
        Config(hidden=128, num_layers=1, dropout=0.0),
        TrainConfig(steps=400, batch_size=32, seq_len=128, learning_rate=3e-3,
                    transpose=(-3, 3), stretch=(0.95, 1.05), eval_every=200,
                    checkpoint_every=200, eval_max_pieces=40),
        codec="performance", source="embedded-chorales", note="CPU size"),
}
