"""The MusicVAE task: ELBO training on fixed windows, sampling from the prior, interpolation, and
the reconstruction report; plus a plain Python API for notebooks.

Loss per window, in nats (Magenta's MusicVAE):

    recon = sum_t -log p(x_t | x_<t, z),  z ~ q(z|x)
    KL    = KL(N(mu, sigma^2) || N(0, I))
    loss  = recon + beta * max(KL - free_bits * ln 2, 0),  beta = (1 - beta_rate ** step) * max_beta

averaged over the windows of the global batch. Evaluation (no step) uses the fully annealed
beta = max_beta and teacher forcing; ELBO = -(recon + KL) per window.

Metrics travel as sums plus counts: ``recon_sum``, ``correct_sum`` and ``tokens`` (steps),
``kl_sum``, ``kl_cost_sum``, ``objective_sum``, ``beta_sum``, ``sample_prob_sum`` and ``windows``.

Notebook API (ids in, ids out; NoteSequences at the edges):

    from zoo.training import vae_task as vae
    task, params = vae.load("runs/music_vae-tiny")
    ids = vae.sample(task, params, 4, jax.random.key(0), temperature=0.5)     # (4, T)
    mu, sigma = vae.encode(task, params, [ns_a, ns_b])
    ids = vae.interpolate(task, params, ns_a, ns_b, 8, jax.random.key(1))      # (8, T)
    ns = vae.to_note_sequence(task.codec, ids)                                 # steps in order
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from zoo.codecs import END
from zoo.codecs.base import without_corpus_filters
from zoo.config import TrainConfig
from zoo.data.batcher import Batcher
from zoo.errors import SkipPiece, ZooError
from zoo.families.task import Column, Metric, Task
from zoo.families.vae.config import Config
from zoo.families.vae.windows import (
    STEPS_PER_BAR,
    WindowSpec,
    check_codec,
    eval_window_batches,
    train_batches,
    window_index,
    window_of,
)

if TYPE_CHECKING:
    import note_seq

LN2 = math.log(2.0)
# The interpolation check of ``zoo eval`` (``interpolation_report``): seeded pairs of a split's
# windows, points along each slerp, the temperature of ``zoo interpolate``.
INTERPOLATION_PAIRS = 64
INTERPOLATION_STEPS = 8
INTERPOLATION_TEMPERATURE = 0.5


# ---------------------------------------------------------------- the loss terms

def kl_divergence(mu_BxZ, sigma_BxZ):
    """KL(N(mu, diag sigma^2) || N(0, I)) per row, nats: 0.5 sum(mu^2 + sigma^2 - 1 - ln sigma^2)."""
    return 0.5 * jnp.sum(mu_BxZ ** 2 + sigma_BxZ ** 2 - 1.0 - 2.0 * jnp.log(sigma_BxZ), axis=-1)


def kl_cost(kl_B, free_bits: float):
    """The KL term the loss pays: nats above the free bits, max(KL - free_bits ln 2, 0)."""
    return jnp.maximum(kl_B - free_bits * LN2, 0.0)


def beta_at(step, max_beta: float, beta_rate: float):
    """KL weight annealed as Magenta: (1 - beta_rate ** step) * max_beta."""
    return (1.0 - jnp.power(beta_rate, jnp.asarray(step, jnp.float32))) * max_beta


def sampling_probability(step, schedule: str, rate: float):
    """Scheduled sampling: the chance of feeding the model's own sample instead of the truth."""
    if schedule == "constant":
        if not 0.0 <= rate <= 1.0:
            raise ZooError(f"a constant sampling_rate is a probability in [0, 1], not {rate}")
        return jnp.float32(rate)
    if schedule == "inverse_sigmoid":
        if rate < 1.0:
            raise ZooError(f"an inverse_sigmoid sampling_rate must be at least 1, not {rate}")
        return 1.0 - rate / (rate + jnp.exp(jnp.asarray(step, jnp.float32) / rate))
    raise ZooError(f"unknown sampling_schedule '{schedule}'; use constant or inverse_sigmoid")


def slerp(a_Z, b_Z, t_N):
    """z_NxZ: spherical interpolation from a (t = 0) to b (t = 1) at each t; linear where a and b
    are parallel."""
    a, b = jnp.asarray(a_Z, jnp.float32), jnp.asarray(b_Z, jnp.float32)
    t = jnp.asarray(t_N, jnp.float32)[:, None]
    cos = jnp.dot(a, b) / jnp.maximum(jnp.linalg.norm(a) * jnp.linalg.norm(b), 1e-12)
    omega = jnp.arccos(jnp.clip(cos, -1.0, 1.0))
    parallel = jnp.sin(omega) < 1e-6
    spherical = (jnp.sin((1 - t) * omega) * a + jnp.sin(t * omega) * b) / jnp.where(
        parallel, 1.0, jnp.sin(omega))
    return jnp.where(parallel, (1 - t) * a + t * b, spherical)


