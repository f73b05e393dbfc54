"""Piano-roll RNN-NADE: an LSTM whose state sets the biases of a NADE that factorizes each frame
key by key (Boulanger-Lewandowski et al., ICML 2012; Magenta's pianoroll_rnn_nade).

best:    zoo train pianoroll_rnn_nade --preset best      # 2x256, NADE 128, transposed: ~15 min
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
    # The benchmark's recipe (benchmarks/polyphonic.py; what each lever did:
    # benchmarks/results/polyphonic_levers.md). Batch-time transposition by -6..+5 semitones is
    # the largest lever (the 2x128 cpu size: 5.86 best valid NLL without, overfitting after 1,750
    # steps; 5.35 with, still improving at 8,000); with it the net underfits, so it is wider
    # (2x256, NADE 128); cosine decay over 8,000 steps, evaluations every 250 steps, stopping
    # after 6 without a better valid NLL (7 checkpoints kept, so the best is never deleted).
    "best": Preset(Config(hidden=256, num_layers=2, dropout=0.2, head="nade", nade_hidden=128),
                   TrainConfig(steps=8000, batch_size=16, seq_len=64, learning_rate=5e-3,
                               decay="cosine", min_learning_rate=1e-4, clip_norm=5.0,
                               transpose=(-6, 5), eval_every=250, checkpoint_every=250,
                               keep_checkpoints=7, early_stopping_patience=6),
                   codec="pianoroll", source="embedded-chorales",
                   note="2x256, NADE 128, drop 0.2, batch 16x64, Adam 5e-3 cosine to 1e-4 over "
                        "8,000 steps, transposed -6..+5 at batch time; early stopping on valid"),
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
