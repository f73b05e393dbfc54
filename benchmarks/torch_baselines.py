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

    return TransformerLM()


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


def lm_step(model, train_cfg):
    """A language-model training step: masked mean NLL, backward, clip, Adam."""
    opt = torch.optim.Adam(model.parameters(), lr=train_cfg.learning_rate)

    def step(batch):
        model.train()
        inputs = torch.from_numpy(np.asarray(batch["inputs"], np.int64))
        targets = torch.from_numpy(np.asarray(batch["targets"], np.int64))
        mask = torch.from_numpy(np.asarray(batch["mask"]))
        logits = model(inputs)
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                              reduction="none")
        loss = (nll * mask.reshape(-1)).sum() / mask.sum().clamp(min=1.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if train_cfg.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.clip_norm)
        opt.step()
        return loss

    return step


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


def _port(model_cfg, train_cfg, task_cfg=None):
    """(step function, parameter count) of the torch port of ``model_cfg``, freshly built;
    ``task_cfg``: the family's task config (the GAN's; None: its defaults)."""
    from zoo.nets import lstm_lm, musegan, transformer_lm

    torch.manual_seed(0)
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
    raise NotImplementedError("no torch port (the issue asks for the LSTM event model, "
                              "the Transformer and the GAN step)")


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
