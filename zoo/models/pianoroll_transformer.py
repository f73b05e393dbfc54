"""Piano-roll Music Transformer: the decoder blocks of ``transformer_lm`` (relative attention with
skewing, KV cache) over binary frames, with the Bernoulli or NADE head of ``pianoroll_nets``
(issue 7 (c): the Transformer beside the LSTM and the LSTM-NADE of Boulanger-Lewandowski et al.).

jsb:       zoo train pianoroll_transformer --preset jsb        # 2x128, 4 heads, NADE 64: 2 CPU min
bernoulli: zoo train pianoroll_transformer --preset bernoulli  # the same body, one Bernoulli per key
tiny:      zoo train pianoroll_transformer --preset tiny       # CPU smoke size: seconds
Data: `zoo prepare embedded-chorales --codec pianoroll` (the default, standing in for JSB) or
`zoo prepare bl2012 FILE --codec pianoroll`; score with `zoo eval --workdir DIR`; sample with
`zoo sample --workdir DIR` (one frame per step from the KV cache; the NADE key by key).

    frames_BxTxP (0/1; the input at step t is frame t - 1, a silent frame at t = 0)
        -> Dense(D) -> dropout -> N pre-norm DecoderBlocks (causal self-attention, relative or
           rotary positions, each query sees the max_len frames ending at itself) -> LayerNorm
        -> h_BxTxD -> the head's conditioning of frame t (``pianoroll_nets.make_head``)

The carry is the KV cache of ``transformer_lm`` with every layer's slots allocated from the start
(``initial_carry``), so a training window, a whole piece and a single sampled frame all go through
the same cached attention (empty slots are masked) and the carry keeps one structure through the
sampling scan of ``frames_task.sample_frames`` (the price: a training step about 20% slower than
the LM's cache-free first window). Letters: B batch, T frames, P keys, D model width.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax.numpy as jnp

from zoo.errors import ZooError
from zoo.models import Preset, transformer_lm
from zoo.models.pianoroll_nets import HEADS, FrameModel, make_head
from zoo.models.transformer_lm import DecoderBlock, Dropout
from zoo.training.config import TrainConfig
from zoo.training.frames_task import FrameModelTask

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
    accuracy_samples: int = 16         # NADE frames drawn per frame for the expected accuracy
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
        zeros = jnp.zeros((batch, cfg.max_len, cfg.num_heads, K), jnp.dtype(cfg.dtype))
        return {"pos": jnp.zeros((), jnp.int32),
                "layers": tuple({"k": zeros, "v": zeros} for _ in range(cfg.num_layers))}


Model, Task = PianorollTransformer, FrameModelTask

DEFAULT_PRESET = "jsb"

# The benchmark's CPU size, beside pianoroll_rnn_nade's `cpu` preset: the same batch (16 windows
# of 64 frames), NADE 64 and clip 5; a window of 128 frames covers most chorales (57 frames on
# average at quarter-note frames). Dropout 0.2: at 0.1 (lr 3e-3) valid NLL bottoms out at 6.43
# after 1,000 steps and climbs (470K parameters on 19K frames); at 0.2 it reaches 6.09 at 1,400
# (6.22 test; 2 minutes of an idle 2-core CPU; the LSTM-NADE `cpu` preset, 1,500 steps: 5.86).
_JSB = Config(num_layers=2, d_model=128, num_heads=4, ffn_dim=512, dropout=0.2,
              attention_dropout=0.2, max_len=128, max_relative_distance=128, head="nade",
              nade_hidden=64)
_JSB_TRAIN = dict(steps=1500, batch_size=16, seq_len=64, learning_rate=3e-3, warmup_steps=100,
                  decay="cosine", min_learning_rate=1e-4, clip_norm=5.0, eval_every=100,
                  checkpoint_every=100, keep_checkpoints=6, early_stopping_patience=5)

PRESETS = {
    "jsb": Preset(_JSB, TrainConfig(**_JSB_TRAIN), codec="pianoroll", source="embedded-chorales",
                  note="CPU size: 2 layers x 128, 4 heads, FFN 512, relative attention over 128 "
                       "frames, NADE 64, dropout 0.2; batch/clip of pianoroll_rnn_nade cpu, "
                       "Adam 3e-3 with warmup + cosine; early stopping on valid NLL"),
    "bernoulli": Preset(dataclasses.replace(_JSB, head="bernoulli"), TrainConfig(**_JSB_TRAIN),
                        codec="pianoroll", source="embedded-chorales",
                        note="the jsb body with one independent Bernoulli per key"),
    "tiny": Preset(Config(num_layers=1, d_model=32, num_heads=2, ffn_dim=64, dropout=0.0,
                          attention_dropout=0.0, max_len=64, max_relative_distance=32,
                          head="nade", nade_hidden=32, accuracy_samples=8),
                   TrainConfig(steps=200, batch_size=16, seq_len=64, learning_rate=1e-2,
                               clip_norm=1.0, eval_every=100, checkpoint_every=100,
                               log_every=20),
                   codec="pianoroll", source="embedded-chorales",
                   note="CPU smoke size"),
}
