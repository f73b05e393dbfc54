"""Decoder-only Transformer event language model (Music Transformer, Huang et al. 2018) in
flax.linen.

    ids_BxT -> token embedding (+ learned absolute positions) -> dropout
            -> N pre-norm blocks: x + Dropout(SelfAttention(LN(x))), x + Dropout(FFN(LN(x)))
            -> LN -> logits_BxTxV (float32)

Positions are one of
  relative: per-head learned embeddings E_r of the distance i - j (distances beyond
            ``max_relative_distance`` share the last one, as Shaw et al. clip), added to the logits
            as q_i . E_r(i - j). A whole window computes them with the paper's "skewing": Q E^T for
            every distance, then pad / reshape / slice into place (O(T^2) memory, no T x T x K
            tensor). With the cache they are gathered by distance, so the new query gets its term.
  absolute: a learned embedding per position 0 .. max_len - 1, added to the input.
  rotary:   queries and keys rotated by their position (RoPE, Su et al. 2021).

Letters: B batch, T query positions, S key positions, L = max_len (cache slots), N heads,
K width per head, D model width, F feed-forward width, V vocabulary, R relative distances.

The carry is a KV cache: ``{"pos": int32 (), "layers": ({"k": BxNxLxK, "v": BxNxLxK}, ...)}``,
heads before slots: one sampled event's attention is then a batched product over (B, N) that
reads the cache in place (in BxLxNxK order XLA's CPU backend copied every layer's cache into that
order at every event: at batch 64, about a fifth of a sampling step).
``initial_carry`` is the empty cache; the first call (a training window, or a primer) runs causal
attention over its own events and returns the cache filled with its last L keys and values, so
training pays nothing for the cache (XLA drops the unused output).
Later calls attend to the cache plus their own chunk, then write the chunk into the cache as a ring
buffer (slot = position mod L). Every query attends to at most the L events ending at itself, so
with relative or rotary positions sampling can run past max_len on a sliding window; absolute
positions stop at max_len (``max_length``).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoo.errors import ZooError
from zoo.nets.dropout import Dropout

Carry = dict  # {"pos": int32 (), "layers": tuple of {"k": BxNxLxK, "v": BxNxLxK} (empty at start)}
POSITIONS = ("relative", "absolute", "rotary")
DTYPES = ("float32", "bfloat16")  # compute dtypes (the bf16 switch); parameters stay float32


@dataclasses.dataclass(frozen=True)
class Config:
    vocab_size: int = 388              # set from the codec at build time
    num_layers: int = 6
    d_model: int = 512
    num_heads: int = 8
    qkv_dim: int = 0                   # total query/key/value width over heads; 0 = d_model
    ffn_dim: int = 1024                # feed-forward hidden width (tensor2tensor filter_size)
    dropout: float = 0.1               # on embeddings, sublayer outputs and the FFN hidden layer
    attention_dropout: float = 0.1     # on attention weights (training only)
    position: str = "relative"         # relative | absolute | rotary
    max_len: int = 2048                # attention window = cache slots; absolute: table size
    max_relative_distance: int = 1024  # magenta's choice: half the training length
    rotary_base: float = 10_000.0
    dtype: str = "float32"             # compute dtype; parameters stay float32

    def __post_init__(self):
        if self.position not in POSITIONS:
            raise ZooError(f"unknown model.position '{self.position}'; use one of: "
                           f"{', '.join(POSITIONS)}")
        if self.dtype not in DTYPES:
            raise ZooError(f"unknown model.dtype '{self.dtype}'; use one of: {', '.join(DTYPES)}")
        width = self.qkv_dim or self.d_model
        if width % self.num_heads:
            raise ZooError(f"attention width {width} does not divide over "
                           f"{self.num_heads} heads")
        if self.position == "rotary" and (width // self.num_heads) % 2:
            raise ZooError(f"rotary positions need an even width per head, got "
                           f"{width // self.num_heads}")
        if self.max_len < 1 or self.max_relative_distance < 1:
            raise ZooError("model.max_len and model.max_relative_distance must be positive")


def initial_carry() -> Carry:
    """The empty cache (the start of training windows and of sampling)."""
    return {"pos": jnp.zeros((), jnp.int32), "layers": ()}


def skew(rel_BxNxTxT):
    """Huang et al.'s skewing. ``rel[..., i, c]`` holds q_i . E(T - 1 - c) (column c is distance
    T - 1 - c); returns ``s[..., i, j] = q_i . E(i - j)`` for j <= i. Entries above the diagonal
    hold other products and must be masked."""
    B, N, T, _ = rel_BxNxTxT.shape
    padded = jnp.pad(rel_BxNxTxT, ((0, 0), (0, 0), (0, 0), (1, 0)))
    return padded.reshape(B, N, T + 1, T)[:, :, 1:, :]


def relative_logits_skewed(q_BxTxNxK, rel_NxRxK):
    """q_i . E(min(i - j, R - 1)) for a whole window starting at position 0: BxNxTxT, valid on
    and below the diagonal."""
    T, R = q_BxTxNxK.shape[1], rel_NxRxK.shape[1]
    distance_T = jnp.minimum(jnp.arange(T - 1, -1, -1), R - 1)   # column c is distance T-1-c
    e_NxTxK = rel_NxRxK[:, distance_T]
    return skew(jnp.einsum("btnk,nck->bntc", q_BxTxNxK, e_NxTxK,
                           preferred_element_type=jnp.float32))


def relative_logits_gathered(q_BxTxNxK, rel_NxRxK, distance_TxS):
    """q_t . E(clip(distance[t, s], 0, R - 1)) for any query/key positions: BxNxTxS. One
    product per (query, distance), then a gather: memory O(T (R + S)) per head."""
    T, R = q_BxTxNxK.shape[1], rel_NxRxK.shape[1]
    qe_BxNxTxR = jnp.einsum("btnk,nrk->bntr", q_BxTxNxK, rel_NxRxK,
                            preferred_element_type=jnp.float32)
    return qe_BxNxTxR[:, :, jnp.arange(T)[:, None], jnp.clip(distance_TxS, 0, R - 1)]


def rotate(x_BxTxNxK, positions_T, base: float):
    """Rotary position embedding: pairs (x[:K/2], x[K/2:]) rotated by position * base^(-2i/K)."""
    half = x_BxTxNxK.shape[-1] // 2
    freq = base ** (-jnp.arange(half, dtype=jnp.float32) / half)
    angle = positions_T.astype(jnp.float32)[:, None] * freq            # T x K/2
    cos, sin = jnp.cos(angle)[:, None, :], jnp.sin(angle)[:, None, :]  # T x 1 x K/2
    x = x_BxTxNxK.astype(jnp.float32)
    x1, x2 = x[..., :half], x[..., half:]
    return jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1).astype(x_BxTxNxK.dtype)


def window_mask(query_pos_T, key_pos_S, window: int):
    """Key s is visible from query t when it exists, is not in t's future and lies among the
    ``window`` events ending at t: TxS bool."""
    q, k = query_pos_T[:, None], key_pos_S[None, :]
    return (k >= 0) & (k <= q) & (k > q - window)


def fill_cache(x_BxTxNxK, max_len: int):
    """A fresh BxNxLxK cache after a first window of T events (positions 0..T-1): slot p mod L
    holds position p for the last min(T, L) positions."""
    T = x_BxTxNxK.shape[1]
    x_BxNxTxK = x_BxTxNxK.swapaxes(1, 2)
    if T <= max_len:
        return jnp.pad(x_BxNxTxK, ((0, 0), (0, 0), (0, max_len - T), (0, 0)))
    return jnp.roll(x_BxNxTxK[:, :, T - max_len:], (T - max_len) % max_len, axis=2)


class SelfAttention(nn.Module):
    """Causal multi-head self-attention over a window, or over the cache plus a new chunk."""

    config: Config

    @nn.compact
    def __call__(self, x_BxTxD, cache, positions_T, train: bool):
        cfg = self.config
        dtype = jnp.dtype(cfg.dtype)
        N = cfg.num_heads
        K = (cfg.qkv_dim or cfg.d_model) // N
        L = cfg.max_len
        T = x_BxTxD.shape[1]
        project = lambda name: nn.DenseGeneral((N, K), use_bias=False, dtype=dtype, name=name)
        q, k, v = (project(name)(x_BxTxD) for name in ("query", "key", "value"))
        if cfg.position == "rotary":
            q = rotate(q, positions_T, cfg.rotary_base)
            k = rotate(k, positions_T, cfg.rotary_base)
        rel = None
        if cfg.position == "relative":
            rel = self.param("relative_embeddings", nn.initializers.normal(K ** -0.5),
                             (N, cfg.max_relative_distance + 1, K)).astype(dtype)
        dropout_weights = train and cfg.attention_dropout > 0
        if not cache:  # a first window at positions 0..T-1
            if rel is None and not dropout_weights:
                out = jax.nn.dot_product_attention(
                    q, k, v, is_causal=True, local_window_size=(L - 1, 0) if T > L else None)
            else:
                mask_TxT = window_mask(positions_T, positions_T, L)
                bias = None if rel is None else relative_logits_skewed(q * K ** -0.5, rel)
                out = self._attend(q, k, v, bias, mask_TxT, train)
            new_cache = {"k": fill_cache(k, L), "v": fill_cache(v, L)}
        elif T == 1 and not train:  # one event (sampling): attend the cache and itself
            pos = positions_T[0]
            slot = jnp.mod(pos, L)
            distance_L = jnp.mod(pos - jnp.arange(L), L)   # slot j holds pos - distance_j
            bias = None                                    # (the own slot: pos - L, replaced)
            if rel is not None:
                bias = relative_logits_gathered(q * K ** -0.5, rel, distance_L[None])
            new_cache = {name: jax.lax.dynamic_update_slice_in_dim(
                cache[name], x.swapaxes(1, 2), slot, axis=2) for name, x in (("k", k), ("v", v))}
            # Either cache gives the same result (the own slot is masked and its key added
            # apart). Which one XLA's CPU backend updates in place depends on the batch: with
            # B = 1 reading the new cache duplicated its update per layer and event (62 against
            # 37 us per melody_tiny event), with B > 1 reading the old one copied it (batch 64:
            # 2000 against 1100 us).
            read = cache if x_BxTxD.shape[0] == 1 else new_cache
            out = self._attend_one(q, k, v, read["k"], read["v"], bias, slot,
                                   (distance_L > 0) & (distance_L <= pos))
        else:
            pos = positions_T[0]
            slot_pos_L = pos - 1 - jnp.mod(pos - 1 - jnp.arange(L), L)  # < 0: never written
            key_pos_S = jnp.concatenate([slot_pos_L, positions_T])
            keys = jnp.concatenate([cache["k"].swapaxes(1, 2), k], axis=1)
            values = jnp.concatenate([cache["v"].swapaxes(1, 2), v], axis=1)
            bias = None
            if rel is not None:
                distance_TxS = positions_T[:, None] - key_pos_S[None, :]
                bias = relative_logits_gathered(q * K ** -0.5, rel, distance_TxS)
            out = self._attend(q, keys, values, bias, window_mask(positions_T, key_pos_S, L),
                               train)
            keep = min(T, L)  # a chunk longer than the window leaves only its last L events
            slots = jnp.mod(positions_T[T - keep:], L)
            new_cache = {"k": cache["k"].at[:, :, slots].set(k[:, T - keep:].swapaxes(1, 2)),
                         "v": cache["v"].at[:, :, slots].set(v[:, T - keep:].swapaxes(1, 2))}
        y = nn.DenseGeneral(cfg.d_model, axis=(-2, -1), use_bias=False, dtype=dtype,
                            name="out")(out)
        return y, new_cache

    def _attend_one(self, q_Bx1xNxK, k_Bx1xNxK, v_Bx1xNxK, k_BxNxLxK, v_BxNxLxK, bias_BxNx1xL,
                    slot, valid_L):
        """``_attend`` for one query against the cache as it was (``valid_L``: the slots inside
        the window, the query's own slot excluded) and against its own key and value, one
        softmax over both. Products batched over (B, N), the cache's leading axes, and no
        concatenated copy of the cache is made (at batch 64 those made a step 3x slower).
        ``k_BxNxLxK``, ``v_BxNxLxK``: the cache before or after the own slot's write."""
        K = q_Bx1xNxK.shape[-1]
        f32 = jnp.float32
        q_BxNxK = q_Bx1xNxK[:, 0].astype(f32) * K ** -0.5
        logits_BxNxL = jnp.einsum("bnk,bnlk->bnl", q_BxNxK, k_BxNxLxK.astype(f32))
        own_BxN = jnp.sum(q_BxNxK * k_Bx1xNxK[:, 0].astype(f32), axis=-1)
        if bias_BxNx1xL is not None:
            logits_BxNxL = logits_BxNxL + bias_BxNx1xL[:, :, 0]
            own_BxN = own_BxN + jax.lax.dynamic_index_in_dim(bias_BxNx1xL[:, :, 0], slot, axis=2,
                                                             keepdims=False)
        logits_BxNxL = jnp.where(valid_L, logits_BxNxL, -jnp.inf)
        top_BxN = jnp.maximum(jnp.max(logits_BxNxL, axis=-1), own_BxN)
        e_BxNxL = jnp.exp(logits_BxNxL - top_BxN[..., None])
        e_own_BxN = jnp.exp(own_BxN - top_BxN)
        total_BxN = jnp.sum(e_BxNxL, axis=-1) + e_own_BxN
        out_BxNxK = (jnp.einsum("bnl,bnlk->bnk", e_BxNxL, v_BxNxLxK.astype(f32))
                     + e_own_BxN[..., None] * v_Bx1xNxK[:, 0].astype(f32)) / total_BxN[..., None]
        return out_BxNxK[:, None].astype(v_BxNxLxK.dtype)

    def _attend(self, q_BxTxNxK, k_BxSxNxK, v_BxSxNxK, bias_BxNxTxS, mask_TxS, train: bool):
        """Softmax attention with an optional additive bias (relative logits), in float32."""
        K = q_BxTxNxK.shape[-1]
        logits = jnp.einsum("btnk,bsnk->bnts", q_BxTxNxK * K ** -0.5, k_BxSxNxK,
                            preferred_element_type=jnp.float32)
        if bias_BxNxTxS is not None:
            logits = logits + bias_BxNxTxS
        weights = jax.nn.softmax(jnp.where(mask_TxS, logits, -jnp.inf), axis=-1)
        weights = Dropout(self.config.attention_dropout)(weights, not train)
        return jnp.einsum("bnts,bsnk->btnk", weights.astype(v_BxSxNxK.dtype), v_BxSxNxK)


class DecoderBlock(nn.Module):
    """Pre-norm block; the residual stream stays float32 whatever the compute dtype."""

    config: Config

    @nn.compact
    def __call__(self, x_BxTxD, cache, positions_T, train: bool):
        cfg = self.config
        dtype = jnp.dtype(cfg.dtype)
        drop = lambda h: Dropout(cfg.dropout)(h, not train)
        h, cache = SelfAttention(cfg, name="attention")(
            nn.LayerNorm(dtype=dtype, name="attention_norm")(x_BxTxD), cache, positions_T, train)
        x_BxTxD = x_BxTxD + drop(h)
        h = nn.LayerNorm(dtype=dtype, name="ffn_norm")(x_BxTxD)
        h = drop(nn.relu(nn.Dense(cfg.ffn_dim, dtype=dtype, name="ffn_in")(h)))
        x_BxTxD = x_BxTxD + drop(nn.Dense(cfg.d_model, dtype=dtype, name="ffn_out")(h))
        return x_BxTxD, cache


class TransformerLM(nn.Module):
    """``(ids_BxT, carry) -> (logits_BxTxV float32, carry)``."""

    config: Config

    @nn.compact
    def __call__(self, ids_BxT, carry: Carry, train: bool = False):
        cfg = self.config
        T = ids_BxT.shape[1]
        fresh = not carry["layers"]
        if cfg.position == "absolute" and fresh and T > cfg.max_len:
            raise ZooError(f"a window of {T} events is longer than model.max_len={cfg.max_len} "
                           f"absolute positions; raise model.max_len or lower seq_len")
        positions_T = carry["pos"] + jnp.arange(T, dtype=jnp.int32)
        # Unit-variance embeddings as tensor2tensor's (N(0, D^-1/2) scaled by sqrt(D)).
        x = nn.Embed(cfg.vocab_size, cfg.d_model, embedding_init=nn.initializers.normal(1.0),
                     name="embed")(ids_BxT)
        if cfg.position == "absolute":
            table = self.param("position_embeddings", nn.initializers.normal(1.0),
                               (cfg.max_len, cfg.d_model))
            x = x + table[jnp.minimum(positions_T, cfg.max_len - 1)]  # max_length guards this
        x = Dropout(cfg.dropout)(x, not train)
        caches = []
        for layer in range(cfg.num_layers):
            x, cache = DecoderBlock(cfg, name=f"block_{layer}")(
                x, None if fresh else carry["layers"][layer], positions_T, train)
            caches.append(cache)
        x = nn.LayerNorm(dtype=jnp.dtype(cfg.dtype), name="final_norm")(x)
        logits = nn.Dense(cfg.vocab_size, dtype=jnp.dtype(cfg.dtype), name="logits")(x)
        return logits.astype(jnp.float32), {"pos": carry["pos"] + T, "layers": tuple(caches)}

    @nn.nowrap
    def init_params(self, rng):
        ids = jnp.zeros((1, 8), jnp.int32)
        return self.init(rng, ids, self.initial_carry(1))["params"]

    def initial_carry(self, batch: int) -> Carry:
        """The empty cache; ``batch`` is implied by the first call's ids."""
        del batch
        return initial_carry()

    @property
    def max_length(self) -> int | None:
        """Most events (primer included) one sequence may hold: absolute positions end at
        max_len; relative and rotary ones slide their window (None: no limit)."""
        return self.config.max_len if self.config.position == "absolute" else None

