"""Music Transformer (Huang et al., 2018): a decoder-only Transformer with relative attention over
event sequences, sampled with a KV cache inside one jitted loop.

performance: zoo train music_transformer                     # the paper's performance model:
             6 layers, d 512, 8 heads, filter 1024, length 2048, dropout 0.1, relative attention
             up to distance 1024 (magenta score2perf t_rel_len2048_h512_att512_fs1024_n6_dropout10)
jsb:         zoo train music_transformer --preset jsb        # smaller: length 1024, d 384
melody:      zoo train music_transformer --preset melody     # folk melodies, Melody RNN's window
tiny:        zoo train music_transformer --preset tiny       # CPU: performance events, minutes
melody_tiny: zoo train music_transformer --preset melody_tiny
Measured figures against the LSTMs at the same steps and batch: README.md.

Positions for comparison: --set model.position=absolute (learned) or rotary.
Sampling: zoo sample --workdir runs/music_transformer-tiny --steps 512 --top-p 0.95; relative and
rotary models slide their max_len window past the training length.
"""

from zoo.config import TrainConfig
from zoo.nets.transformer_lm import Config
from zoo.registry.preset import Preset

DEFAULT_PRESET = "performance"

# Augmentation of the paper's performance data (and of Performance RNN): stretch 5%, transpose 3.
_PERFORMANCE_AUGMENT = dict(transpose=(-3, 3), stretch=(0.95, 1.05))
# CPU sizes share one network; batch and window as the RNN tiny presets, for comparison.
_TINY = Config(num_layers=2, d_model=128, num_heads=4, ffn_dim=512, dropout=0.1,
               attention_dropout=0.1, max_len=128, max_relative_distance=64)
_TINY_TRAIN = dict(batch_size=32, seq_len=128, learning_rate=2e-3, warmup_steps=50,
                   decay="cosine", min_learning_rate=1e-4, eval_every=200, checkpoint_every=200)

PRESETS = {
    "performance": Preset(
        Config(num_layers=6, d_model=512, num_heads=8, qkv_dim=512, ffn_dim=1024, dropout=0.1,
               attention_dropout=0.1, max_len=2048, max_relative_distance=1024),
        TrainConfig(steps=250_000, batch_size=8, seq_len=2048, learning_rate=1e-3,
                    warmup_steps=8000, decay="cosine", clip_norm=1.0, eval_every=2000,
                    checkpoint_every=2000, eval_max_pieces=200, **_PERFORMANCE_AUGMENT),
        codec="performance", source="embedded-chorales",
        note="the paper's Piano-e-Competition model; warmup + cosine for t2t's rsqrt decay; "
             "for Maestro: zoo prepare midi-dir"),
    "jsb": Preset(
        Config(num_layers=2, d_model=384, num_heads=8, qkv_dim=512, ffn_dim=1024,
               dropout=0.15, attention_dropout=0.15, max_len=1024, max_relative_distance=512),
        TrainConfig(steps=20_000, batch_size=16, seq_len=1024, learning_rate=1e-3,
                    warmup_steps=2000, decay="cosine", clip_norm=1.0, eval_every=1000,
                    checkpoint_every=1000),
        codec="polyphony", source="embedded-chorales",
        note="magenta t_rel_len1024_h384_att512_fs1024_n2_dropout15 at JSB's length 1024; "
             "chorales as 16th-note steps"),
    "melody": Preset(
        Config(num_layers=4, d_model=256, num_heads=4, ffn_dim=1024, dropout=0.2,
               attention_dropout=0.2, max_len=256, max_relative_distance=128),
        TrainConfig(steps=20_000, batch_size=64, seq_len=256, learning_rate=1e-3,
                    warmup_steps=1000, decay="cosine", clip_norm=1.0, eval_every=1000,
                    checkpoint_every=1000),
        codec="melody", source="embedded-folk",
        note="our size (no published melody model); Melody RNN's 256-step window"),
    "tiny": Preset(
        _TINY, TrainConfig(steps=400, eval_max_pieces=40, **_TINY_TRAIN, **_PERFORMANCE_AUGMENT),
        codec="performance", source="embedded-chorales",
        note="CPU size: 2x128, 4 heads; batch/window/steps of performance_rnn tiny"),
    "melody_tiny": Preset(
        _TINY, TrainConfig(steps=600, clip_norm=5.0, eval_max_pieces=200, **_TINY_TRAIN),
        codec="melody", source="embedded-folk",
        note="CPU size: 2x128, 4 heads; batch/window of melody_rnn tiny"),
}