def summarize(sums: dict) -> dict[str, float]:
    """Metric sums (over batches and steps) -> means: per window (loss, elbo, kl) or per step."""
    windows = max(float(sums["windows"]), 1.0)
    tokens = max(float(sums["tokens"]), 1.0)
    kl = float(sums["kl_sum"]) / windows
    return {
        "loss": float(sums["objective_sum"]) / windows,
        "elbo": -(float(sums["recon_sum"]) + float(sums["kl_sum"])) / windows,
        "recon_nll": float(sums["recon_sum"]) / tokens,
        "accuracy": float(sums["correct_sum"]) / tokens,
        "kl": kl,
        "kl_bits": kl / LN2,
        "beta": float(sums["beta_sum"]) / windows,
        "sample_prob": float(sums["sample_prob_sum"]) / windows,
        "windows": int(sums["windows"]),
    }


# ---------------------------------------------------------------- jitted decoding

@functools.partial(jax.jit, static_argnames=("model", "top_k"))
def _decode(model, params, z_BxZ, rng, temperature, top_k: int, top_p):
    return model.apply({"params": params}, z_BxZ, temperature, top_k, top_p,
                       method="decode", rngs={"sampling": rng})


@functools.partial(jax.jit, static_argnames=("model", "num", "top_k"))
def _sample_prior(model, params, num: int, rng, temperature, top_k: int, top_p):
    """z ~ N(0, I) drawn inside jit, then decoded."""
    z = jax.random.normal(jax.random.fold_in(rng, 0), (num, model.config.z_size))
    return _decode(model, params, z, jax.random.fold_in(rng, 1), temperature, top_k, top_p)


@functools.partial(jax.jit, static_argnames=("model",))
def _encode(model, params, ids_BxT):
    return model.apply({"params": params}, ids_BxT, method="encode")


@functools.partial(jax.jit, static_argnames=("model", "steps"))
def _interpolate(model, params, ids_2xT, steps: int, rng, temperature):
    mu, _ = model.apply({"params": params}, ids_2xT, method="encode")
    z = slerp(mu[0], mu[1], jnp.linspace(0.0, 1.0, steps))
    return _decode(model, params, z, rng, temperature, 0, 1.0)


@functools.partial(jax.jit, static_argnames=("model", "steps"))
def _interpolate_pairs(model, params, a_PxT, b_PxT, steps: int, rng, temperature):
    """ids_PxSxT: for each pair (a_p, b_p), the decodings of ``steps`` points of the slerp from
    mu(a_p) to mu(b_p), ends included (``_interpolate`` for P pairs in one call)."""
    mu_a, _ = model.apply({"params": params}, a_PxT, method="encode")
    mu_b, _ = model.apply({"params": params}, b_PxT, method="encode")
    t = jnp.linspace(0.0, 1.0, steps)
    z_PxSxZ = jax.vmap(lambda a, b: slerp(a, b, t))(mu_a, mu_b)
    P, S, Z = z_PxSxZ.shape
    ids = _decode(model, params, z_PxSxZ.reshape(P * S, Z), rng, temperature, 0, 1.0)
    return ids.reshape(P, S, -1)


@functools.partial(jax.jit, static_argnames=("model",))
def _free_running_correct(model, params, batch, rng):
    """Matching steps of free-running reconstructions, summed over real rows, two ways:
    sampled (Magenta's evaluation: z ~ q(z|x), tokens drawn at temperature 1) and greedy
    (z = mean, argmax tokens)."""
    ids = batch["inputs"]
    mu, sigma = model.apply({"params": params}, ids, method="encode")
    z = jnp.concatenate([mu + sigma * jax.random.normal(jax.random.fold_in(rng, 0), mu.shape), mu])
    temperature = jnp.repeat(jnp.array([1.0, 0.0]), len(ids))[:, None]
    out = model.apply({"params": params}, z, temperature, 0, 1.0, method="decode",
                      rngs={"sampling": jax.random.fold_in(rng, 1)})
    correct = (out == jnp.concatenate([ids, ids])) * jnp.tile(batch["mask"], 2)[:, None]
    return correct[:len(ids)].sum(), correct[len(ids):].sum()


# ---------------------------------------------------------------- the task

