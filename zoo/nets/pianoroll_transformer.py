"""Piano-roll Music Transformer: the decoder blocks of ``transformer_lm`` (relative attention
with skewing, KV cache) over binary frames, with the Bernoulli or NADE head of ``pianoroll``.

    frames_BxTxP (0/1; the input at step t is frame t - 1, a silent frame at t = 0)
        -> Dense(D) -> dropout -> N pre-norm DecoderBlocks (causal self-attention, relative or
           rotary positions, each query sees the max_len frames ending at itself) -> LayerNorm
        -> h_BxTxD -> the head's conditioning of frame t (``pianoroll.make_head``)

The carry is the KV cache of ``transformer_lm`` with every layer's slots allocated from the start
(``initial_carry``), so a training window, a whole piece and a single sampled frame all go through
the same cached attention (empty slots are masked) and the carry keeps one structure through the
sampling scan of ``decoding.sample_frames`` (the price: a training step slower than the LM's
cache-free first window). Letters: B batch, T frames, P keys, D model width.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax.numpy as jnp

from zoo.errors import ZooError
from zoo.nets import transformer_lm
from zoo.nets.dropout import Dropout
from zoo.nets.pianoroll import HEADS, FrameModel, make_head
from zoo.nets.transformer_lm import DecoderBlock

POSITIONS = ("relative", "rotary")  # absolute positions end at max_len; pieces are scored whole


@dataclasses.dataclass(frozen=True)
class Config:
    vocab_size: int = 88               # P keys, set from the codec at build time
    num_layers: int = 2
    d_model: int = 128
    num_heads: int = 4
    qkv_dim: int = 0                   # total query/key/value width over heads; 0 = d_model
    ffn_dim: int = 512
    dropout: float = 0.1               # on the input projection, sublayer outputs, FFN hidden
    attention_dropout: float = 0.1     # on attention weights (training only)
    position: str = "relative"         # relative | rotary
    max_len: int = 128                 # attention window in frames = cache slots per layer
    max_relative_distance: int = 128   # distances beyond share the last embedding
    rotary_base: float = 10_000.0
    head: str = "nade"                 # bernoulli | nade
    nade_hidden: int = 64              # the NADE's hidden units (head "nade")
    dtype: str = "float32"             # blocks' compute dtype; parameters and heads stay float32

    def __post_init__(self):
        if self.position not in POSITIONS:
            raise ZooError(f"unknown model.position '{self.position}' for the piano-roll "
                           f"Transformer; use one of: {', '.join(POSITIONS)}")
        if self.head not in HEADS:
            raise ZooError(f"unknown model.head '{self.head}'; use one of: {', '.join(HEADS)}")
        self.transformer  # noqa: B018  (validates heads, widths, dtype)

    @property
    def transformer(self) -> transformer_lm.Config:
        """The decoder blocks' config: the fields shared with ``transformer_lm.Config``."""
        names = [f.name for f in dataclasses.fields(transformer_lm.Config)]
        return transformer_lm.Config(**{n: getattr(self, n) for n in names})


class PianorollTransformer(FrameModel):
    """``(frames_BxTxP, carry) -> (cond, carry)``, then the head's log-probabilities and samples;
    the interface of ``pianoroll_nets.PianorollNet`` (score, log_prob, sample, marginals,
    initial_carry), so ``FrameModelTask`` and ``sample_frames`` drive it unchanged."""

    config: Config

    def setup(self):
        cfg = self.config
        blocks = cfg.transformer
        self.input_projection = nn.Dense(cfg.d_model)  # float32: the residual stream's dtype
        self.drop = Dropout(cfg.dropout)
        self.blocks = [DecoderBlock(blocks) for _ in range(cfg.num_layers)]
        self.final_norm = nn.LayerNorm(dtype=jnp.dtype(cfg.dtype))
        self.head = make_head(cfg)

    def __call__(self, frames_BxTxP, carry: transformer_lm.Carry, train: bool = False):
        T = frames_BxTxP.shape[1]
        positions_T = carry["pos"] + jnp.arange(T, dtype=jnp.int32)
        x_BxTxD = self.drop(self.input_projection(frames_BxTxP.astype(jnp.float32)), not train)
        caches = []
        for block, cache in zip(self.blocks, carry["layers"], strict=True):
            x_BxTxD, cache = block(x_BxTxD, cache, positions_T, train)
            caches.append(cache)
        h_BxTxD = self.final_norm(x_BxTxD)
        return self.head.condition(h_BxTxD), {"pos": carry["pos"] + T, "layers": tuple(caches)}

    def initial_carry(self, batch: int) -> transformer_lm.Carry:
        """An empty cache of ``batch`` sequences at position 0: every layer's max_len slots
        allocated (zeros, never attended: their positions count as unwritten)."""
        cfg = self.config
        K = (cfg.qkv_dim or cfg.d_model) // cfg.num_heads
        zeros = jnp.zeros((batch, cfg.num_heads, cfg.max_len, K), jnp.dtype(cfg.dtype))
        return {"pos": jnp.zeros((), jnp.int32),
                "layers": tuple({"k": zeros, "v": zeros} for _ in range(cfg.num_layers))}
