"""Melody RNN (Magenta): an LSTM over the melody one-hot events (pitches 48-84, 16th notes).

basic:     zoo train melody_rnn --preset basic       # 2x128, batch 128, dropout 0.5, clip 5
attention: zoo train melody_rnn --preset attention   # + attention over the last 40 outputs, clip 3
tiny:      zoo train melody_rnn --preset tiny        # the CPU demo (make demo): a few minutes
"""

from zoo.config import TrainConfig
from zoo.nets.lstm_lm import Config
from zoo.registry.preset import Preset

DEFAULT_PRESET = "basic"
_TRAIN = TrainConfig(batch_size=128, seq_len=256, learning_rate=1e-3, clip_norm=5.0)

PRESETS = {
    "basic": Preset(Config(hidden=128, num_layers=2, dropout=0.5), _TRAIN,
                    codec="melody", source="embedded-folk",
                    note="Magenta basic_rnn: 2x128, batch 128, keep 0.5, clip 5, Adam 1e-3"),
    "attention": Preset(Config(hidden=128, num_layers=2, dropout=0.5, attn_length=40),
                        TrainConfig(batch_size=128, seq_len=256, clip_norm=3.0),
                        codec="melody", source="embedded-folk",
                        note="Magenta attention_rnn: attention length 40, clip 3"),
    "tiny": Preset(Config(hidden=128, num_layers=1, dropout=0.1),
                   TrainConfig(steps=1500, batch_size=32, seq_len=128, learning_rate=3e-3,
                               clip_norm=5.0, eval_every=500, checkpoint_every=500,
                               log_every=50, eval_max_pieces=200),
                   codec="melody", source="embedded-folk",
                   note="CPU demo size: 1x128, a few minutes on 2 cores"),
}