class VAETask(Task):
    """Binds a MusicVAE (zoo/nets/music_vae.py) to the engine: the ELBO loss with beta annealing
    and scheduled sampling (both read the step), window batches, sampling from the prior,
    interpolation, and free-running reconstruction accuracy in the report."""

    interpolates = True
    primary = Metric("loss", "min")
    eval_metrics = ("loss", "recon_nll", "accuracy")
    report_columns = (Column("windows", "windows", "d", 8),
                      Column("accuracy", "teacher-forced", ".4f", 14),
                      Column("sampled_accuracy", "sampled", ".4f", 8),
                      Column("greedy_accuracy", "greedy", ".4f", 7),
                      Column("recon_nll", "NLL/step", ".4f", 9), Column("kl", "KL nats", ".2f", 8),
                      Column("kl_bits", "KL bits", ".2f", 8), Column("elbo", "ELBO", ".2f", 9))
    report_notes = ("accuracy: per-step token accuracy of reconstructions; sampled: z ~ q(z|x), "
                    "tokens at temperature 1; greedy: z = mean, argmax; KL and ELBO per window",)

    def __init__(self, model, codec, train_cfg: TrainConfig, config: Config | None = None):
        check_codec(codec)
        super().__init__(model, codec, train_cfg, config)
        if model.config.steps_per_bar != STEPS_PER_BAR:
            raise ZooError(f"the melody and drums codecs have {STEPS_PER_BAR} steps per bar, "
                           f"not {model.config.steps_per_bar}")
        c = self.config
        sampling_probability(0, c.sampling_schedule, c.sampling_rate)  # validates the schedule
        self.spec = WindowSpec(model.config.num_steps, c.stride_bars * STEPS_PER_BAR,
                               c.max_rest_fraction)

    @staticmethod
    def default_config() -> Config:
        return Config()

    @property
    def window_steps(self) -> int:
        return self.model.config.num_steps

    @property
    def _scheduled(self) -> bool:
        c = self.config
        return not (c.sampling_schedule == "constant" and c.sampling_rate == 0)

    def loss(self, params, batch, rng, *, step=None, train: bool = False):
        """(mean objective per window, metric sums). ``step`` None: evaluation (beta = max_beta,
        teacher forcing)."""
        c = self.config
        ids, mask_B = batch["inputs"], batch["mask"]
        if step is None:
            beta, p = jnp.float32(c.max_beta), None
        else:
            beta = beta_at(step, c.max_beta, c.beta_rate)
            p = sampling_probability(step, c.sampling_schedule, c.sampling_rate)
        latent, sampling = jax.random.split(rng)
        logits, mu, sigma = self.model.apply(
            {"params": params}, ids, p if (train and self._scheduled) else None,
            rngs={"latent": latent, "sampling": sampling})
        logp = jax.nn.log_softmax(logits)
        nll_BxT = -jnp.take_along_axis(logp, ids[..., None], axis=-1)[..., 0]
        recon_B = nll_BxT.sum(-1)
        kl_B = kl_divergence(mu, sigma)
        cost_B = kl_cost(kl_B, c.free_bits)
        objective_B = recon_B + beta * cost_B
        windows = mask_B.sum()
        sums = {
            "recon_sum": jnp.sum(recon_B * mask_B),
            "correct_sum": jnp.sum((jnp.argmax(logits, -1) == ids) * mask_B[:, None]),
            "tokens": windows * ids.shape[1],
            "kl_sum": jnp.sum(kl_B * mask_B),
            "kl_cost_sum": jnp.sum(cost_B * mask_B),
            "objective_sum": jnp.sum(objective_B * mask_B),
            "beta_sum": beta * windows,
            "sample_prob_sum": (0.0 if p is None or not train else p) * windows,
            "windows": windows,
        }
        return sums["objective_sum"] / jnp.maximum(windows, 1.0), sums

    def summarize(self, sums: dict) -> dict[str, float]:
        return summarize(sums)

    def train_batches(self, split, process_index: int, process_count: int) -> Batcher:
        c = self.cfg
        return train_batches(split, self.codec, self.spec, c.batch_size, c.seed, c.transpose,
                             process_index, process_count)

    def eval_batches(self, split, batch_size: int, max_pieces: int | None = None):
        batches = eval_window_batches(split, self.codec, self.spec, batch_size, max_pieces)
        if not batches:
            raise ZooError(f"the {split.name} split has no window of "
                           f"{self.window_steps // STEPS_PER_BAR} bars to evaluate")
        return batches

    def generate(self, params, num: int, steps: int, prefix_ids, rng, *, temperature=0.5,
                 top_k=0, top_p=1.0) -> list:
        """``num`` windows decoded from z ~ N(0, I) (inside jit), one NoteSequence each."""
        if len(prefix_ids) > 1 or (len(prefix_ids) == 1 and prefix_ids[0] != END):
            raise ZooError("MusicVAE samples z from the prior and takes no primer; to start from "
                           "a piece, use `zoo interpolate`")
        if steps not in (self.window_steps, self.cfg.seq_len):
            raise ZooError(f"this MusicVAE decodes windows of {self.window_steps} steps; "
                           f"--steps must be {self.window_steps}")
        ids = sample(self, params, num, rng, temperature=temperature, top_k=top_k, top_p=top_p)
        return [self.codec.decode(row) for row in ids]

    def interpolate(self, params, ns_a, ns_b, steps: int, rng, temperature=0.5):
        """One NoteSequence: the decodings of ``steps`` points of the slerp from a to b, in order."""
        ids = interpolate(self, params, ns_a, ns_b, steps, rng, temperature=temperature)
        return to_note_sequence(self.codec, ids)

    def extra_metrics(self, params, split) -> dict[str, float]:
        """Free-running reconstruction accuracy on every non-overlapping window of the split:
        sampled (z ~ q(z|x), tokens at temperature 1, as Magenta's evaluation) and greedy
        (z = mean, argmax)."""
        batches = self.eval_batches(split, self.cfg.batch_size)
        counts, windows = np.zeros(2), 0.0
        for i, b in enumerate(batches):
            counts += jax.device_get(_free_running_correct(self.model, params, b,
                                                           jax.random.key(i)))
            windows += float(b["mask"].sum())
        steps = max(windows * self.window_steps, 1)
        sampled, greedy = (counts / steps).tolist()
        return {"sampled_accuracy": sampled, "greedy_accuracy": greedy}

    def extra_report(self, params, data, splits) -> tuple[list[str], dict]:
        """Whether interpolations stay in key: ``interpolation_report`` on each split."""
        lines, rows = [], {}
        for name in splits:
            split = data.split(name)
            row = interpolation_report(self, params, split) if len(split) else None
            if row is None:
                continue
            rows[name] = row
            if not lines:
                lines += [f"interpolation: {row['pairs']} seeded pairs of windows (a, b), "
                          f"{row['points']} slerp points each, temperature "
                          f"{row['temperature']:g}; scale consistency, mean over pairs: of the "
                          "sequence (data: a then b) and of each window (inner points)",
                          f"{'split':<6} {'data seq':>8} {'interp seq':>10} {'diff':>7} "
                          f"{'data win':>8} {'interp win':>10} {'notes data/interp':>17}"]
            lines.append(f"{name:<6} {row['data_scale_consistency']:>8.3f} "
                         f"{row['interpolated_scale_consistency']:>10.3f} "
                         f"{row['difference']:>+7.3f} {row['data_window_scale_consistency']:>8.3f}"
                         f" {row['interpolated_window_scale_consistency']:>10.3f} "
                         f"{row['data_notes_per_window']:>8.1f}/"
                         f"{row['interpolated_notes_per_window']:<8.1f}")
        return lines, ({"interpolation": rows} if rows else {})


