"""Coconet (Huang et al. 2017, "Counterpoint by Convolution"; Magenta's ``coconet``): a
convolutional orderless NADE over V voices x T sixteenth steps x C pitch classes, and its blocked
Gibbs sampler.

A piece is ``rolls_BxTxV`` (int32): per voice and step the class of the voice's pitch, class c
for MIDI pitch ``lowest + c`` (c < P) and class P for a rest, so C = P + 1 classes per voice
(Magenta's separated-voice roll has no rest class: a rest there is an all-zero row that is
never scored and never sampled; here it is a class like any pitch). ``known_BxTxV`` (0/1) says
which cells are given; the others are erased. The network reads, as 2V channels of a T x C
image (time x pitch), the one-hot roll of the given cells and the mask of given cells (Magenta's
``mask_indicates_context``: ones where a value is known, so the convolutions' zero padding reads
as "unknown"), and gives ``logits_BxTxVxC``: a softmax over the classes of every cell, read at
the erased ones.

Layers (Magenta's ``straight`` / ``dilated`` architectures): conv 3x3 (2V -> F), then L - 3 conv
3x3 (F -> F; dilated: rates 2^0 .. 2^l cycling, capped at what the time window and the pitch
axis can use), conv 2x2 (F -> F), conv 2x2 (F -> V, linear). ReLU after each but the last; a
residual sum every second middle layer (Magenta's period 2); optional depthwise-separable convs
after the first two layers (Magenta's ``use_sep_conv``). Magenta normalises each layer with batch
norm and keeps population statistics for inference; the engine's state holds parameters only, so
here each layer's output is normalised over its channels at every cell (layer norm), the same in
training and sampling, or not at all (``norm="none"``).

Letters: B batch, T steps (sixteenths), V voices, C classes (P pitches + rest), F filters.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

NORMS = ("layer", "none")


@dataclasses.dataclass(frozen=True)
class Config:
    voices: int = 4               # V: soprano, alto, tenor, bass
    pitches: int = 46             # P: MIDI 36..81, Magenta's min_pitch..max_pitch
    layers: int = 32              # every conv layer, the first and the last two included (>= 4)
    filters: int = 64             # F
    dilated: bool = True          # Magenta's "dilated" architecture (else "straight")
    dilation_window: int = 32     # the time window the dilations are sized for (Magenta: crop)
    separable: bool = True        # depthwise-separable convs after the first two layers
    residual: bool = True
    norm: str = "layer"           # layer | none (see the module docstring: no batch norm)
    vocab_size: int = 336         # the codec's columns (V x 84 keys), set at build time
    dtype: str = "float32"        # compute dtype; parameters stay float32

    @property
    def classes(self) -> int:
        """C = P + 1: the pitches and a rest."""
        return self.pitches + 1

    def dilations(self) -> list[tuple[int, int]]:
        """(time, pitch) dilation of each of the L - 3 middle layers."""
        middle = self.layers - 3
        if not self.dilated:
            return [(1, 1)] * middle
        top_t = max(math.ceil(math.log2(self.dilation_window)) - 1, 0)
        top_p = max(math.ceil(math.log2(self.classes)) - 1, 0)
        cycle = max(top_t, top_p) + 1
        return [(2 ** min(i % cycle, top_t), 2 ** min(i % cycle, top_p)) for i in range(middle)]


def check_config(cfg: Config) -> None:
    if cfg.layers < 4:
        raise ValueError(f"coconet needs at least 4 layers, not {cfg.layers}")
    if cfg.norm not in NORMS:
        raise ValueError(f"unknown norm '{cfg.norm}'; use one of {NORMS}")


class ConvLayer(nn.Module):
    """One conv over (time, pitch), regular or depthwise-separable, then the normalisation."""

    features: int
    kernel: tuple[int, int]
    dilation: tuple[int, int] = (1, 1)
    separable: bool = False
    norm: str = "layer"
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x_BxTxCxF):
        if self.separable:
            depthwise = nn.Conv(x_BxTxCxF.shape[-1], self.kernel, padding="SAME",
                                kernel_dilation=self.dilation,
                                feature_group_count=x_BxTxCxF.shape[-1], use_bias=False,
                                dtype=self.dtype, name="depthwise")(x_BxTxCxF)
            y = nn.Dense(self.features, dtype=self.dtype, name="pointwise")(depthwise)
        else:
            y = nn.Conv(self.features, self.kernel, padding="SAME", kernel_dilation=self.dilation,
                        dtype=self.dtype, name="conv")(x_BxTxCxF)
        if self.norm == "layer":
            y = nn.LayerNorm(dtype=self.dtype, name="norm")(y)
        return y


class Coconet(nn.Module):
    config: Config

    def setup(self):
        check_config(self.config)

    @nn.compact
    def __call__(self, rolls_BxTxV, known_BxTxV):
        """-> logits_BxTxVxC (float32) of every cell given the known ones."""
        cfg = self.config
        dtype = jnp.dtype(cfg.dtype)
        known = known_BxTxV.astype(dtype)
        onehot_BxTxVxC = jax.nn.one_hot(rolls_BxTxV, cfg.classes, dtype=dtype) * known[..., None]
        mask_BxTxVxC = jnp.broadcast_to(known[..., None], onehot_BxTxVxC.shape)
        x = jnp.concatenate([onehot_BxTxVxC, mask_BxTxVxC], axis=2)    # (B, T, 2V, C)
        h = jnp.swapaxes(x, 2, 3)                                       # (B, T, C, 2V)
        h = nn.relu(ConvLayer(cfg.filters, (3, 3), norm=cfg.norm, dtype=dtype, name="conv0")(h))
        saved = h
        for i, dilation in enumerate(cfg.dilations()):
            layer = ConvLayer(cfg.filters, (3, 3), dilation, separable=cfg.separable and i >= 1,
                              norm=cfg.norm, dtype=dtype, name=f"conv{i + 1}")
            y = layer(h)
            if cfg.residual and i % 2 == 1:
                y = y + saved
            h = nn.relu(y)
            if i % 2 == 1:
                saved = h
        h = nn.relu(ConvLayer(cfg.filters, (2, 2), norm=cfg.norm, dtype=dtype,
                              name=f"conv{cfg.layers - 2}")(h))
        out = nn.Conv(cfg.voices, (2, 2), padding="SAME", dtype=dtype,
                      name=f"conv{cfg.layers - 1}")(h)                  # (B, T, C, V)
        return jnp.swapaxes(out, 2, 3).astype(jnp.float32)

    @nn.nowrap
    def init_params(self, rng):
        """Magenta's initialisation: every kernel N(0, 2 / fan_in) (He et al.), fan_in = the
        product of all its axes but the last; biases 0, layer-norm scales 1. All kernels are cut
        from one normal draw: XLA compiles it in a fraction of the time of one draw per kernel
        (flax's truncated normals: about 20 s on a busy CPU for the tiny preset)."""
        cfg = self.config
        rolls = jnp.zeros((1, 8, cfg.voices), jnp.int32)
        shapes = jax.eval_shape(self.init, rng, rolls,
                                jnp.ones((1, 8, cfg.voices), jnp.float32))["params"]
        paths, tree = jax.tree_util.tree_flatten_with_path(shapes)
        sizes = [s.size for _, s in paths]
        draw = jax.random.normal(rng, (sum(sizes),), jnp.float32)
        leaves, offset = [], 0
        for (path, shape), size in zip(paths, sizes):
            name = path[-1].key
            if name == "kernel":
                std = math.sqrt(2.0 / math.prod(shape.shape[:-1]))
                leaves.append((draw[offset:offset + size] * std).reshape(shape.shape))
            elif name == "scale":
                leaves.append(jnp.ones(shape.shape, shape.dtype))
            elif name == "bias":
                leaves.append(jnp.zeros(shape.shape, shape.dtype))
            else:
                raise ValueError(f"no initializer for parameter {jax.tree_util.keystr(path)}")
            offset += size
        return jax.tree.unflatten(tree, leaves)


def yao_schedule(n, steps, pmin: float, pmax: float, alpha: float):
    """Share of the free cells erased at Gibbs step n of ``steps`` (Yao et al. 2014, Magenta's
    ``YaoSchedule``): max(pmin, pmax - (pmax - pmin) n / (alpha steps))."""
    return jnp.maximum(pmin, pmax - (pmax - pmin) * n / (alpha * steps))


def cell_nll(logits_BxTxVxC, rolls_BxTxV):
    """-log p(cell's class) of every cell, (B, T, V) nats."""
    logp = jax.nn.log_softmax(logits_BxTxVxC, axis=-1)
    return -jnp.take_along_axis(logp, rolls_BxTxV[..., None], axis=-1)[..., 0]


@functools.partial(jax.jit, static_argnames=("model", "steps"))
def gibbs_sample(model: Coconet, params, rolls_BxTxV, given_BxTxV, key, *, steps: int,
                 temperature=0.99, pmin=0.1, pmax=0.9, alpha=0.7, allowed_BxTxVxC=None):
    """Blocked Gibbs sampling with an annealed block size (Huang et al. 2017, section 4), inside
    one jit with fixed shapes.

    Cells with ``given`` = 1 keep their class in ``rolls`` exactly; the free ones are drawn.
    Step 0 draws every free cell at once from the model given the given cells alone (the
    independent initialisation); step n = 1..steps erases each free cell with probability
    ``yao_schedule(n, steps)`` and redraws the erased ones, each independently from its
    conditional at ``temperature`` given all the others. ``allowed_BxTxVxC`` (bool, optional)
    restricts the classes a cell may take (e.g. a voice kept silent). Returns rolls_BxTxV (int32).
    """
    given = given_BxTxV.astype(bool)
    free = ~given

    def draw(rolls, erase, k):
        logits = model.apply({"params": params}, rolls, (~erase).astype(jnp.float32))
        logits = logits / temperature
        if allowed_BxTxVxC is not None:
            logits = jnp.where(allowed_BxTxVxC, logits, -1e9)
        new = jax.random.categorical(k, logits, axis=-1).astype(jnp.int32)
        return jnp.where(erase, new, rolls)

    rolls = draw(jnp.where(given, rolls_BxTxV, 0).astype(jnp.int32), free,
                 jax.random.fold_in(key, 0))

    def step(n, rolls):
        k_mask, k_draw = jax.random.split(jax.random.fold_in(key, n))
        p = yao_schedule(n.astype(jnp.float32), steps, pmin, pmax, alpha)
        erase = free & jax.random.bernoulli(k_mask, p, free.shape)
        return draw(rolls, erase, k_draw)

    return jax.lax.fori_loop(1, steps + 1, step, rolls)
