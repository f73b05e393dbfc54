"""MusicVAE (Roberts et al., 2018): a bidirectional LSTM encoder to z, decoded by a flat LSTM
(2 bars) or a conductor LSTM over bars plus a bar-level LSTM (16 bars).

cat-mel_2bar_big:    zoo train music_vae --preset cat-mel_2bar_big     # z 512, enc 2048, dec 3x2048
cat-mel_2bar_small:  zoo train music_vae --preset cat-mel_2bar_small   # z 256, enc 512, dec 2x256
hierdec-mel_16bar:   zoo train music_vae --preset hierdec-mel_16bar    # conductor 2x1024, dec 2x1024
cat-drums_2bar_small: zoo train music_vae --preset cat-drums_2bar_small --data <drums data>
tiny:                zoo train music_vae --preset tiny        # 2-bar melody, minutes on a CPU
hier_tiny:           zoo train music_vae --preset hier_tiny   # 16-bar hierarchical, minutes on a CPU
mel_2bar_cpu:        zoo train music_vae --preset mel_2bar_cpu  # tiny, free bits 256, 16,000 steps

then ``zoo sample --workdir DIR``, ``zoo interpolate a.mid b.mid --workdir DIR --steps 8`` and
``zoo eval --workdir DIR``. Published presets follow magenta/models/music_vae/configs.py: Adam 1e-3
decaying by 0.9999 per step to 1e-5, global-norm clip 1.0, batch 512. Differences: the melody
codec spans pitches 48-83 (40 ids) where Magenta's converter spans 21-108 (90 classes); the
embedded folk corpus replaces Lakh MIDI; ``steps`` is ours (Magenta trains until stopped).
"""

import dataclasses

from zoo.config import TrainConfig
from zoo.families.vae.config import Config as VAEConfig
from zoo.nets.music_vae import Config
from zoo.registry.preset import Preset

DEFAULT_PRESET = "cat-mel_2bar_big"


def _magenta(seq_len: int, transpose=(0, 0)) -> TrainConfig:
    return TrainConfig(steps=200_000, batch_size=512, seq_len=seq_len, learning_rate=1e-3,
                       decay="exponential", decay_rate=0.9999, min_learning_rate=1e-5,
                       clip_norm=1.0, transpose=transpose, eval_every=2000,
                       checkpoint_every=2000, eval_max_pieces=500)


_CPU = dict(batch_size=64, learning_rate=3e-3, decay="exponential", decay_rate=0.9995,
            min_learning_rate=3e-4, clip_norm=1.0, log_every=50)

PRESETS = {
    "cat-mel_2bar_big": Preset(
        Config(z_size=512, encoder_hidden=2048, encoder_layers=1, decoder_hidden=2048,
               decoder_layers=3, num_bars=2),
        _magenta(32, transpose=(-5, 5)), codec="melody", source="embedded-folk",
        task=VAEConfig(free_bits=0, max_beta=0.5, beta_rate=0.99999, sampling_schedule="inverse_sigmoid", sampling_rate=1000),
        note="Magenta cat-mel_2bar_big: z 512, bi-LSTM 2048, decoder 3x2048, beta 0.5, "
             "inverse-sigmoid scheduled sampling 1000"),
    "cat-mel_2bar_small": Preset(
        Config(z_size=256, encoder_hidden=512, encoder_layers=1, decoder_hidden=256, decoder_layers=2, num_bars=2),
        _magenta(32, transpose=(-5, 5)), codec="melody", source="embedded-folk",
        task=VAEConfig(free_bits=0, max_beta=0.2, beta_rate=0.99999, sampling_schedule="inverse_sigmoid", sampling_rate=1000),
        note="Magenta cat-mel_2bar_small: z 256, bi-LSTM 512, decoder 2x256, beta 0.2"),
    "hierdec-mel_16bar": Preset(
        Config(z_size=512, encoder_hidden=2048, encoder_layers=2, decoder_hidden=1024, decoder_layers=2, conductor_hidden=1024, conductor_layers=2, num_bars=16),
        _magenta(256), codec="melody", source="embedded-folk",
        task=VAEConfig(free_bits=256, max_beta=0.2, beta_rate=0.0),
        note="Magenta hierdec-mel_16bar: bi-LSTM 2x2048, conductor 2x1024 over 16 bars, "
             "decoder 2x1024, free bits 256, beta 0.2"),
    "cat-drums_2bar_small": Preset(
        Config(z_size=256, encoder_hidden=512, encoder_layers=1, decoder_hidden=256, decoder_layers=2, num_bars=2),
        _magenta(32), codec="drums",
        task=VAEConfig(free_bits=48, max_beta=0.2, beta_rate=0.0, sampling_schedule="inverse_sigmoid", sampling_rate=1000),
        note="Magenta cat-drums_2bar_small: z 256, bi-LSTM 512, decoder 2x256, free bits 48, "
             "beta 0.2 (512 drum-set classes in and out)"),
    "tiny": Preset(
        Config(z_size=64, encoder_hidden=128, encoder_layers=1, decoder_hidden=128, decoder_layers=2, num_bars=2),
        TrainConfig(steps=800, seq_len=32, eval_every=400, checkpoint_every=400, eval_max_pieces=200, **_CPU),
        codec="melody", source="embedded-folk",
        task=VAEConfig(free_bits=48, max_beta=0.2, beta_rate=0.999),
        note="CPU size, 2-bar melody: z 64, bi-LSTM 128, decoder 2x128"),
    "hier_tiny": Preset(
        Config(z_size=64, encoder_hidden=64, encoder_layers=1, decoder_hidden=128, decoder_layers=1, conductor_hidden=128, conductor_layers=1, num_bars=16),
        TrainConfig(steps=500, seq_len=256, eval_every=250, checkpoint_every=250, eval_max_pieces=100, **{**_CPU, "batch_size": 32}),
        codec="melody", source="embedded-folk",
        task=VAEConfig(stride_bars=2, free_bits=256, max_beta=0.2, beta_rate=0.999),
        note="CPU size, 16-bar melody: bi-LSTM 64, conductor 1x128 over 16 bars, "
             "decoder 1x128"),
}

# Issue 17's CPU recipe: tiny with free bits 256 (177 nats) instead of 48, so that the KL term
# costs nothing until z carries far more than tiny's 48 bits, trained for 16,000 steps.
# Measured at commit bca562e (`zoo train music_vae --preset mel_2bar_cpu`, then `zoo eval`; whole
# valid split, 6,924 windows): teacher forced 0.9645, sampled (T = 1) 0.8185, greedy 0.8928,
# KL 176.2 nats, ELBO -179.6; 26:00 wall on 2 idle cores (start-up, compile and the final valid
# pass included); interpolation scale consistency 0.934 beside the data pairs' 0.947.
# (9,000 steps on loaded cores: 0.9454 / 0.7676: benchmarks/results/music_vae_levers.md.)
PRESETS["mel_2bar_cpu"] = dataclasses.replace(
    PRESETS["tiny"],
    train=dataclasses.replace(PRESETS["tiny"].train, steps=16000, eval_every=16000,
                              checkpoint_every=500),
    task=dataclasses.replace(PRESETS["tiny"].task, free_bits=256),
    note="CPU recipe, 2-bar melody: tiny with free bits 256, 16,000 steps (26 min on 2 cores)")