# ---------------------------------------------------------------- functions over (task, params)

def windows(task: VAETask, pieces) -> np.ndarray:
    """int32 (N, T): the first window of each piece (a NoteSequence or an id array), padded with
    rest if shorter. NoteSequences are encoded without the corpus filters (a 2-bar phrase is fine);
    the codec drops leading whole bars of rest."""
    codec = without_corpus_filters(task.codec)
    import note_seq  # here and below, not at the top: the loss imports without note_seq

    rows = []
    for piece in pieces:
        if isinstance(piece, note_seq.NoteSequence):
            try:
                piece = codec.encode(piece)
            except SkipPiece as e:
                raise ZooError(f"cannot encode a piece with codec {codec.name}: {e.reason}"
                               ) from None
        rows.append(window_of(piece, task.codec, task.window_steps))
    return np.stack(rows).astype(np.int32)


def encode(task: VAETask, params, pieces) -> tuple[np.ndarray, np.ndarray]:
    """(mu_NxZ, sigma_NxZ) of q(z|x) for each piece's first window."""
    mu, sigma = _encode(task.model, params, jnp.asarray(windows(task, pieces)))
    return np.asarray(mu), np.asarray(sigma)


def decode(task: VAETask, params, z_NxZ, rng, *, temperature=0.5, top_k=0, top_p=1.0
           ) -> np.ndarray:
    """int32 (N, T): windows decoded from z (temperature 0: argmax)."""
    z = jnp.asarray(z_NxZ, jnp.float32)
    return np.asarray(_decode(task.model, params, z, rng, temperature, top_k, top_p))


