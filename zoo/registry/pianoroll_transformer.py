"""Piano-roll Music Transformer presets (the network: ``zoo/nets/pianoroll_transformer.py``).

best:      zoo train pianoroll_transformer --preset best       # jsb, transposed, 6,000 steps
jsb:       zoo train pianoroll_transformer --preset jsb        # 2x128, 4 heads, NADE 64
bernoulli: zoo train pianoroll_transformer --preset bernoulli  # the same body, one Bernoulli per key
tiny:      zoo train pianoroll_transformer --preset tiny       # CPU smoke size: seconds
Data: `zoo prepare embedded-chorales --codec pianoroll` (the default, standing in for JSB) or
`zoo prepare bl2012 FILE --codec pianoroll`; score with `zoo eval --workdir DIR`; sample with
`zoo sample --workdir DIR` (one frame per step from the KV cache; the NADE key by key).
"""

import dataclasses

from zoo.config import TrainConfig
from zoo.families.frames.config import Config as FramesConfig
from zoo.nets.pianoroll_transformer import Config
from zoo.registry.preset import Preset

DEFAULT_PRESET = "jsb"

# The benchmark's CPU size, beside pianoroll_rnn_nade's `cpu` preset: the same batch (16 windows
# of 64 frames), NADE 64 and clip 5; a window of 128 frames covers most chorales (57 frames on
# average at quarter-note frames). Dropout 0.2 rather than 0.1: 470K parameters on the chorales'
# 19K frames overfit at 0.1 (figures: benchmarks/results/polyphonic-embedded-chorales.*).
_JSB = Config(num_layers=2, d_model=128, num_heads=4, ffn_dim=512, dropout=0.2,
              attention_dropout=0.2, max_len=128, max_relative_distance=128, head="nade",
              nade_hidden=64)
_JSB_TRAIN = dict(steps=1500, batch_size=16, seq_len=64, learning_rate=3e-3, warmup_steps=100,
                  decay="cosine", min_learning_rate=1e-4, clip_norm=5.0, eval_every=100,
                  checkpoint_every=100, keep_checkpoints=6, early_stopping_patience=5)

PRESETS = {
    # The benchmark's recipe: the jsb network transposed -6..+5 semitones at batch time (the
    # largest lever; polyphonic_levers.md), cosine over 6,000 steps, early stopping as
    # pianoroll_rnn_nade best (every 250 steps, patience 6, 7 checkpoints kept).
    "best": Preset(_JSB, TrainConfig(**{**_JSB_TRAIN, "steps": 6000, "transpose": (-6, 5),
                                        "eval_every": 250, "checkpoint_every": 250,
                                        "keep_checkpoints": 7, "early_stopping_patience": 6}),
                   codec="pianoroll", source="embedded-chorales",
                   note="the jsb network and schedule over 6,000 steps, transposed -6..+5 at "
                        "batch time; early stopping on valid NLL"),
    "jsb": Preset(_JSB, TrainConfig(**_JSB_TRAIN), codec="pianoroll", source="embedded-chorales",
                  note="CPU size: 2 layers x 128, 4 heads, FFN 512, relative attention over 128 "
                       "frames, NADE 64, dropout 0.2; batch/clip of pianoroll_rnn_nade cpu, "
                       "Adam 3e-3 with warmup + cosine; early stopping on valid NLL"),
    "bernoulli": Preset(dataclasses.replace(_JSB, head="bernoulli"), TrainConfig(**_JSB_TRAIN),
                        codec="pianoroll", source="embedded-chorales",
                        note="the jsb body with one independent Bernoulli per key"),
    "tiny": Preset(Config(num_layers=1, d_model=32, num_heads=2, ffn_dim=64, dropout=0.0,
                          attention_dropout=0.0, max_len=64, max_relative_distance=32,
                          head="nade", nade_hidden=32),
                   TrainConfig(steps=200, batch_size=16, seq_len=64, learning_rate=1e-2,
                               clip_norm=1.0, eval_every=100, checkpoint_every=100,
                               log_every=20),
                   codec="pianoroll", source="embedded-chorales",
                   task=FramesConfig(accuracy_samples=8), note="CPU smoke size"),
}
