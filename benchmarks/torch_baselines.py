"""PyTorch implementations of the zoo's architectures, timed on the same batches and machine.

The side-by-side rows of the report: the same network (same layer sizes, parameter count
within the biases each library adds), the same batch and window, the same optimizer, in the
same process, with torch's intra-op threads set to the CPUs JAX uses. Written the way a PyTorch
user would: ``nn.LSTM`` (torch's fused CPU kernel, input projection for the whole sequence
outside the time loop, as ours), ``F.scaled_dot_product_attention`` with the relative logits as
an additive mask, MuseGAN as zoo.nets.musegan writes it (kernel = stride convolutions as
dense layers on patches, per-track weights as a track axis).

    LSTM event model  one-hot events -> nn.LSTM(num_layers) -> dropout -> Linear   (Magenta's
                      graph: a one-hot input times W_ih; ours replaces that product by a lookup)
    Transformer       pre-norm blocks, relative attention by skewing (or absolute positions)
    MuseGAN step      5 critic updates with gradient penalty, then one generator update

torch is optional (the ``bench`` extra), so this module is imported only through ``load()`` in
``benchmarks.__main__``, which returns None without torch (the report's torch rows then say
"torch not installed"); importing it directly needs torch.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.timing import summary


def match_threads() -> int:
    """Give torch as many intra-op threads as this process has CPUs (what XLA's CPU client
    uses), and return that number."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(n)
    return n


# ---------------------------------------------------------------- LSTM event model

