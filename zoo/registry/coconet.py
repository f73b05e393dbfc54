"""Coconet (Huang et al. 2017, "Counterpoint by Convolution"; Magenta's ``coconet``): a
convolutional orderless NADE over the chorales' 4 voices x sixteenths x 46 pitches (+ rest).

coconet:  zoo train coconet --preset coconet    # Magenta's shipped recipe: dilated, 32 layers x
                                                # 64 filters, separable convs, crop 32, batch 10
library:  zoo train coconet --preset library    # lib_hparams defaults: straight 28 x 256, crop 64
chorales: zoo train coconet --preset chorales   # CPU size: minutes on 2 cores
tiny:     zoo train coconet --preset tiny       # CPU smoke size: seconds
Data: the embedded chorales with the ``multitrack`` codec (4 tracks x 84 keys, 16 steps a bar;
the model reads MIDI 36..81 of them). Then `zoo eval`, `zoo sample`, `zoo harmonize melody.mid`,
`zoo infill chorale.mid --erase bars 3-4`, each with --workdir RUN.
"""

from zoo.config import TrainConfig
from zoo.families.coconet.config import Config as CoconetConfig
from zoo.nets.coconet import Config
from zoo.registry.preset import Preset

DEFAULT_PRESET = "chorales"


def _train(**changes) -> TrainConfig:
    """Adam 1e-3 (Magenta halves its rate on plateaus; here it is constant), no clipping in
    Magenta (3.0 here, the zoo's default), ``seq_len`` the training crop in sixteenths."""
    base = dict(steps=20_000, batch_size=10, seq_len=32, learning_rate=1e-3, clip_norm=3.0,
                eval_every=500, checkpoint_every=500, log_every=50, transpose=(-3, 3))
    return TrainConfig(**{**base, **changes})


PRESETS = {
    "coconet": Preset(Config(layers=32, filters=64, dilated=True, separable=True,
                             dilation_window=32),
                      _train(), codec="multitrack", source="embedded-chorales",
                      note="Magenta's shipped Coconet: dilated 32 x 64, separable, crop 32, "
                           "batch 10; layer norm for batch norm"),
    "library": Preset(Config(layers=28, filters=256, dilated=False, separable=False),
                      _train(batch_size=20, seq_len=64), codec="multitrack",
                      source="embedded-chorales",
                      note="Magenta lib_hparams defaults: straight 28 x 256, residual, crop 64, "
                           "batch 20"),
    "chorales": Preset(Config(layers=8, filters=32, dilated=True, separable=False,
                              dilation_window=32, norm="none"),
                       _train(steps=4000, batch_size=12, learning_rate=2e-3, eval_every=500,
                              checkpoint_every=500, log_every=50),
                       codec="multitrack", source="embedded-chorales",
                       note="CPU size: dilated 8 x 32 without normalisation (half the step "
                            "time on CPU), crop 32, batch 12, Adam 2e-3, 4,000 steps"),
    "tiny": Preset(Config(layers=4, filters=8, dilated=True, separable=True,
                          dilation_window=16),
                   _train(steps=20, batch_size=8, seq_len=16, learning_rate=3e-3, eval_every=10,
                          checkpoint_every=10, log_every=5, eval_max_pieces=4),
                   codec="multitrack", source="embedded-chorales",
                   task=CoconetConfig(eval_draws=1, gibbs_steps=8),
                   note="CPU smoke size: 4 x 8"),
}
