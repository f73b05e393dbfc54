"""Piano-roll RNN-NADE: an LSTM whose state sets the biases of a NADE that factorizes each frame
key by key (Boulanger-Lewandowski et al., ICML 2012; Magenta's pianoroll_rnn_nade).

magenta: zoo train pianoroll_rnn_nade --preset magenta   # LSTM 3x128, NADE hidden 128
cpu:     zoo train pianoroll_rnn_nade --preset cpu       # 2x128, NADE 64: minutes on 2 cores
tiny:    zoo train pianoroll_rnn_nade --preset tiny      # CPU smoke size: seconds
Data: `zoo prepare embedded-chorales --codec pianoroll` (the default, standing in for JSB) or
`zoo prepare bl2012 FILE --codec pianoroll`; score with `zoo eval --workdir DIR`; sample with
`zoo sample --workdir DIR` (ancestral, key by key, inside jit).
"""

from zoo.config import TrainConfig
from zoo.families.frames.config import Config as FramesConfig
from zoo.nets.pianoroll import Config
from zoo.registry.preset import Preset

DEFAULT_PRESET = "magenta"

PRESETS = {
    "magenta": Preset(Config(hidden=128, num_layers=3, dropout=0.5, head="nade",
                             nade_hidden=128),
                      TrainConfig(steps=5000, batch_size=64, seq_len=128, learning_rate=1e-3,
                                  clip_norm=5.0, eval_every=100, checkpoint_every=100,
                                  keep_checkpoints=6, early_stopping_patience=5),
                      codec="pianoroll", source="embedded-chorales",
                      note="Magenta pianoroll_rnn_nade: LSTM 3x128, NADE hidden 128, batch 64, "
                           "keep 0.5, clip 5, Adam 1e-3; early stopping on valid NLL"),
    "cpu": Preset(Config(hidden=128, num_layers=2, dropout=0.2, head="nade", nade_hidden=64),
                  TrainConfig(steps=2000, batch_size=16, seq_len=64, learning_rate=5e-3,
                              clip_norm=5.0, eval_every=100, checkpoint_every=100,
                              keep_checkpoints=6, early_stopping_patience=5),
                  codec="pianoroll", source="embedded-chorales",
                  note="the benchmark's CPU size: 2x128, NADE 64, drop 0.2, batch 16x64, "
                       "Adam 5e-3"),
    "tiny": Preset(Config(hidden=32, num_layers=1, head="nade", nade_hidden=32),
                   TrainConfig(steps=200, batch_size=16, seq_len=64, learning_rate=1e-2,
                               clip_norm=1.0, eval_every=100, checkpoint_every=100,
                               log_every=20),
                   codec="pianoroll", source="embedded-chorales",
                   task=FramesConfig(accuracy_samples=8), note="CPU smoke size"),
}
