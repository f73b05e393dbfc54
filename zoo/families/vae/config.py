"""The MusicVAE family's objective and data knobs (the networks' shapes are
``zoo.nets.music_vae.Config``).

Loss per window, in nats (Magenta's hparams): recon + beta * max(KL - free_bits ln 2, 0), with
beta = (1 - beta_rate ** step) * max_beta.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Config:
    free_bits: float = 0.0
    max_beta: float = 0.5
    beta_rate: float = 0.99999
    # Scheduled sampling: "constant" (sampling_rate is the probability; 0 = teacher forcing) or
    # "inverse_sigmoid" (probability 1 - k / (k + exp(step / k)), k = sampling_rate >= 1).
    sampling_schedule: str = "constant"
    sampling_rate: float = 0.0
    # Training windows: start every stride_bars bars; dropped when more than max_rest_fraction of
    # their steps are silent (zoo/families/vae/windows.py).
    stride_bars: int = 1
    max_rest_fraction: float = 0.5
