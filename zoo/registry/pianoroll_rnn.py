"""Piano-roll RNN: an LSTM over binary frames with an independent Bernoulli per key, the "RNN"
baseline of Boulanger-Lewandowski et al. (ICML 2012) and the LSTM of Chung et al. (2014).

jsb:   zoo train pianoroll_rnn --preset jsb     # 1x36 LSTM (~21K params, Chung et al.'s size)
large: zoo train pianoroll_rnn --preset large   # 3x128, Magenta pianoroll_rnn_nade's RNN
tiny:  zoo train pianoroll_rnn --preset tiny    # CPU smoke size: seconds
Data: `zoo prepare embedded-chorales --codec pianoroll` (the default, standing in for JSB) or
`zoo prepare bl2012 FILE --codec pianoroll`; score with `zoo eval --workdir DIR`.
"""

from zoo.config import TrainConfig
from zoo.nets.pianoroll import Config
from zoo.registry.preset import Preset

DEFAULT_PRESET = "jsb"

PRESETS = {
    "jsb": Preset(Config(hidden=36, num_layers=1, head="bernoulli"),
                  TrainConfig(steps=5000, batch_size=32, seq_len=128, learning_rate=1e-2,
                              clip_norm=1.0, eval_every=100, checkpoint_every=100,
                              keep_checkpoints=6, early_stopping_patience=5),
                  codec="pianoroll", source="embedded-chorales",
                  note="Chung et al. 2014 music LSTM: 36 units (~20K params, ~), clip 1; "
                       "Adam for their RMSProp; early stopping on valid NLL"),
    "large": Preset(Config(hidden=128, num_layers=3, dropout=0.5, head="bernoulli"),
                    TrainConfig(steps=5000, batch_size=64, seq_len=128, learning_rate=1e-3,
                                clip_norm=5.0, eval_every=100, checkpoint_every=100,
                                keep_checkpoints=6, early_stopping_patience=5),
                    codec="pianoroll", source="embedded-chorales",
                    note="Magenta pianoroll_rnn_nade's LSTM 3x128, keep 0.5, clip 5, batch 64, "
                         "with a Bernoulli head"),
    "tiny": Preset(Config(hidden=32, num_layers=1, head="bernoulli"),
                   TrainConfig(steps=200, batch_size=16, seq_len=64, learning_rate=1e-2,
                               clip_norm=1.0, eval_every=100, checkpoint_every=100,
                               log_every=20),
                   codec="pianoroll", source="embedded-chorales",
                   note="CPU smoke size"),
}
