"""The frame family's evaluation knobs (the networks' shapes are ``zoo.nets.pianoroll`` and
``zoo.nets.pianoroll_transformer``)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Config:
    accuracy_samples: int = 16    # NADE frames drawn per frame to estimate the expected accuracy
    eval_chunk: int = 256         # evaluation runs a piece in chunks of this many frames, the
    #                               state (LSTM) or KV cache (Transformer) carried between them
