"""MuseGAN's networks (Dong et al., 2018) in flax.linen: a hybrid generator and a convolutional
critic over multi-track phrases, plus the dense generator/critic kept as a small baseline.

Shapes: B phrases, K tracks, N bars per phrase, S steps per bar, P pitches (O = P / 12 octaves),
Z latent size. A phrase is ``x_BxKxNxSxP`` in [0, 1] (real data binary, generated data sigmoid).

hybrid generator (the paper's hybrid model):
    latents: shared z (B, Z), private z_k (B, K, Z), temporal shared (B, Z), temporal private (B, K, Z)
    temporal generators (one shared, one per track): z -> Dense to N positions -> a transposed
        convolution of kernel 2 along the bars -> one Z-vector per bar (B, N, Z)
    bar generator per track (its own weights: ``nn.vmap`` over K): per bar the concatenation
        [z, temporal shared_n, z_k, temporal private_k,n] (4Z) -> transposed convolutions that
        grow time (x4, x4) and pitch (1 -> O octaves), then two branches, pitch-then-time and
        time-then-pitch (x12 keys, x S/16 steps), merged by a 1x1 layer -> logits (S, P)
conv critic: per track (its own weights) the same two branches in reverse (pitch-time and
    time-pitch convolutions down to (16, O)), the tracks joined on channels, convolutions down to
    one vector per bar, a convolution across bars, Dense -> one score per phrase.

MuseGAN's convolutions all have kernels equal to their strides (each output position reads, or
each input position writes, its own patch), so here they are dense layers on reshaped patches:
the same functions, run as matmuls, which XLA's CPU backend does far faster than strided
convolutions. Deviation from the paper: the generator normalizes each bar's feature map by its
root mean square instead of batch normalization, so a sample does not depend on the rest of its
batch and there are no running statistics to carry (and it compiles faster on CPU than layer
normalization). The critic has no normalization (the gradient penalty is per phrase).
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoo.errors import ZooError

LATENTS = ("shared", "private", "temporal_shared", "temporal_private")


@dataclasses.dataclass(frozen=True)
class Config:
    vocab_size: int = 336          # the codec's K * P, set at build time (the task checks it)
    tracks: int = 4                # K
    pitches: int = 84              # P keys per track (MuseGAN: 84, C1..B7)
    bars: int = 4                  # N bars per phrase
    steps_per_bar: int = 16        # S, a multiple of 16 (16: sixteenths in 4/4; 48 as MuseGAN)
    variant: str = "hybrid"        # hybrid | dense
    latent_dim: int = 32           # Z, each of the four latents (MuseGAN: 32)
    temporal_hidden: int = 256     # width of the temporal generators' dense layer (MuseGAN: 256)
    generator_width: int = 16      # channels of the generator's last layers; earlier ones x2..x32
    critic_width: int = 32         # channels of the critic's first layers; later ones x2..x16
    dense_hidden: int = 1024       # hidden units of the dense variant's layers
    logit_offset: float = -4.0     # added to the generator's logits: sigmoid(-4) = 1.8%, about the
                                   # share of keys that sound in a roll, so training starts from
                                   # sparse rolls, not from every key at 0.5
    dtype: str = "float32"         # compute dtype; parameters stay float32

    @property
    def phrase_shape(self) -> tuple[int, int, int, int]:
        """(K, N, S, P)."""
        return self.tracks, self.bars, self.steps_per_bar, self.pitches


def check_config(cfg: Config) -> None:
    """One clear line for a configuration the networks cannot build."""
    if cfg.variant not in ("hybrid", "dense"):
        raise ZooError(f"unknown model.variant '{cfg.variant}'; use hybrid or dense")
    if cfg.bars < 1:
        raise ZooError("model.bars must be at least 1")
    if cfg.variant == "hybrid" and (cfg.steps_per_bar % 16 or cfg.pitches % 12):
        raise ZooError(f"the hybrid networks need steps per bar a multiple of 16 and whole "
                       f"octaves of keys, not {cfg.steps_per_bar} steps and {cfg.pitches} keys")


def latent_shapes(cfg: Config) -> dict[str, tuple[int, ...]]:
    """Each latent's shape for one phrase."""
    z, k = cfg.latent_dim, cfg.tracks
    return {"shared": (z,), "private": (k, z), "temporal_shared": (z,),
            "temporal_private": (k, z)}


