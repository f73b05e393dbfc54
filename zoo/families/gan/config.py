"""The GAN family's objective, sampling and report knobs (the networks' shapes are
``zoo.nets.musegan.Config``)."""

from __future__ import annotations

import dataclasses

from zoo.errors import ZooError


@dataclasses.dataclass(frozen=True)
class Config:
    # MuseGAN trains WGAN-GP, 5 critic updates per generator update, Adam(1e-3, 0.5, 0.9)
    loss: str = "wgan-gp"          # wgan-gp | nonsaturating
    gradient_penalty: float = 10.0  # weight of the penalty (Gulrajani et al.); 0 = none
    critic_steps: int = 5
    adam_b1: float = 0.5
    adam_b2: float = 0.9
    # sampling and the metric report
    binarize: str = "threshold"    # threshold | bernoulli: how sigmoid outputs become notes
    threshold: float = 0.5
    report_phrases: int = 1000     # generated (and at most as many data) phrases `zoo eval` scores
    inversion_steps: int = 300     # Adam steps finding a phrase's latents (`zoo interpolate`)

    def __post_init__(self):
        if self.loss not in ("wgan-gp", "nonsaturating"):
            raise ZooError(f"unknown task.loss '{self.loss}'; use wgan-gp or nonsaturating")
        if self.binarize not in ("threshold", "bernoulli"):
            raise ZooError(f"unknown task.binarize '{self.binarize}'; use threshold or bernoulli")
        if self.critic_steps < 1:
            raise ZooError("task.critic_steps must be at least 1")
