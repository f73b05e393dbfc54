"""MuseGAN (Dong et al., 2018): multi-track piano-roll phrases from noise, a hybrid generator
against a convolutional critic, WGAN-GP.

musegan:  zoo prepare midi-dir ~/lpd5 --codec multitrack_musegan  # 5 tracks, drums first, 48/bar
          zoo train musegan --preset musegan --data datasets/cache/midi-dir-multitrack_musegan-<hash>
          # the paper: 5 tracks (drums first) x 4 bars x 48 steps x 84 keys, batch 64
chorales: zoo train musegan --preset chorales   # the embedded chorales' 4 voices, 16 steps a bar
dense:    zoo train musegan --preset dense      # the seed's dense generator and discriminator
tiny:     zoo train musegan --preset tiny       # the CPU demo
"""

from zoo.config import TrainConfig
from zoo.families.gan.config import Config as GANConfig
from zoo.nets.musegan import Config
from zoo.registry.preset import Preset

DEFAULT_PRESET = "chorales"


def _train(**changes) -> TrainConfig:
    """MuseGAN's training: batch 64, Adam 1e-3 (b1 0.5, b2 0.9 in the model config), no clipping;
    ``seq_len`` is the phrase length in frames (the default length `zoo sample` reports)."""
    base = dict(steps=20_000, batch_size=64, learning_rate=1e-3, clip_norm=0.0, seq_len=64,
                eval_every=1000, checkpoint_every=1000, log_every=50)
    return TrainConfig(**{**base, **changes})


_CHORALES = Config(tracks=4, bars=4, steps_per_bar=16)

PRESETS = {
    "musegan": Preset(Config(tracks=5, bars=4, steps_per_bar=48),
                      _train(seq_len=4 * 48), codec="multitrack_musegan", source=None,
                      note="Dong et al. 2018: 5 tracks x 4 bars x 48 x 84, WGAN-GP 10, "
                           "5 critic steps, batch 64, Adam(1e-3, 0.5, 0.9)"),
    "chorales": Preset(_CHORALES, _train(steps=5000), codec="multitrack",
                       source="embedded-chorales",
                       note="MuseGAN's hybrid model on the chorales' SATB: 4 x 4 bars x 16 x 84"),
    "dense": Preset(Config(tracks=4, bars=4, steps_per_bar=16,
                           variant="dense", dense_hidden=512),
                    _train(steps=5000), codec="multitrack", source="embedded-chorales",
                    note="the seed's dense generator/discriminator (2 x 512), WGAN-GP"),
    "tiny": Preset(Config(tracks=4, bars=4, steps_per_bar=16, latent_dim=16,
                          temporal_hidden=32, generator_width=2, critic_width=4),
                   _train(steps=1000, batch_size=16, eval_every=250, checkpoint_every=250,
                          log_every=10, eval_max_pieces=16),
                   codec="multitrack", source="embedded-chorales",
                   task=GANConfig(report_phrases=256),
                   note="CPU demo size: hybrid model with narrow layers, about 5 minutes on 2 cores"),
}
