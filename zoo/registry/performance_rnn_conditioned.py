"""Conditioned Performance RNN (Magenta's performance_rnn with control signals): the performance
events (388 with velocity) read a note-density (3 s window, 8 bins) and a pitch-class-histogram
(5 s window) control at every event. Plain `performance_rnn` stays unconditioned.

multiconditioned: zoo train performance_rnn_conditioned                    # both, optional, 3x512
density:          zoo train performance_rnn_conditioned --preset density   # note density only
pitch:            zoo train performance_rnn_conditioned --preset pitch     # histogram only
tiny:             zoo train performance_rnn_conditioned --preset tiny      # CPU size
Sample: zoo sample --workdir RUN --density 4 --pitch-histogram "C major"
"""

from zoo.config import TrainConfig
from zoo.families.conditioned.config import ControlConfig
from zoo.nets.conditioned_lm import Config
from zoo.registry.preset import Preset

DEFAULT_PRESET = "multiconditioned"
_TRAIN = TrainConfig(batch_size=64, seq_len=512, clip_norm=3.0, transpose=(-3, 3),
                     stretch=(0.95, 1.05))
_BIG = dict(hidden=512, num_layers=3, dropout=0.0)

PRESETS = {
    "multiconditioned": Preset(
        Config(condition_size=22, **_BIG), _TRAIN, codec="performance",
        source="embedded-chorales", task=ControlConfig(),
        note="Magenta multiconditioned_performance_with_dynamics: density + histogram, "
             "optional conditioning, 3x512, batch 64, clip 3"),
    "density": Preset(
        Config(condition_size=8, **_BIG), _TRAIN, codec="performance",
        source="embedded-chorales", task=ControlConfig(histogram=False, optional=False),
        note="Magenta density_conditioned_performance_with_dynamics: 8 density bins"),
    "pitch": Preset(
        Config(condition_size=12, **_BIG), _TRAIN, codec="performance",
        source="embedded-chorales", task=ControlConfig(density=False, optional=False),
        note="Magenta pitch_conditioned_performance_with_dynamics: 12-bin histogram"),
    "tiny": Preset(
        Config(condition_size=22, hidden=128, num_layers=1, dropout=0.0),
        TrainConfig(steps=1500, batch_size=32, seq_len=128, learning_rate=3e-3,
                    transpose=(-3, 3), stretch=(0.95, 1.05), eval_every=500,
                    checkpoint_every=500, eval_max_pieces=40),
        codec="performance", source="embedded-chorales", task=ControlConfig(),
        note="CPU size: 1x128, both controls, optional; about 7 minutes on 2 busy cores"),
}