def sample(task: VAETask, params, num: int, rng, *, temperature=0.5, top_k=0, top_p=1.0
           ) -> np.ndarray:
    """int32 (num, T): windows decoded from z ~ N(0, I)."""
    if num < 1:
        raise ZooError(f"--num must be at least 1, not {num}")
    return np.asarray(_sample_prior(task.model, params, num, rng, temperature,
                                    top_k, top_p))


def interpolate(task: VAETask, params, a, b, steps: int, rng, *, temperature=0.5) -> np.ndarray:
    """int32 (steps, T): decodings of slerp(mu_a, mu_b, t) for t = 0, 1/(steps-1), ..., 1
    (encoding, interpolation and decoding in one jit)."""
    if steps < 2:
        raise ZooError(f"--steps must be at least 2 (the two ends), not {steps}")
    ids = jnp.asarray(windows(task, [a, b]))
    return np.asarray(_interpolate(task.model, params, ids, steps, rng, temperature))


def _scale_consistency(codec, windows_NxT) -> float:
    """The eval suite's scale consistency (``zoo.eval.pitch``) of the windows played one after
    the other; nan without notes."""
    from zoo.eval import Notes, pitch

    return pitch.scale_consistency(Notes.from_sequence(to_note_sequence(codec, windows_NxT)))


def interpolation_report(task: VAETask, params, split, *, pairs: int = INTERPOLATION_PAIRS,
                         steps: int = INTERPOLATION_STEPS,
                         temperature: float = INTERPOLATION_TEMPERATURE, seed: int = 0
                         ) -> dict | None:
    """Do interpolations between two of the split's windows stay in key?

    Pairs: ``2 * pairs`` distinct windows drawn (seeded) from the split's non-overlapping
    windows, a_p = the first half, b_p = the second. Each pair is interpolated as ``zoo
    interpolate`` does (slerp of the posterior means, ``steps`` points, decoded at
    ``temperature``). Scale consistency (``zoo.eval.pitch``), mean over pairs, two ways:

    - sequence: the interpolation as ``zoo interpolate`` writes it (the ``steps`` decoded windows
      one after the other) beside the data pair (a then b);
    - window: each decoded inner point (0 < t < 1) beside each data window.

    Also the mean notes per window of both (a decoder that falls silent scores nothing). None
    when the split has fewer than 2 windows."""
    if steps < 3:
        raise ZooError(f"an interpolation check needs at least 3 points, not {steps}")
    index = window_index(split, task.codec, task.spec, task.spec.steps)
    n = min(pairs, len(index) // 2)
    if n < 1:
        return None
    pick = np.random.default_rng(seed).choice(len(index), 2 * n, replace=False)
    ids = np.stack([window_of(split[p][s:], task.codec, task.window_steps)
                    for p, s in index[pick]]).astype(np.int32)
    out_PxSxT = np.asarray(_interpolate_pairs(task.model, params, jnp.asarray(ids[:n]),
                                              jnp.asarray(ids[n:]), steps,
                                              jax.random.key(seed), temperature))
    codec = task.codec
    data_seq = [_scale_consistency(codec, ids[[p, n + p]]) for p in range(n)]
    interp_seq = [_scale_consistency(codec, out_PxSxT[p]) for p in range(n)]
    data_win = [_scale_consistency(codec, w[None]) for w in ids]
    inner = out_PxSxT[:, 1:-1].reshape(-1, ids.shape[1])
    interp_win = [_scale_consistency(codec, w[None]) for w in inner]
    notes = lambda rows: float(np.mean([len(codec.decode(w).notes) for w in rows]))
    row = {"pairs": n, "points": steps, "temperature": temperature,
           "data_scale_consistency": float(np.nanmean(data_seq)),
           "interpolated_scale_consistency": float(np.nanmean(interp_seq)),
           "data_window_scale_consistency": float(np.nanmean(data_win)),
           "interpolated_window_scale_consistency": float(np.nanmean(interp_win)),
           "data_notes_per_window": notes(ids), "interpolated_notes_per_window": notes(inner)}
    row["difference"] = row["interpolated_scale_consistency"] - row["data_scale_consistency"]
    return row


def to_note_sequence(codec, ids_NxT) -> note_seq.NoteSequence:
    """One NoteSequence of the windows one after the other (each lasts T sixteenths)."""
    import note_seq

    ids_NxT = np.asarray(ids_NxT)
    seconds = ids_NxT.shape[1] * 60.0 / codec.qpm / 4
    pieces = [codec.decode(row) for row in ids_NxT]
    return note_seq.sequences_lib.concatenate_sequences(pieces, [seconds] * len(pieces))