def sample_latents(cfg: Config, key: jax.Array, rows_B: jax.Array) -> dict[str, jax.Array]:
    """Standard normal latents, each row's drawn from ``fold_in(key, row)``: a phrase's noise
    depends on its row number only (not on the batch or device layout), and a batch sharded by
    rows keeps its noise sharded the same way."""
    shapes = latent_shapes(cfg)

    def one(row):
        keys = jax.random.split(jax.random.fold_in(key, row), len(LATENTS))
        return {name: jax.random.normal(k, shapes[name]) for name, k in zip(LATENTS, keys)}

    return jax.vmap(one)(rows_B)


def _act(x):
    return nn.leaky_relu(x, 0.2)


def rms_normalize(x) -> jax.Array:
    """Each example's feature map (every axis but the first) divided by its root mean square:
    the generator's normalization, per example, without parameters."""
    axes = tuple(range(1, x.ndim))
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x.astype(jnp.float32)), axis=axes,
                                      keepdims=True) + 1e-6).astype(x.dtype)


def _spread(x, axis: int, factor: int) -> jax.Array:
    """(..., L, ..., factor * C) -> (..., L * factor, ..., C): each position's features become
    ``factor`` consecutive positions along ``axis`` (an index into x's dimensions, channels last)."""
    y = x.reshape(*x.shape[:-1], factor, x.shape[-1] // factor)
    y = jnp.moveaxis(y, -2, axis + 1)
    return y.reshape(*x.shape[:axis], x.shape[axis] * factor, *x.shape[axis + 1:-1], -1)


def _patches(x, axis: int, factor: int) -> jax.Array:
    """(..., L, ..., C) -> (..., L / factor, ..., factor * C): ``factor`` consecutive positions
    along ``axis`` gathered into one position's features (the inverse of ``_spread``)."""
    y = x.reshape(*x.shape[:axis], x.shape[axis] // factor, factor, *x.shape[axis + 1:])
    y = jnp.moveaxis(y, axis + 1, -2)
    return y.reshape(*y.shape[:-2], -1)


class Up(nn.Module):
    """A transposed convolution along one axis whose kernel equals its stride (MuseGAN's layers):
    every position becomes ``factor`` positions of ``features`` channels. Written as a dense layer
    and a reshape, the same function, so it runs as one matmul on every backend; then
    ``rms_normalize`` and leaky ReLU."""

    features: int
    axis: int
    factor: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        x = nn.Dense(self.factor * self.features, dtype=self.dtype)(x)
        x = _spread(x, self.axis, self.factor)
        return _act(rms_normalize(x))


class Down(nn.Module):
    """A convolution along one axis whose kernel equals its stride: ``factor`` positions become one
    of ``features`` channels (a dense layer on gathered patches), then leaky ReLU."""

    features: int
    axis: int
    factor: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        return _act(nn.Dense(self.features, dtype=self.dtype)(_patches(x, self.axis, self.factor)))


class TemporalGenerator(nn.Module):
    """z (B, Z) -> one Z-vector per bar (B, N, Z): Dense to N positions, then a transposed
    convolution of kernel 2 along bars (each bar's vector from its own and the previous bar's)."""

    cfg: Config

    @nn.compact
    def __call__(self, z_BxZ):
        cfg, dtype = self.cfg, jnp.dtype(self.cfg.dtype)
        h = Up(cfg.temporal_hidden, axis=1, factor=cfg.bars, dtype=dtype)(z_BxZ[:, None])
        previous = jnp.pad(h, ((0, 0), (1, 0), (0, 0)))[:, :-1]
        h = nn.Dense(cfg.latent_dim, dtype=dtype)(jnp.concatenate([h, previous], axis=-1))
        return _act(rms_normalize(h))


class BarGenerator(nn.Module):
    """One track's bars: (B, N, 4Z) -> logits (B, N, S, P), each bar from its own 4Z-vector."""

    cfg: Config

    @nn.compact
    def __call__(self, h_BxNx4Z):
        cfg, dtype = self.cfg, jnp.dtype(self.cfg.dtype)
        w, octaves, r = cfg.generator_width, cfg.pitches // 12, cfg.steps_per_bar // 16
        B, N, _ = h_BxNx4Z.shape
        up = lambda x, f, axis, factor: Up(f, axis, factor, dtype)(x)
        x = h_BxNx4Z.reshape(B * N, 1, 1, -1)          # (time, pitch) = (1, 1)
        x = up(x, 32 * w, 1, 4)                         # (4, 1)
        x = up(x, 16 * w, 2, octaves)                   # (4, O)
        x = up(x, 8 * w, 1, 4)                          # (16, O)
        x = up(x, 4 * w, 2, 1)                          # (16, O)
        pitch_time = up(up(x, 2 * w, 2, 12), w, 1, r)   # (S, P)
        time_pitch = up(up(x, 2 * w, 1, r), w, 2, 12)   # (S, P)
        logits = nn.Dense(1, dtype=dtype)(jnp.concatenate([pitch_time, time_pitch], axis=-1))
        return logits.reshape(B, N, cfg.steps_per_bar, cfg.pitches) + cfg.logit_offset


def _per_track(module_cls):
    """``module_cls`` with its own weights per track: a vmap over axis 1 (K) of input and output."""
    return nn.vmap(module_cls, in_axes=1, out_axes=1, variable_axes={"params": 0},
                   split_rngs={"params": True})


class HybridGenerator(nn.Module):
    """latents -> logits (B, K, N, S, P)."""

    cfg: Config

    @nn.compact
    def __call__(self, z: dict[str, jax.Array]):
        cfg = self.cfg
        N, Z = cfg.bars, cfg.latent_dim
        temporal_shared_BxNxZ = TemporalGenerator(cfg, name="temporal_shared")(
            z["temporal_shared"])
        temporal_private_BxKxNxZ = _per_track(TemporalGenerator)(cfg, name="temporal_private")(
            z["temporal_private"])
        B, K = temporal_private_BxKxNxZ.shape[:2]
        h_BxKxNx4Z = jnp.concatenate([
            jnp.broadcast_to(z["shared"][:, None, None], (B, K, N, Z)),
            jnp.broadcast_to(temporal_shared_BxNxZ[:, None], (B, K, N, Z)),
            jnp.broadcast_to(z["private"][:, :, None], (B, K, N, Z)),
            temporal_private_BxKxNxZ,
        ], axis=-1).astype(jnp.dtype(cfg.dtype))
        return _per_track(BarGenerator)(cfg, name="bars")(h_BxKxNx4Z).astype(jnp.float32)


class TrackStream(nn.Module):
    """The critic's per-track part: (B, N, S, P) -> features (B, N, 16, O, 2w)."""

    cfg: Config

    @nn.compact
    def __call__(self, x_BxNxSxP):
        cfg, dtype = self.cfg, jnp.dtype(self.cfg.dtype)
        w, r = cfg.critic_width, cfg.steps_per_bar // 16
        down = lambda x, f, axis, factor: Down(f, axis, factor, dtype)(x)
        x = x_BxNxSxP[..., None]
        pitch_time = down(down(x, w, 3, 12), 2 * w, 2, r)   # (N, 16, O)
        time_pitch = down(down(x, w, 2, r), 2 * w, 3, 12)   # (N, 16, O)
        return down(jnp.concatenate([pitch_time, time_pitch], axis=-1), 2 * w, 3, 1)


class ConvCritic(nn.Module):
    """x (B, K, N, S, P) -> score (B,): a convolutional network over the whole phrase."""

    cfg: Config

    @nn.compact
    def __call__(self, x_BxKxNxSxP):
        cfg, dtype = self.cfg, jnp.dtype(self.cfg.dtype)
        w, octaves = cfg.critic_width, cfg.pitches // 12
        x = x_BxKxNxSxP.astype(dtype)
        h = _per_track(TrackStream)(cfg, name="tracks")(x)           # (B, K, N, 16, O, 2w)
        B, K, N = h.shape[:3]
        h = jnp.moveaxis(h, 1, -2).reshape(B, N, 16, octaves, K * 2 * w)  # tracks on channels
        h = Down(4 * w, 2, 4, dtype)(h)                               # (N, 4, O)
        h = Down(8 * w, 2, 4, dtype)(h).reshape(B, N, octaves * 8 * w)   # (N, 1, O) -> (N,)
        h = _act(nn.Dense(8 * w, dtype=dtype)(h))                      # the whole bar, 8w
        if N > 1:  # a convolution of kernel 2 across bars
            h = _act(nn.Dense(16 * w, dtype=dtype)(jnp.concatenate([h[:, 1:], h[:, :-1]], -1)))
        return nn.Dense(1, dtype=dtype)(h.reshape(B, -1))[:, 0].astype(jnp.float32)


class DenseGenerator(nn.Module):
    """The seed's dense generator: all latents -> two hidden layers -> logits (B, K, N, S, P)."""

    cfg: Config

    @nn.compact
    def __call__(self, z: dict[str, jax.Array]):
        cfg, dtype = self.cfg, jnp.dtype(self.cfg.dtype)
        h = jnp.concatenate([z[name].reshape(len(z[name]), -1) for name in LATENTS], axis=-1)
        for _ in range(2):
            h = _act(nn.Dense(cfg.dense_hidden, dtype=dtype)(h))
        size = cfg.tracks * cfg.bars * cfg.steps_per_bar * cfg.pitches
        logits = nn.Dense(size, dtype=dtype)(h).reshape(-1, *cfg.phrase_shape)
        return logits.astype(jnp.float32) + cfg.logit_offset


class DenseCritic(nn.Module):
    """The seed's dense discriminator: the flattened phrase -> two hidden layers -> score (B,)."""

    cfg: Config

    @nn.compact
    def __call__(self, x_BxKxNxSxP):
        cfg, dtype = self.cfg, jnp.dtype(self.cfg.dtype)
        h = x_BxKxNxSxP.reshape(len(x_BxKxNxSxP), -1).astype(dtype)
        for _ in range(2):
            h = _act(nn.Dense(cfg.dense_hidden, dtype=dtype)(h))
        return nn.Dense(1, dtype=dtype)(h)[:, 0].astype(jnp.float32)


class MuseGAN(nn.Module):
    """Generator and critic under one parameter tree, ``{"generator": ..., "critic": ...}``.

    ``apply(..., z, method="generate") -> logits_BxKxNxSxP`` (sigmoid gives key probabilities);
    ``apply(..., x, method="score") -> (B,)`` (higher = more like the data).
    """

    config: Config

    def setup(self):
        check_config(self.config)
        hybrid = self.config.variant == "hybrid"
        self.generator = (HybridGenerator if hybrid else DenseGenerator)(self.config)
        self.critic = (ConvCritic if hybrid else DenseCritic)(self.config)

    def __call__(self, z, x_BxKxNxSxP):
        return self.generate(z), self.score(x_BxKxNxSxP)

    def generate(self, z):
        return self.generator(z)

    def score(self, x_BxKxNxSxP):
        return self.critic(x_BxKxNxSxP)

    @nn.nowrap
    def init_params(self, rng):
        """Flax's defaults for the networks' dense layers (LeCun-normal kernels, zero biases), all
        kernels cut from one truncated-normal draw: the same distribution, but XLA compiles one
        random draw in a fraction of the time of one per kernel (seconds on CPU)."""
        cfg = self.config
        z = sample_latents(cfg, jax.random.key(0), jnp.arange(1))
        x = jnp.zeros((1, *cfg.phrase_shape), jnp.float32)
        shapes = jax.eval_shape(self.init, rng, z, x)["params"]
        paths, tree = jax.tree_util.tree_flatten_with_path(shapes)
        sizes = [s.size for _, s in paths]
        draw = jax.random.truncated_normal(rng, -2.0, 2.0, (sum(sizes),)) / 0.87962566
        leaves, offset = [], 0
        for (path, shape), size in zip(paths, sizes):
            name = path[-1].key
            if name == "bias":
                leaves.append(jnp.zeros(shape.shape, shape.dtype))
            elif name == "kernel":  # (..., fan_in, fan_out); a per-track kernel has K in front
                std = 1.0 / math.sqrt(shape.shape[-2])
                leaves.append((draw[offset:offset + size] * std).reshape(shape.shape))
            else:
                raise ValueError(f"no initializer for parameter {jax.tree_util.keystr(path)}")
            offset += size
        return jax.tree.unflatten(tree, leaves)