def torch_lstm_lm(cfg) -> nn.Module:
    """zoo.nets.lstm_lm.Config (without attention) -> the same network in torch."""
    if cfg.attn_length:
        raise NotImplementedError("the attention RNN has no torch port here")

    class LstmLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(cfg.vocab_size, cfg.hidden, cfg.num_layers, batch_first=True,
                                dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
            self.drop = nn.Dropout(cfg.dropout)
            self.logits = nn.Linear(cfg.hidden, cfg.vocab_size)

        def forward(self, ids_BxT):
            x = F.one_hot(ids_BxT, cfg.vocab_size).float()
            y, _ = self.lstm(x)
            return self.logits(self.drop(y))

        def step(self, ids_Bx1, state):
            """One token per call, the (h, c) state carried (None: zeros): sampling."""
            y, state = self.lstm(F.one_hot(ids_Bx1, cfg.vocab_size).float(), state)
            return self.logits(y[:, -1]), state

    return LstmLM()


# ---------------------------------------------------------------- Transformer

def skew(rel_BxNxTxT):
    """Huang et al.'s skewing, as zoo.nets.transformer_lm.skew."""
    B, N, T, _ = rel_BxNxTxT.shape
    return F.pad(rel_BxNxTxT, (1, 0)).reshape(B, N, T + 1, T)[:, :, 1:, :]


def torch_transformer_lm(cfg) -> nn.Module:
    """zoo.nets.transformer_lm.Config (relative or absolute positions) -> torch."""
    if cfg.position not in ("relative", "absolute"):
        raise NotImplementedError(f"{cfg.position} positions have no torch port here")
    D, N = cfg.d_model, cfg.num_heads
    K = (cfg.qkv_dim or D) // N

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention_norm, self.ffn_norm = nn.LayerNorm(D, 1e-6), nn.LayerNorm(D, 1e-6)
            self.q, self.k, self.v = (nn.Linear(D, N * K, bias=False) for _ in range(3))
            self.out = nn.Linear(N * K, D, bias=False)
            self.ffn_in, self.ffn_out = nn.Linear(D, cfg.ffn_dim), nn.Linear(cfg.ffn_dim, D)
            self.drop = nn.Dropout(cfg.dropout)
            if cfg.position == "relative":
                self.rel = nn.Parameter(torch.randn(N, cfg.max_relative_distance + 1, K) * K**-0.5)

        def forward(self, x_BxTxD, causal_TxT):
            B, T, _ = x_BxTxD.shape
            h = self.attention_norm(x_BxTxD)
            q, k, v = (p(h).view(B, T, N, K).transpose(1, 2) for p in (self.q, self.k, self.v))
            mask = causal_TxT
            if cfg.position == "relative":
                distance = torch.clamp(torch.arange(T - 1, -1, -1), max=self.rel.shape[1] - 1)
                rel = torch.einsum("bntk,nck->bntc", q * K**-0.5, self.rel[:, distance])
                mask = skew(rel) + causal_TxT
            p = cfg.attention_dropout if self.training else 0.0
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
            x_BxTxD = x_BxTxD + self.drop(self.out(o.transpose(1, 2).reshape(B, T, N * K)))
            h = self.drop(F.relu(self.ffn_in(self.ffn_norm(x_BxTxD))))
            return x_BxTxD + self.drop(self.ffn_out(h))

        def step(self, x_Bx1xD, cache, pos: int):
            """One new token at position ``pos`` against the KV cache ``(k, v)``, each
            (B, N, slots, K) written in place at ``pos``; attends to the ``max_len`` positions
            ending at ``pos`` (the window of ours), the relative logits gathered by distance."""
            B = x_Bx1xD.shape[0]
            h = self.attention_norm(x_Bx1xD)
            q, k, v = (p(h).view(B, 1, N, K).transpose(1, 2) for p in (self.q, self.k, self.v))
            cache[0][:, :, pos], cache[1][:, :, pos] = k[:, :, 0], v[:, :, 0]
            start = max(0, pos + 1 - cfg.max_len)
            keys, values = cache[0][:, :, start:pos + 1], cache[1][:, :, start:pos + 1]
            bias = None
            if cfg.position == "relative":
                distance = torch.clamp(torch.arange(pos - start, -1, -1),
                                       max=self.rel.shape[1] - 1)
                bias = torch.einsum("bnqk,nsk->bnqs", q * K**-0.5, self.rel[:, distance])
            o = F.scaled_dot_product_attention(q, keys, values, attn_mask=bias)
            x_Bx1xD = x_Bx1xD + self.out(o.transpose(1, 2).reshape(B, 1, N * K))
            return x_Bx1xD + self.ffn_out(F.relu(self.ffn_in(self.ffn_norm(x_Bx1xD))))

    class TransformerLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(cfg.vocab_size, D)
            nn.init.normal_(self.embed.weight, std=1.0)
            if cfg.position == "absolute":
                self.positions = nn.Parameter(torch.randn(cfg.max_len, D))
            self.drop = nn.Dropout(cfg.dropout)
            self.blocks = nn.ModuleList(Block() for _ in range(cfg.num_layers))
            self.norm = nn.LayerNorm(D, 1e-6)
            self.logits = nn.Linear(D, cfg.vocab_size)

        def forward(self, ids_BxT):
            T = ids_BxT.shape[1]
            x = self.embed(ids_BxT)
            if cfg.position == "absolute":
                x = x + self.positions[:T]
            x = self.drop(x)
            causal = torch.full((T, T), float("-inf")).triu(1)
            causal = causal.masked_fill(torch.ones(T, T, dtype=torch.bool).tril(-cfg.max_len),
                                        float("-inf"))  # the sliding window past max_len
            for block in self.blocks:
                x = block(x, causal)
            return self.logits(self.norm(x))

        def new_cache(self, batch: int, length: int):
            """An empty KV cache for ``length`` positions: per block (k, v), (B, N, length, K)."""
            return [(torch.zeros(batch, N, length, K), torch.zeros(batch, N, length, K))
                    for _ in self.blocks]

        def step(self, ids_Bx1, cache, pos: int):
            """The logits_BxV after token ``ids_Bx1`` at position ``pos``, the cache updated."""
            x = self.embed(ids_Bx1)
            if cfg.position == "absolute":
                x = x + self.positions[pos]
            for block, layer_cache in zip(self.blocks, cache):
                x = block.step(x, layer_cache, pos)
            return self.logits(self.norm(x))[:, -1]

    model = TransformerLM()
    for linear in model.modules():      # flax's Dense init (LeCun normal, zero bias), so the
        if isinstance(linear, nn.Linear):   # loss at init is ours (torch_parity)
            nn.init.normal_(linear.weight, std=linear.in_features ** -0.5)
            if linear.bias is not None:
                nn.init.zeros_(linear.bias)
    return model


# ---------------------------------------------------------------- MuseGAN

class _TrackDense(nn.Module):
    """A dense layer with its own weights per track: x (B, K, ..., C) -> (B, K, ..., F), or a
    plain Linear without a track axis (``tracks`` None)."""

    def __init__(self, tracks: int | None, fin: int, fout: int):
        super().__init__()
        self.tracks = tracks
        if tracks is None:
            self.linear = nn.Linear(fin, fout)
        else:
            bound = fin ** -0.5
            self.weight = nn.Parameter(torch.empty(tracks, fin, fout).uniform_(-bound, bound))
            self.bias = nn.Parameter(torch.zeros(tracks, fout))

    def forward(self, x):
        if self.tracks is None:
            return self.linear(x)
        bias = self.bias.view(1, self.tracks, *([1] * (x.ndim - 3)), -1)
        return torch.einsum("bk...c,kcf->bk...f", x, self.weight) + bias


def _act(x):
    return F.leaky_relu(x, 0.2)


def _rms_normalize(x, first: int):
    """Each example's feature map (the axes from ``first`` on) over its root mean square."""
    dims = tuple(range(first, x.ndim))
    return x * torch.rsqrt(x.square().mean(dim=dims, keepdim=True) + 1e-6)


def _spread(x, axis: int, factor: int):
    """(..., L, ..., factor * C) -> (..., L * factor, ..., C), as zoo.nets.musegan._spread."""
    y = x.reshape(*x.shape[:-1], factor, x.shape[-1] // factor).movedim(-2, axis + 1)
    return y.reshape(*x.shape[:axis], x.shape[axis] * factor, *x.shape[axis + 1:-1], -1)


def _patches(x, axis: int, factor: int):
    """(..., L, ..., C) -> (..., L / factor, ..., factor * C), as zoo.nets.musegan._patches."""
    y = x.reshape(*x.shape[:axis], x.shape[axis] // factor, factor, *x.shape[axis + 1:])
    y = y.movedim(axis + 1, -2)
    return y.reshape(*y.shape[:-2], -1)


class _Up(nn.Module):
    """Kernel = stride transposed convolution along ``axis`` as dense + reshape, then RMS
    normalization of each example from axis ``first`` on, then leaky ReLU."""

    def __init__(self, tracks, fin, features, axis, factor, first):
        super().__init__()
        self.dense = _TrackDense(tracks, fin, factor * features)
        self.axis, self.factor, self.first = axis, factor, first

    def forward(self, x):
        x = _spread(self.dense(x), self.axis, self.factor)
        return _act(_rms_normalize(x, self.first))


class _Down(nn.Module):
    """Kernel = stride convolution along ``axis`` as patches + dense, then leaky ReLU."""

    def __init__(self, tracks, fin, features, axis, factor):
        super().__init__()
        self.dense = _TrackDense(tracks, factor * fin, features)
        self.axis, self.factor = axis, factor

    def forward(self, x):
        return _act(self.dense(_patches(x, self.axis, self.factor)))


def torch_musegan(cfg) -> tuple[nn.Module, nn.Module]:
    """zoo.nets.musegan.Config (hybrid variant) -> (generator, critic) in torch, written as
    the flax networks write them: kernel = stride convolutions as dense layers on reshaped patches,
    per-track weights as a track axis of the weights."""
    if cfg.variant != "hybrid":
        raise NotImplementedError("only the hybrid MuseGAN has a torch port here")
    K, N, S, P = cfg.tracks, cfg.bars, cfg.steps_per_bar, cfg.pitches
    Z, H, w, wc, O, r = (cfg.latent_dim, cfg.temporal_hidden, cfg.generator_width,
                         cfg.critic_width, P // 12, S // 16)

    class Temporal(nn.Module):
        """z (B, [K,] Z) -> one Z-vector per bar (B, [K,] N, Z)."""

        def __init__(self, tracks):
            super().__init__()
            lead = 1 if tracks is None else 2            # axes before the bars
            self.up = _Up(tracks, Z, H, lead, N, lead)
            self.mix = _TrackDense(tracks, 2 * H, Z)
            self.lead = lead

        def forward(self, z):
            h = self.up(z.unsqueeze(self.lead))
            previous = F.pad(h.movedim(self.lead, -1), (1, 0))[..., :-1].movedim(-1, self.lead)
            return _act(_rms_normalize(self.mix(torch.cat([h, previous], -1)), self.lead))

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.temporal_shared, self.temporal_private = Temporal(None), Temporal(K)
            # per track and bar, (B, K, N, time, pitch, C); the normalization starts at time
            up = lambda fin, f, axis, factor: _Up(K, fin, f, axis, factor, 3)
            self.trunk = nn.Sequential(up(4 * Z, 32 * w, 3, 4), up(32 * w, 16 * w, 4, O),
                                       up(16 * w, 8 * w, 3, 4), up(8 * w, 4 * w, 4, 1))
            self.pitch_time = nn.Sequential(up(4 * w, 2 * w, 4, 12), up(2 * w, w, 3, r))
            self.time_pitch = nn.Sequential(up(4 * w, 2 * w, 3, r), up(2 * w, w, 4, 12))
            self.logits = _TrackDense(K, 2 * w, 1)

        def forward(self, z):
            B = z["shared"].shape[0]
            shared = self.temporal_shared(z["temporal_shared"])               # (B, N, Z)
            private = self.temporal_private(z["temporal_private"])            # (B, K, N, Z)
            h = torch.cat([z["shared"][:, None, None].expand(B, K, N, Z),
                           shared[:, None].expand(B, K, N, Z),
                           z["private"][:, :, None].expand(B, K, N, Z), private], -1)
            x = self.trunk(h[:, :, :, None, None])                           # (B, K, N, 16, O, 4w)
            x = torch.cat([self.pitch_time(x), self.time_pitch(x)], -1)
            return self.logits(x)[..., 0]                                     # (B, K, N, S, P)

    class Critic(nn.Module):
        def __init__(self):
            super().__init__()
            down = lambda fin, f, axis, factor: _Down(K, fin, f, axis, factor)
            # per track (B, K, N, S, P, C)
            self.pitch_time = nn.Sequential(down(1, wc, 4, 12), down(wc, 2 * wc, 3, r))
            self.time_pitch = nn.Sequential(down(1, wc, 3, r), down(wc, 2 * wc, 4, 12))
            self.merge = down(4 * wc, 2 * wc, 4, 1)
            self.c1 = _Down(None, K * 2 * wc, 4 * wc, 2, 4)
            self.c2 = _Down(None, 4 * wc, 8 * wc, 2, 4)
            self.bar = nn.Linear(O * 8 * wc, 8 * wc)
            self.bars = nn.Linear(16 * wc, 16 * wc) if N > 1 else None
            self.score = nn.Linear((N - 1) * 16 * wc if N > 1 else 8 * wc, 1)

        def forward(self, x_BxKxNxSxP):
            x = x_BxKxNxSxP[..., None]
            h = self.merge(torch.cat([self.pitch_time(x), self.time_pitch(x)], -1))
            B = h.shape[0]
            h = h.movedim(1, -2).reshape(B, N, 16, O, K * 2 * wc)           # tracks on channels
            h = self.c2(self.c1(h)).reshape(B, N, O * 8 * wc)
            h = _act(self.bar(h))
            if self.bars is not None:
                h = _act(self.bars(torch.cat([h[:, 1:], h[:, :-1]], -1)))
            return self.score(h.reshape(B, -1))[:, 0]

    return Generator(), Critic()


# ---------------------------------------------------------------- MusicVAE

def _state_from(linear: nn.Module, e_BxE, layers: int):
    """(h0, c0), each (layers, B, H), from tanh(Linear(e)) split as [c_0, h_0, c_1, h_1, ...]
    (zoo.nets.music_vae.stack_start's order)."""
    parts = torch.tanh(linear(e_BxE)).chunk(2 * layers, dim=-1)
    return (torch.stack(parts[1::2]).contiguous(), torch.stack(parts[0::2]).contiguous())


def _small_init_(linear: nn.Linear) -> nn.Linear:
    """Magenta's init of the mu / sigma heads and the state projections: N(0, 0.001), bias 0."""
    nn.init.normal_(linear.weight, std=0.001)
    nn.init.zeros_(linear.bias)
    return linear


def torch_music_vae(cfg) -> nn.Module:
    """zoo.nets.music_vae.Config -> the same VAE in torch: a bidirectional ``nn.LSTM`` over one-hot
    ids to [h_fw_T, h_bw_1] -> Linear -> mu, softplus sigma; z = mu + sigma eps; the flat or
    hierarchical decoder, teacher-forced. ``forward(ids_BxT) -> (logits_BxTxV, mu, sigma)``.

    Hierarchical: a conductor ``nn.LSTM`` (input a constant 0 of width 1, state from
    tanh(Linear(z))) emits one embedding per bar; the core ``nn.LSTM`` restarts each bar from
    tanh(Linear(e)) and reads [previous token one-hot, e], its first input the previous bar's
    last true token, so under teacher forcing the B*S bars are one batch (as ours)."""
    V, Z, S = cfg.vocab_size, cfg.z_size, cfg.num_segments
    E = cfg.conductor_hidden if cfg.hierarchical else Z

    class MusicVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.LSTM(V, cfg.encoder_hidden, cfg.encoder_layers, batch_first=True,
                                   bidirectional=True)
            self.heads = _small_init_(nn.Linear(2 * cfg.encoder_hidden, 2 * Z))
            if cfg.hierarchical:
                self.conductor_init = _small_init_(
                    nn.Linear(Z, 2 * cfg.conductor_layers * cfg.conductor_hidden))
                self.conductor = nn.LSTM(1, cfg.conductor_hidden, cfg.conductor_layers,
                                         batch_first=True)
            self.decoder_init = _small_init_(
                nn.Linear(E, 2 * cfg.decoder_layers * cfg.decoder_hidden))
            self.decoder = nn.LSTM(V + E, cfg.decoder_hidden, cfg.decoder_layers,
                                   batch_first=True)
            self.logits = nn.Linear(cfg.decoder_hidden, V)

        def encode(self, ids_BxT):
            _, (h_n, _) = self.encoder(F.one_hot(ids_BxT, V).float())
            mu, pre_sigma = self.heads(torch.cat([h_n[-2], h_n[-1]], -1)).chunk(2, dim=-1)
            return mu, F.softplus(pre_sigma)

        def segments(self, z_BxZ):
            """e_BxSxE: z (flat) or the conductor's output per bar."""
            if not cfg.hierarchical:
                return z_BxZ[:, None]
            zeros = z_BxZ.new_zeros(z_BxZ.shape[0], S, 1)
            e, _ = self.conductor(zeros, _state_from(self.conductor_init, z_BxZ,
                                                     cfg.conductor_layers))
            return e

        def forward(self, ids_BxT):
            B, T = ids_BxT.shape
            mu, sigma = self.encode(ids_BxT)
            z = mu + sigma * torch.randn_like(sigma)
            e = self.segments(z).reshape(B * S, -1)                         # (B*S, E)
            start = ids_BxT.new_full((B, 1), cfg.start_id)
            previous = torch.cat([start, ids_BxT[:, :-1]], 1).reshape(B * S, T // S)
            x = torch.cat([F.one_hot(previous, V).float(),
                           e[:, None].expand(-1, T // S, -1)], -1)
            y, _ = self.decoder(x, _state_from(self.decoder_init, e, cfg.decoder_layers))
            return self.logits(y).reshape(B, T, V), mu, sigma

    return MusicVAE()


def vae_loss(model, batch, step: int, task_cfg):
    """zoo.families.vae.task's objective: recon (nats per window) + beta max(KL - free_bits ln 2,
    0), beta = (1 - beta_rate ** step) max_beta, averaged over the batch's real windows."""
    ids = torch.from_numpy(np.asarray(batch["inputs"], np.int64))
    mask = torch.from_numpy(np.asarray(batch["mask"], np.float32))
    logits, mu, sigma = model(ids)
    recon = F.cross_entropy(logits.transpose(1, 2), ids, reduction="none").sum(-1)
    kl = 0.5 * (mu.square() + sigma.square() - 1.0 - 2.0 * sigma.log()).sum(-1)
    beta = (1.0 - task_cfg.beta_rate ** step) * task_cfg.max_beta
    cost = (kl - task_cfg.free_bits * math.log(2.0)).clamp(min=0.0)
    return ((recon + beta * cost) * mask).sum() / mask.sum().clamp(min=1.0)


# ---------------------------------------------------------------- LSTM-NADE

def torch_pianoroll(cfg) -> nn.Module:
    """zoo.nets.pianoroll.Config -> the same frame model in torch: ``nn.LSTM`` over the previous
    frames, dropout on its output, and the head: a Bernoulli per key, or a NADE whose biases come
    from the LSTM state, written vectorised over the keys as a PyTorch user writes it
    (a_k = b_hid + sum_{j<k} v_j w_enc_j as one exclusive cumsum, B x T x P x D).
    ``forward(inputs_BxTxP, targets_BxTxP) -> log p(frame_t | frames_<t), B x T``."""
    P, H, D = cfg.vocab_size, cfg.hidden, cfg.nade_hidden

    class Pianoroll(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(P, H, cfg.num_layers, batch_first=True,
                                dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
            self.drop = nn.Dropout(cfg.dropout)
            if cfg.head == "nade":
                self.to_b_vis, self.to_b_hid = nn.Linear(H, P), nn.Linear(H, D)
                self.w_enc = nn.Parameter(nn.init.xavier_uniform_(torch.empty(P, D)))
                self.w_dec = nn.Parameter(nn.init.xavier_uniform_(torch.empty(P, D)))
            else:
                self.to_logits = nn.Linear(H, P)

        def forward(self, inputs_BxTxP, targets_BxTxP):
            h, _ = self.lstm(inputs_BxTxP.float())
            h = self.drop(h)
            v = targets_BxTxP.float()
            if cfg.head == "nade":
                before = F.pad(v[..., :-1, None] * self.w_enc[:-1], (0, 0, 1, 0))
                a = self.to_b_hid(h)[..., None, :] + before.cumsum(dim=-2)   # B x T x P x D
                logits = self.to_b_vis(h) + (torch.sigmoid(a) * self.w_dec).sum(-1)
            else:
                logits = self.to_logits(h)
            return -F.softplus(-(2.0 * v - 1.0) * logits).sum(-1)

    return Pianoroll()


def frames_loss(model, batch, step: int, task_cfg):
    """zoo.families.frames.task's training loss: -log p(frame) averaged over unmasked frames."""
    del step, task_cfg
    logp = model(torch.from_numpy(np.asarray(batch["inputs"])),
                 torch.from_numpy(np.asarray(batch["targets"])))
    mask = torch.from_numpy(np.asarray(batch["mask"], np.float32))
    return -(logp * mask).sum() / mask.sum().clamp(min=1.0)


# ---------------------------------------------------------------- timed training steps

def _timed(step, batches, steps: int, warmup: int, interleave=None
           ) -> tuple[list[float], list[float]]:
    """Seconds of ``steps`` torch steps after ``warmup``; with ``interleave`` (``i -> seconds``
    of one JAX step), a JAX step after each torch step, so both see the same machine load (it
    is shared), and those JAX seconds."""
    for i in range(warmup):
        step(batches[i % len(batches)])
    times, theirs = [], []
    for i in range(steps):
        batch = batches[(warmup + i) % len(batches)]
        t0 = time.perf_counter()
        step(batch)
        times.append(time.perf_counter() - t0)
        if interleave is not None:
            theirs.append(interleave(warmup + i))
    return times, theirs


def _params(*modules) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def schedule_factor(train_cfg):
    """``step -> learning rate / peak``: zoo.families.optim.make_schedule in plain Python (linear
    warmup, then constant, cosine to ``min_learning_rate`` or exponential decay floored there),
    for ``torch.optim.lr_scheduler.LambdaLR``."""
    peak = train_cfg.learning_rate
    floor = min(train_cfg.min_learning_rate, peak)
    warmup = max(train_cfg.warmup_steps, 0)
    decay_steps = max(train_cfg.steps - warmup, 1)

    def after(step: int) -> float:
        if train_cfg.decay == "cosine":
            cos = 0.5 * (1 + math.cos(math.pi * min(step, decay_steps) / decay_steps))
            return ((1 - floor / peak) * cos + floor / peak) * peak
        if train_cfg.decay == "exponential":
            return max(peak * train_cfg.decay_rate ** step, floor)
        return peak

    def factor(step: int) -> float:
        if step < warmup:
            return step / warmup
        return after(step - warmup) / peak

    return factor


def optimizer(params, train_cfg, betas=(0.9, 0.999)):
    """zoo.families.optim.make_optimizer in torch: Adam (AdamW with ``weight_decay``) on the
    TrainConfig's schedule; global-norm clipping is the step's (``clip_grad_norm_``)."""
    params = list(params)
    if train_cfg.weight_decay > 0:
        opt = torch.optim.AdamW(params, lr=train_cfg.learning_rate, betas=betas,
                                weight_decay=train_cfg.weight_decay)
    else:
        opt = torch.optim.Adam(params, lr=train_cfg.learning_rate, betas=betas)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, schedule_factor(train_cfg))


def loss_step(model, loss_fn, train_cfg, task_cfg=None):
    """A training step on ``loss_fn(model, batch, step, task_cfg) -> scalar``: forward, backward,
    global-norm clip at ``clip_norm``, Adam on the schedule. Returns the loss before the update
    (so the first call's is the loss at initialization)."""
    opt, schedule = optimizer(model.parameters(), train_cfg)
    count = [0]

    def step(batch):
        model.train()
        loss = loss_fn(model, batch, count[0], task_cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if train_cfg.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.clip_norm)
        opt.step()
        schedule.step()
        count[0] += 1
        return loss

    return step


def lm_loss(model, batch, step: int, task_cfg):
    """The language models' loss: masked mean NLL per event."""
    del step, task_cfg
    inputs = torch.from_numpy(np.asarray(batch["inputs"], np.int64))
    targets = torch.from_numpy(np.asarray(batch["targets"], np.int64))
    mask = torch.from_numpy(np.asarray(batch["mask"], np.float32))
    logits = model(inputs)
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                          reduction="none")
    return (nll * mask.reshape(-1)).sum() / mask.sum().clamp(min=1.0)


def lm_step(model, train_cfg):
    """A language-model training step: masked mean NLL, backward, clip, Adam."""
    return loss_step(model, lm_loss, train_cfg)


def gan_step(generator, critic, net_cfg, train_cfg, task_cfg):
    """MuseGAN's WGAN-GP step: ``critic_steps`` critic updates (each on its own real phrases,
    fresh noise, gradient penalty), then one generator update; Adam(lr, b1, b2) each.
    ``net_cfg``: zoo.nets.musegan.Config; ``task_cfg``: zoo.families.gan.config.Config (the
    penalty weight and Adam's betas)."""
    betas = (task_cfg.adam_b1, task_cfg.adam_b2)
    g_opt = torch.optim.Adam(generator.parameters(), lr=train_cfg.learning_rate, betas=betas)
    c_opt = torch.optim.Adam(critic.parameters(), lr=train_cfg.learning_rate, betas=betas)
    Z, K = net_cfg.latent_dim, net_cfg.tracks

    def noise(B):
        return {"shared": torch.randn(B, Z), "private": torch.randn(B, K, Z),
                "temporal_shared": torch.randn(B, Z), "temporal_private": torch.randn(B, K, Z)}

    def step(batch):
        reals = torch.from_numpy(np.asarray(batch["inputs"], np.float32))  # (B, C, K, N, S, P)
        B = reals.shape[0]
        for c in range(reals.shape[1]):
            real = reals[:, c]
            with torch.no_grad():
                fake = torch.sigmoid(generator(noise(B)))
            eps = torch.rand(B, 1, 1, 1, 1)
            mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
            grads, = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
            gp = ((grads.flatten(1).square().sum(1) + 1e-12).sqrt() - 1).square().mean()
            loss = critic(fake).mean() - critic(real).mean() + task_cfg.gradient_penalty * gp
            c_opt.zero_grad(set_to_none=True)
            loss.backward()
            c_opt.step()
        critic.requires_grad_(False)
        g_loss = -critic(torch.sigmoid(generator(noise(B)))).mean()
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        critic.requires_grad_(True)
        return g_loss

    return step


def _port(model_cfg, train_cfg, task_cfg=None, seed: int = 0):
    """(step function, parameter count) of the torch port of ``model_cfg``, freshly built from
    torch seed ``seed``; ``task_cfg``: the family's task config (the GAN's and the VAE's; None:
    its defaults)."""
    from zoo.nets import lstm_lm, musegan, music_vae, pianoroll, transformer_lm

    torch.manual_seed(seed)
    if isinstance(model_cfg, lstm_lm.Config):
        model = torch_lstm_lm(model_cfg)
        return lm_step(model, train_cfg), _params(model)
    if isinstance(model_cfg, transformer_lm.Config):
        model = torch_transformer_lm(model_cfg)
        return lm_step(model, train_cfg), _params(model)
    if isinstance(model_cfg, musegan.Config):
        from zoo.families.gan.config import Config as GanConfig

        generator, critic = torch_musegan(model_cfg)
        step = gan_step(generator, critic, model_cfg, train_cfg,
                        GanConfig() if task_cfg is None else task_cfg)
        return step, _params(generator, critic)
    if isinstance(model_cfg, music_vae.Config):
        from zoo.families.vae.config import Config as VAEConfig

        task_cfg = VAEConfig() if task_cfg is None else task_cfg
        if not (task_cfg.sampling_schedule == "constant" and task_cfg.sampling_rate == 0):
            raise NotImplementedError("the torch MusicVAE is teacher-forced only (no scheduled "
                                      "sampling)")
        model = torch_music_vae(model_cfg)
        return loss_step(model, vae_loss, train_cfg, task_cfg), _params(model)
    if isinstance(model_cfg, pianoroll.Config):
        model = torch_pianoroll(model_cfg)
        return loss_step(model, frames_loss, train_cfg, task_cfg), _params(model)
    raise NotImplementedError("no torch port (the ports: the LSTM event model, the "
                              "Transformer, MuseGAN, MusicVAE and the piano-roll LSTM)")


# ---------------------------------------------------------------- sampling, token by token

def torch_sampler(model_cfg, end_id: int, pad_id: int):
    """``(run(batch, steps) -> ids_BxN, parameter count)``: the torch port of an event model
    generating as a PyTorch user does, one token per call from a Python loop under
    ``torch.inference_mode``: the LSTM with its (h, c) state carried, the Transformer with a
    KV cache; each token a ``torch.multinomial`` draw from the softmax, padding and END never
    drawn (every row runs all ``steps``, as the jitted rows with ``stop_at_end=False``). The
    primer is the start symbol alone. Random initial weights (speed does not depend on them)."""
    from zoo.nets import lstm_lm, transformer_lm

    torch.manual_seed(0)
    if isinstance(model_cfg, lstm_lm.Config):
        model = torch_lstm_lm(model_cfg)
    elif isinstance(model_cfg, transformer_lm.Config):
        model = torch_transformer_lm(model_cfg)
    else:
        raise NotImplementedError("token-by-token torch sampling: the LSTM and the Transformer")
    model.eval()
    never = torch.tensor([pad_id, end_id])

    @torch.inference_mode()
    def run(batch: int, steps: int):
        tok = torch.full((batch, 1), end_id, dtype=torch.long)
        out = torch.empty(batch, steps, dtype=torch.long)
        if isinstance(model_cfg, transformer_lm.Config):
            cache = model.new_cache(batch, steps)
            next_logits = lambda tok, i: model.step(tok, cache, i)
        else:
            state = [None]                                # (h, c), carried from call to call

            def next_logits(tok, i):
                logits, state[0] = model.step(tok, state[0])
                return logits
        for i in range(steps):
            logits = next_logits(tok, i)
            logits[:, never] = float("-inf")
            tok = torch.multinomial(torch.softmax(logits, -1), 1)
            out[:, i] = tok[:, 0]
        return out

    return run, _params(model)


def measure_torch_sampling(model_cfg, batch: int, steps: int, repeats: int = 3,
                           interleave=None, threads: tuple[int, ...] | None = None,
                           end_id: int = 1, pad_id: int = 0) -> dict:
    """Events/s of ``torch_sampler`` at ``batch`` rows and ``steps`` events, at each of
    ``threads`` intra-op thread counts (default ``thread_counts()``): one untimed run, then
    ``repeats`` timed ones, each followed by ``interleave()`` (seconds of one call of our jitted
    sampler) so both see the same load; ``torch_events_per_s`` is torch's faster setting and
    ``jit_interleaved_median_s`` the median of ours over all those rounds."""
    by_threads, ours, params = {}, [], None
    before = torch.get_num_threads()
    try:
        for n in threads or thread_counts():
            torch.set_num_threads(n)
            run, params = torch_sampler(model_cfg, end_id, pad_id)
            run(batch, steps)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                run(batch, steps)
                times.append(time.perf_counter() - t0)
                if interleave is not None:
                    ours.append(interleave())
            by_threads[n] = summary(times)["median_s"]
    finally:
        torch.set_num_threads(before)
    best = min(by_threads, key=by_threads.get)
    record = {"torch": torch.__version__, "torch_threads": best, "torch_params": params,
              "torch_median_s": by_threads[best],
              "torch_events_per_s": batch * steps / by_threads[best],
              "torch_median_s_by_threads": {str(n): t for n, t in by_threads.items()}}
    if ours:
        record["jit_interleaved_median_s"] = summary(ours)["median_s"]
        record["jit_interleaved_events_per_s"] = batch * steps / record["jit_interleaved_median_s"]
        record["jit_over_torch"] = by_threads[best] / record["jit_interleaved_median_s"]
    return record


def thread_counts() -> tuple[int, ...]:
    """The intra-op thread counts torch is timed with: as many as this process has CPUs (what
    XLA's CPU client uses) and, on a multi-core machine, also 1. On a shared machine torch's
    OpenMP threads can lose far more to oversubscription than one thread gains, so the ratio
    is taken against torch's faster setting: never flattering to ours."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (n, 1) if n > 1 else (1,)


def measure_torch_training(model_cfg, train_cfg, batches: list[dict], steps: int = 10,
                           warmup: int = 2, interleave=None,
                           threads: tuple[int, ...] | None = None, task_cfg=None) -> dict:
    """Median step time of the torch port of ``model_cfg`` (a zoo.nets Config; ``task_cfg``
    the family's task config, e.g. the GAN's penalty and betas, None: defaults) on ``batches``
    (the numpy batches the JAX side reads) at each of ``threads`` (default ``thread_counts()``)
    intra-op thread counts, a fresh model each; ``median_s`` is the fastest setting's. With
    ``interleave`` (one JAX step, ``i -> seconds``), ``jax_interleaved_median_s`` is the JAX
    median over the steps alternating with torch's (all settings). Raises NotImplementedError
    for a family or variant without a port."""
    by_threads, jax_times, params = {}, [], None
    before = torch.get_num_threads()
    try:
        for n in threads or thread_counts():
            torch.set_num_threads(n)
            step, params = _port(model_cfg, train_cfg, task_cfg)
            times, theirs = _timed(step, batches, steps, warmup, interleave)
            by_threads[n] = summary(times)
            jax_times += theirs
    finally:
        torch.set_num_threads(before)
    best = min(by_threads, key=lambda n: by_threads[n]["median_s"])
    record = {"kind": "torch_train", "torch": torch.__version__, "threads": best,
              "params": params, **by_threads[best],
              "median_s_by_threads": {str(n): st["median_s"] for n, st in by_threads.items()}}
    if jax_times:
        record["jax_interleaved_median_s"] = summary(jax_times)["median_s"]
    return record
