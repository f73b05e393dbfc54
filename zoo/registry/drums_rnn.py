"""Drums RNN (Magenta drum_kit): an LSTM over 9 drum classes as 2^9 = 512 multi-hot events.

drum_kit: zoo train drums_rnn --data <prepared midi-dir with --codec drums>   # 3x256, attention 32
tiny:     zoo train drums_rnn --preset tiny --data ...
The embedded corpora have no drums: prepare your own MIDI folder (`zoo prepare midi-dir PATH
--codec drums`), or Groove (datasets/groove.md).
"""

from zoo.config import TrainConfig
from zoo.nets.lstm_lm import Config
from zoo.registry.preset import Preset

DEFAULT_PRESET = "drum_kit"

PRESETS = {
    "drum_kit": Preset(
        Config(hidden=256, num_layers=3, dropout=0.5, attn_length=32),
        TrainConfig(batch_size=128, seq_len=256, clip_norm=3.0),
        codec="drums", note="Magenta drum_kit: 3x256, batch 128, keep 0.5, clip 3, attention 32"),
    "tiny": Preset(
        Config(hidden=64, num_layers=1, dropout=0.0, attn_length=8),
        TrainConfig(steps=200, batch_size=16, seq_len=64, learning_rate=3e-3,
                    eval_every=100, checkpoint_every=100),
        codec="drums", note="CPU size"),
}
