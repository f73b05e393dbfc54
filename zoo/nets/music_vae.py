"""MusicVAE networks (Roberts et al., 2018) in flax.linen: a bidirectional LSTM encoder to a
diagonal Gaussian q(z|x), and a flat or hierarchical LSTM decoder p(x|z).

    ids_BxT -> BiLSTM (both directions in ONE scan) -> [h_fw_T, h_bw_1] -> mu_BxZ, sigma_BxZ
    z_BxZ   -> segment embeddings e_BxSxE:   flat: S = 1, e = z
                                             hierarchical: a conductor LSTM (input 0, state from z)
                                             emits one e per bar, S = bars
            -> core LSTM decoder, per segment: state from tanh(Dense(e)), input [prev token, e]
            -> logits_BxTxV

Letters: B batch, T window steps, S segments (1, or one per bar), L steps per segment (T = S L),
V vocabulary, Z latent size, E segment embedding size, H hidden units, G = 4H gate width.

As Magenta's HierarchicalLstmDecoder with ``disable_autoregression``, the conductor sees no
decoder output, and the core decoder starts every bar afresh from its embedding, its first input
the previous bar's last token. Under teacher forcing (and scheduled sampling, which also starts each
bar from the true last token) the bars are therefore independent given z and are decoded as one
batch of B*S segments; only free-running decoding walks through the bars in order.

The recurrences are pure functions of explicit weight arrays; the modules only create and hold
the weights. The encoder and the teacher-forced decoder run the event models' LSTM recurrence
(``lstm_lm.lstm_scan``, with its hand-written backward pass) layer by layer; free-running
decoding and scheduled sampling step the whole stack per token (``stack_step``). The start symbol is ``config.start_id`` (the codecs' END, as for
the event RNNs); the objective (KL weight, free bits, scheduled sampling) is the family's
(``zoo/families/vae``).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from zoo.nets.decoding import draw, filter_logits
from zoo.nets.lstm_lm import lstm_gates, lstm_scan


@dataclasses.dataclass(frozen=True)
class Config:
    vocab_size: int = 40            # set from the codec at build time
    z_size: int = 512
    encoder_hidden: int = 2048      # units per direction per layer
    encoder_layers: int = 1
    decoder_hidden: int = 2048
    decoder_layers: int = 3
    conductor_hidden: int = 1024
    conductor_layers: int = 0       # 0: flat decoder; > 0: hierarchical, one conductor step per bar
    num_bars: int = 2
    steps_per_bar: int = 16         # 4 steps per quarter, 4/4
    start_id: int = 1               # the start symbol (the codecs' END), never sampled
    pad_id: int = 0                 # never sampled
    unroll: int = 1                 # lax.scan unroll (a speed knob, same results)
    dtype: str = "float32"          # matmul dtype; parameters and LSTM state stay float32

    @property
    def num_steps(self) -> int:
        return self.num_bars * self.steps_per_bar

    @property
    def hierarchical(self) -> bool:
        return self.conductor_layers > 0

    @property
    def num_segments(self) -> int:
        return self.num_bars if self.hierarchical else 1


# ---------------------------------------------------------------- LSTM arithmetic (pure)

def lstm_update(gates_Bx4H, c_BxH):
    """One LSTM cell update from pre-activations (gates i, g, f, o; forget bias 1, as Magenta's
    LSTMBlockCell). Returns (c, h), float32."""
    i, g, f, o = lstm_gates(gates_Bx4H)
    c = f * c_BxH + i * g
    return c, o * jnp.tanh(c)


def _orthogonal_stack(key, shape, dtype=jnp.float32):
    """(..., H, 4H): an independent orthogonal recurrent matrix for every leading index.

    One unbatched QR per matrix, never ``jax.vmap`` of the initializer: on CPU a batched QR is a
    LAPACK custom call (jaxlib 0.10's ``lapack_sgeqrf_ffi``) that splits its batch over XLA's
    intra-op thread pool and blocks a pool thread until the pieces finish. When as many batched
    QRs as the pool has threads run at once (2 on a 2-core machine: the encoder's and the
    decoder's), every pool thread waits for work queued behind it and the computation never
    ends: the intermittent hang of the jitted init (``benchmarks/hang_repro.py``). The values
    are bit-identical to the vmapped version: the same keys, draws and LAPACK routine per matrix."""
    keys = jax.random.split(key, int(np.prod(shape[:-2])))
    init = nn.initializers.orthogonal()
    return jnp.stack([init(k, shape[-2:], dtype) for k in keys]).reshape(shape)


_SMALL = nn.initializers.normal(0.001)  # Magenta's init for mu, sigma and the state projections


def _dense_init(key, shape, dtype=jnp.float32):
    """Normal with variance 1 / fan in over the last two axes (fan in, fan out); leading axes
    (layers, directions) index independent matrices. Not truncated: cheaper to compile."""
    return nn.initializers.variance_scaling(
        1.0, "fan_in", "normal", batch_axis=tuple(range(len(shape) - 2)))(key, shape, dtype)


# ---------------------------------------------------------------- the encoder

class EncoderWeights(nn.Module):
    """Weights of the bidirectional encoder, with a leading layer axis and a direction axis of 2
    (so one scan per layer serves both directions), and of the mu / sigma heads."""

    config: Config

    @nn.compact
    def __call__(self):
        cfg = self.config
        N, H, Z = cfg.encoder_layers, cfg.encoder_hidden, cfg.z_size
        w = {
            # one-hot input times W_ih is a lookup
            "token_projection": self.param("token_projection", _dense_init, (2, cfg.vocab_size, 4 * H)),
            "w_hh": self.param("w_hh", _orthogonal_stack, (N, 2, H, 4 * H)),
            "bias": self.param("bias", nn.initializers.zeros, (N, 2, 4 * H)),
            "heads_kernel": self.param("heads_kernel", _SMALL, (2 * H, 2 * Z)),  # [mu, sigma]
            "heads_bias": self.param("heads_bias", nn.initializers.zeros, (2 * Z,)),
        }
        if N > 1:
            w["w_ih"] = self.param("w_ih", _dense_init, (N - 1, 2, 2 * H, 4 * H))
        return w


def bidirectional_scan(xw_2xBxTx4H, w_hh_2xHx4H, dtype, unroll: int = 1):
    """Both directions of one LSTM layer at once: the event models' LSTM recurrence
    (``lstm_lm.lstm_scan``, with its hand-written backward pass) vmapped over a leading axis of 2,
    direction 0 reading the pre-projected inputs forward, direction 1 backward.

    Returns y_BxTx2H ([forward, backward] outputs in time order) and the final h of each
    direction, h_2xBxH (forward after step T, backward after step 1)."""
    _, B, _, G = xw_2xBxTx4H.shape
    xw_2xTxBx4H = jnp.stack([xw_2xBxTx4H[0], xw_2xBxTx4H[1, :, ::-1]]).swapaxes(1, 2)
    zeros = jnp.zeros((2, B, G // 4), jnp.float32)
    h_2xTxBxH, (_, h_last) = jax.vmap(lambda w, xw, carry: lstm_scan(w, xw, carry, dtype, unroll))(
        w_hh_2xHx4H, xw_2xTxBx4H, (zeros, zeros))
    forward_BxTxH = h_2xTxBxH[0].swapaxes(0, 1)
    backward_BxTxH = h_2xTxBxH[1, ::-1].swapaxes(0, 1)
    return jnp.concatenate([forward_BxTxH, backward_BxTxH], -1), h_last


def encode(w, ids_BxT, dtype, unroll: int = 1):
    """``ids_BxT -> (mu_BxZ, sigma_BxZ)``: mu and softplus sigma from the top layer's final
    states [h_fw, h_bw]; layer l > 0 reads layer l - 1's [forward, backward] outputs."""
    xw_2xBxTx4H = jnp.take(w["token_projection"], ids_BxT, axis=1).astype(dtype)
    layers = w["w_hh"].shape[0]
    for layer in range(layers):
        bias = w["bias"][layer][:, None, None].astype(dtype)
        y_BxTx2H, h_last_2xBxH = bidirectional_scan(xw_2xBxTx4H + bias, w["w_hh"][layer], dtype,
                                                    unroll)
        if layer + 1 < layers:
            xw_2xBxTx4H = jnp.einsum("btd,kdg->kbtg", y_BxTx2H.astype(dtype),
                                     w["w_ih"][layer].astype(dtype))
    summary_Bx2H = jnp.concatenate([h_last_2xBxH[0], h_last_2xBxH[1]], axis=-1).astype(dtype)
    heads = (summary_Bx2H @ w["heads_kernel"].astype(dtype) + w["heads_bias"]).astype(jnp.float32)
    mu, pre_sigma = jnp.split(heads, 2, axis=-1)
    return mu, jax.nn.softplus(pre_sigma)


# ---------------------------------------------------------------- the decoder LSTMs

class StackWeights(nn.Module):
    """Weights of an N-layer LSTM whose first layer reads [token one-hot (optional), a constant
    context e_BxE] and whose state starts at tanh(Dense(e)), as a dict of arrays (leading layer
    axis) for the pure step functions below. ``vocab_size`` 0: no token input and no output layer
    (the conductor, whose input is 0, so only its first layer's bias remains)."""

    hidden: int
    layers: int
    context: int        # E
    vocab_size: int = 0

    @nn.compact
    def __call__(self):
        N, H, E, V = self.layers, self.hidden, self.context, self.vocab_size
        w = {
            "init_kernel": self.param("init_kernel", _SMALL, (E, 2 * N * H)),
            "init_bias": self.param("init_bias", nn.initializers.zeros, (2 * N * H,)),
            "w_hh": self.param("w_hh", _orthogonal_stack, (N, H, 4 * H)),
            "bias": self.param("bias", nn.initializers.zeros, (N, 4 * H)),
        }
        if N > 1:
            w["w_ih"] = self.param("w_ih", _dense_init, (N - 1, H, 4 * H))
        if V:
            w["token_projection"] = self.param("token_projection", _dense_init, (V, 4 * H))
            w["context_projection"] = self.param("context_projection", _dense_init, (E, 4 * H))
            w["out_kernel"] = self.param("out_kernel", _dense_init, (H, V))
            w["out_bias"] = self.param("out_bias", nn.initializers.zeros, (V,))
        return w


def stack_start(w, e_BxE, dtype):
    """Initial state ((c, h) per layer) and the first layer's constant input term ctx_Bx4H."""
    layers = w["w_hh"].shape[0]
    flat = jnp.tanh(e_BxE.astype(dtype) @ w["init_kernel"].astype(dtype) + w["init_bias"])
    parts = jnp.split(flat.astype(jnp.float32), 2 * layers, axis=-1)
    state = tuple((parts[2 * i], parts[2 * i + 1]) for i in range(layers))
    ctx = (e_BxE.astype(dtype) @ w["context_projection"].astype(dtype)
           if "context_projection" in w else 0.0)
    return state, ctx


def stack_step(w, state, x0_Bx4H, dtype):
    """One time step of the stack given layer 0's input term; returns (state, top h_BxH)."""
    new, x = [], x0_Bx4H
    for i, (c, h) in enumerate(state):
        if i > 0:
            x = x.astype(dtype) @ w["w_ih"][i - 1].astype(dtype)
        gates = x + h.astype(dtype) @ w["w_hh"][i].astype(dtype) + w["bias"][i]
        c, h = lstm_update(gates, c)
        new.append((c, h))
        x = h
    return tuple(new), x


def stack_scan(w, state, x0_LxNx4H, dtype, unroll: int = 1):
    """Teacher-forced: the stack over L steps given layer 0's input terms, one layer at a time
    with the event models' LSTM recurrence (``lstm_lm.lstm_scan``); the same function as
    scanning ``stack_step``. -> top h_LxNxH."""
    x = x0_LxNx4H
    for i, carry in enumerate(state):
        if i > 0:
            x = x.astype(dtype) @ w["w_ih"][i - 1].astype(dtype)
        x, _ = lstm_scan(w["w_hh"][i], x + w["bias"][i], carry, dtype, unroll)
    return x


def output_logits(w, h_xH, dtype):
    """Core decoder output layer: h (..., H) -> logits (..., V) float32."""
    return (h_xH.astype(dtype) @ w["out_kernel"].astype(dtype) + w["out_bias"]).astype(
        jnp.float32)


def decoder_step(w, state, tok_B, ctx_Bx4H, dtype):
    """Core decoder: previous token + context -> (state, logits_BxV float32)."""
    x0 = jnp.take(w["token_projection"], tok_B, axis=0).astype(dtype) + ctx_Bx4H
    state, h = stack_step(w, state, x0, dtype)
    return state, output_logits(w, h, dtype)


def allowed_logits(logits_BxV, cfg: Config):
    """Padding and the start symbol never occur inside a window: never sample them."""
    return logits_BxV.at[..., cfg.pad_id].set(-jnp.inf).at[..., cfg.start_id].set(-jnp.inf)


class MusicVAE(nn.Module):
    """The VAE. Methods (``model.apply(..., method=...)``):

    ``__call__(ids_BxT, sample_prob=None)`` -> (logits_BxTxV, mu_BxZ, sigma_BxZ): z ~ q(z|x)
        (rng "latent"), then reconstruction under teacher forcing, or scheduled sampling with
        probability ``sample_prob`` (rng "sampling").
    ``encode(ids_BxT)`` -> (mu, sigma); ``reconstruct(z_BxZ, ids_BxT, sample_prob=None)`` -> logits;
    ``decode(z_BxZ, temperature, top_k, top_p)`` -> ids_BxT, free running (rng "sampling").
    """

    config: Config

    def setup(self):
        cfg = self.config
        self.encoder = EncoderWeights(cfg)
        E = cfg.conductor_hidden if cfg.hierarchical else cfg.z_size
        self.core = StackWeights(cfg.decoder_hidden, cfg.decoder_layers, E, cfg.vocab_size)
        if cfg.hierarchical:
            self.conductor = StackWeights(cfg.conductor_hidden, cfg.conductor_layers, cfg.z_size)

    @property
    def _dtype(self):
        return jnp.dtype(self.config.dtype)

    def __call__(self, ids_BxT, sample_prob=None):
        mu, sigma = self.encode(ids_BxT)
        eps = jax.random.normal(self.make_rng("latent"), mu.shape)
        return self.reconstruct(mu + sigma * eps, ids_BxT, sample_prob), mu, sigma

    @nn.nowrap
    def init_params(self, rng):
        return self.init(rng, method="weights")["params"]

    def weights(self):
        """Every weight, computing nothing (a cheap ``init``)."""
        return {"encoder": self.encoder(), "core": self.core(),
                **({"conductor": self.conductor()} if self.config.hierarchical else {})}

    def encode(self, ids_BxT):
        return encode(self.encoder(), ids_BxT, self._dtype, self.config.unroll)

    def segment_embeddings(self, z_BxZ):
        """e_BxSxE: z itself (flat), or the conductor's top-layer output per bar."""
        cfg = self.config
        if not cfg.hierarchical:
            return z_BxZ[:, None]
        w = self.conductor()
        state, _ = stack_start(w, z_BxZ, self._dtype)

        def step(state, _):
            return stack_step(w, state, jnp.zeros((), self._dtype), self._dtype)

        _, e_SxBxE = jax.lax.scan(step, state, None, length=cfg.num_bars)
        return e_SxBxE.swapaxes(0, 1)

    def reconstruct(self, z_BxZ, ids_BxT, sample_prob=None):
        """logits_BxTxV of ids given z; inputs are the previous true tokens, except where
        scheduled sampling (probability ``sample_prob``) feeds the model's own sample instead."""
        cfg, dtype = self.config, self._dtype
        B, T = ids_BxT.shape
        S = cfg.num_segments
        L = T // S
        w = self.core()
        e = self.segment_embeddings(z_BxZ).reshape(B * S, -1)
        start_Bx1 = jnp.full((B, 1), cfg.start_id, ids_BxT.dtype)
        inputs = jnp.concatenate([start_Bx1, ids_BxT[:, :-1]], axis=1)
        inputs_LxN = inputs.reshape(B * S, L).T           # N = B*S segments decoded as a batch
        state, ctx = stack_start(w, e, dtype)
        if sample_prob is None:
            # teacher forcing: the input projection and the output layer leave the scan
            x0_LxNx4H = jnp.take(w["token_projection"], inputs_LxN, axis=0).astype(dtype) + ctx
            h_LxNxH = stack_scan(w, state, x0_LxNx4H, dtype, cfg.unroll)
            logits_LxNxV = output_logits(w, h_LxNxH, dtype)
        else:
            key = self.make_rng("sampling")
            use_sample_LxN = jax.random.bernoulli(key, sample_prob, inputs_LxN.shape)
            use_sample_LxN = use_sample_LxN.at[0].set(False)  # a segment starts from the truth
            u_LxN = jax.random.uniform(jax.random.fold_in(key, 1), inputs_LxN.shape)

            def step(carry, xs):
                state, sampled_N = carry
                true_N, use_N, u_N = xs
                tok = jnp.where(use_N, sampled_N, true_N)
                state, logits = decoder_step(w, state, tok, ctx, dtype)
                sampled = draw(allowed_logits(logits, cfg), u_N).astype(tok.dtype)
                return (state, sampled), logits

            _, logits_LxNxV = jax.lax.scan(step, (state, inputs_LxN[0]),
                                           (inputs_LxN, use_sample_LxN, u_LxN), unroll=cfg.unroll)
        return logits_LxNxV.swapaxes(0, 1).reshape(B, T, -1)

    def decode(self, z_BxZ, temperature=1.0, top_k: int = 0, top_p=1.0):
        """Free-running decoding of ids_BxT (int32) from z, bar after bar; each segment's state
        restarts from its embedding, its first input the last token drawn."""
        cfg, dtype = self.config, self._dtype
        B, T, S = z_BxZ.shape[0], cfg.num_steps, cfg.num_segments
        L = T // S
        w = self.core()
        e_SxBxE = self.segment_embeddings(z_BxZ).swapaxes(0, 1)
        starts, ctxs = jax.vmap(lambda e: stack_start(w, e, dtype))(e_SxBxE)
        u_TxB = jax.random.uniform(self.make_rng("sampling"), (T, B))

        def step(carry, xs):
            state, tok = carry
            t, u_B = xs
            seg = t // L
            fresh = jax.tree.map(lambda a: a[seg], starts)
            state = jax.tree.map(lambda f, s: jnp.where(t % L == 0, f, s), fresh, state)
            state, logits = decoder_step(w, state, tok, ctxs[seg], dtype)
            logits = filter_logits(allowed_logits(logits, cfg), temperature, top_k, top_p)
            tok = draw(logits, u_B)
            return (state, tok), tok

        state0 = jax.tree.map(lambda a: a[0], starts)
        _, ids_TxB = jax.lax.scan(step, (state0, jnp.full((B,), cfg.start_id, jnp.int32)),
                                  (jnp.arange(T), u_TxB), unroll=cfg.unroll)
        return ids_TxB.T
