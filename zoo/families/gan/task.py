"""The GAN task: a generator and a critic trained against each other (MuseGAN, Dong et al., 2018),
for any model with ``apply(params, z, method="generate") -> logits_BxKxNxSxP`` and
``apply(params, x, method="score") -> (B,)`` under one parameter tree
``{"generator": ..., "critic": ...}``.

One engine step is ``critic_steps`` critic updates (each on its own real batch and fresh noise)
then one generator update, in one pure jitted function, data parallel like every other step:
the phrases and the noise (drawn per global row) are sharded over the batch, and every loss is a
mean over the global batch. Both parameter sets and both Adam states live in the one train state,
so one checkpoint holds the whole GAN.

Objectives (``task.loss``), with D the critic's score and x~ = sigmoid(G(z)):
  wgan-gp        critic: E[D(x~)] - E[D(x)] + lambda * GP;  generator: -E[D(x~)]
  nonsaturating  critic: E[softplus(-D(x))] + E[softplus(D(x~))] + lambda * GP;
                 generator: E[softplus(-D(x~))]
  GP = E[(||grad D(x^)||_2 - 1)^2], x^ = e x + (1 - e) x~, e ~ U[0, 1] per phrase
  (Gulrajani et al., 2017; lambda = ``task.gradient_penalty``, 0 turns it off).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from zoo.config import TrainConfig
from zoo.data.batcher import Batcher
from zoo.errors import ZooError
from zoo.families.gan.config import Config
from zoo.families.gan.phrases import eval_phrase_batches, split_phrases, train_batches
from zoo.families.optim import make_schedule
from zoo.families.task import Column, Task
from zoo.nets.musegan import sample_latents

TRACK_METRICS = {  # musegan_metrics key -> label in the report (per track)
    "empty_bar_rate": "EB  empty bars",
    "used_pitch_classes": "UPC pitch classes/bar",
    "qualified_note_rate": "QN  qualified notes",
    "polyphonicity": "PP  polyphonicity",
}


def gradient_penalty(score_fn, real, fake, eps_B) -> jax.Array:
    """Mean over phrases of (||d score(x^) / d x^||_2 - 1)^2 at x^ = e real + (1 - e) fake.

    score_fn: (B, ...) -> (B,), each score a function of its own phrase only (no batch statistics),
    so the gradient of the summed scores holds each phrase's own gradient. eps_B: e per phrase.
    """
    eps = eps_B.reshape(-1, *([1] * (real.ndim - 1)))
    mixed = eps * real + (1.0 - eps) * fake
    grads = jax.grad(lambda x: jnp.sum(score_fn(x)))(mixed)
    norms_B = jnp.sqrt(jnp.sum(jnp.square(grads), axis=tuple(range(1, grads.ndim))) + 1e-12)
    return jnp.mean(jnp.square(norms_B - 1.0))


def critic_objective(d_real_B, d_fake_B, loss: str) -> jax.Array:
    if loss == "wgan-gp":
        return jnp.mean(d_fake_B) - jnp.mean(d_real_B)
    return jnp.mean(jax.nn.softplus(-d_real_B)) + jnp.mean(jax.nn.softplus(d_fake_B))


def generator_objective(d_fake_B, loss: str) -> jax.Array:
    if loss == "wgan-gp":
        return -jnp.mean(d_fake_B)
    return jnp.mean(jax.nn.softplus(-d_fake_B))


class GanOptimizer(NamedTuple):
    """Two optax transformations behind one ``init``: the optimizer state is
    ``{"generator": ..., "critic": ...}`` beside params of the same two keys. ``update`` updates
    both (an optax multi-transform); the GAN step calls ``generator`` and ``critic`` apart."""

    init: Any
    update: Any
    generator: optax.GradientTransformation
    critic: optax.GradientTransformation


def make_gan_optimizer(cfg: TrainConfig, b1: float, b2: float, critic_steps: int
                       ) -> tuple[GanOptimizer, optax.Schedule]:
    """Adam(learning_rate, b1, b2) for each network (MuseGAN: 1e-3, 0.5, 0.9), after global-norm
    clipping at ``clip_norm`` when it is > 0. The critic's schedule advances once per generator
    step (its Adam counts ``critic_steps`` updates per step)."""
    schedule = make_schedule(cfg)

    def adam(learning_rate):
        clip = [optax.clip_by_global_norm(cfg.clip_norm)] if cfg.clip_norm > 0 else []
        # flattened: one vector of moments per network, a few ops instead of a few per leaf
        return optax.flatten(optax.chain(*clip, optax.adam(learning_rate, b1=b1, b2=b2)))

    generator = adam(schedule)
    critic = adam(lambda count: schedule(count // critic_steps))

    def init(params):
        return {"generator": generator.init(params["generator"]),
                "critic": critic.init(params["critic"])}

    def update(grads, state, params=None):
        g, gs = generator.update(grads["generator"], state["generator"],
                                 None if params is None else params["generator"])
        c, cs = critic.update(grads["critic"], state["critic"],
                              None if params is None else params["critic"])
        return {"generator": g, "critic": c}, {"generator": gs, "critic": cs}

    return GanOptimizer(init, update, generator, critic), schedule


def to_frames(phrase_KxNxSxP: np.ndarray) -> np.ndarray:
    """(K, N, S, P) -> the multitrack codec's frames (N * S, K * P)."""
    K, N, S, P = phrase_KxNxSxP.shape
    return phrase_KxNxSxP.transpose(1, 2, 0, 3).reshape(N * S, K * P)


def metric_distances(samples: dict, data: dict) -> dict[str, float]:
    """Mean absolute difference per MuseGAN metric between two ``musegan_metrics`` results:
    over tracks for the per-track metrics, over track pairs for the tonal distance; metrics
    undefined on either side (nan, e.g. an empty track) are left out of the mean."""
    out = {}
    for name in TRACK_METRICS:
        out[name] = _nanmean_abs(samples[name], data[name])
    td_s, td_d = np.asarray(samples["tonal_distance"]), np.asarray(data["tonal_distance"])
    upper = np.triu_indices(td_s.shape[0], k=1)
    out["tonal_distance"] = _nanmean_abs(td_s[upper], td_d[upper])
    if not np.isnan(data.get("drum_pattern_rate", np.nan)):
        out["drum_pattern_rate"] = _nanmean_abs(samples["drum_pattern_rate"],
                                                data["drum_pattern_rate"])
    return out


def _nanmean_abs(a, b) -> float:
    diff = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).reshape(-1)
    diff = diff[~np.isnan(diff)]
    return float(diff.mean()) if diff.size else float("nan")


@functools.partial(jax.jit, static_argnums=(0, 1))
def _binary_phrases(model, cfg: Config, params, latents, key, temperature):
    """Binary phrases (B, K, N, S, P) from latents with a leading B: sigmoid outputs above
    ``cfg.threshold``, or Bernoulli draws from sigmoid(logits / temperature) (``cfg.binarize``),
    phrase b's draws from ``fold_in(key, b)``. Compiled once per model config and batch size."""
    logits = model.apply({"params": params}, latents, method="generate")
    if cfg.binarize == "threshold":
        return (jax.nn.sigmoid(logits) > cfg.threshold).astype(jnp.uint8)
    keys = jax.vmap(lambda b: jax.random.fold_in(key, b))(jnp.arange(len(logits)))
    draw = jax.vmap(lambda k, lg: jax.random.bernoulli(k, jax.nn.sigmoid(lg)))
    return draw(keys, logits / temperature).astype(jnp.uint8)


@functools.partial(jax.jit, static_argnums=(0, 4))
def _invert(model, params, phrases_BxKxNxSxP, key, steps: int):
    """-> (latents with a leading B, loss per Adam step (steps,)): Adam (learning rate 0.05) on
    the latents from a standard normal start, minimizing the binary cross-entropy of the
    generated logits against the phrases."""
    latents = sample_latents(model.config, key, jnp.arange(len(phrases_BxKxNxSxP)))
    target = phrases_BxKxNxSxP
    opt = optax.adam(0.05)

    def loss(z):
        logits = model.apply({"params": params}, z, method="generate")
        return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, target))

    def step(carry, _):
        z, state = carry
        value, grads = jax.value_and_grad(loss)(z)
        updates, state = opt.update(grads, state)
        return (optax.apply_updates(z, updates), state), value

    (latents, _), losses = jax.lax.scan(step, (latents, opt.init(latents)), None, length=steps)
    return latents, losses


def _jsonable(metrics: dict) -> dict:
    return {k: (np.asarray(v).tolist() if np.ndim(v) else float(v)) for k, v in metrics.items()}


class GanTask(Task):
    """Binds a MuseGAN-style model to the engine: its own optimizer and update (critic steps then
    a generator step), phrase batches, sampling, and a report of MuseGAN's metrics on generated
    phrases beside the data's. No valid metric means "better" for a GAN: no early stopping."""

    interpolates = True
    primary = None
    eval_metrics = ("critic_gap",)
    report_columns = (Column("phrases", "phrases", "d", 8),
                      Column("critic_real", "E[D(x)]", ".4f", 9),
                      Column("critic_fake", "E[D(G(z))]", ".4f", 11),
                      Column("critic_gap", "gap", ".4f", 9))

    def __init__(self, model, codec, train_cfg: TrainConfig, config: Config | None = None):
        super().__init__(model, codec, train_cfg, config)
        self.net = model.config

    @staticmethod
    def default_config() -> Config:
        return Config()

    def _generate(self, generator_params, critic_params, z):
        return self.model.apply({"params": {"generator": generator_params,
                                            "critic": critic_params}}, z, method="generate")

    def _score(self, generator_params, critic_params, x):
        return self.model.apply({"params": {"generator": generator_params,
                                            "critic": critic_params}}, x, method="score")

    # ---- training
    def make_optimizer(self):
        self._check_codec()  # the engine's first call on a run: fail before compiling anything
        c = self.config
        return make_gan_optimizer(self.cfg, c.adam_b1, c.adam_b2, c.critic_steps)

    def make_update(self, tx: GanOptimizer, schedule):
        cfg, net = self.config, self.net
        weight = cfg.gradient_penalty

        def update(params, opt_state, batch, step_rng, step):
            rows = batch["row"]
            reals = jnp.moveaxis(batch["inputs"], 1, 0).astype(jnp.float32)  # (C, B, K, N, S, P)
            gen = params["generator"]

            def critic_update(carry, xs):
                crit, opt = carry
                c, real = xs
                z_key, eps_key = jax.random.split(jax.random.fold_in(step_rng, c))
                fake = jax.nn.sigmoid(self._generate(gen, crit, sample_latents(net, z_key, rows)))
                eps_B = jax.vmap(lambda r: jax.random.uniform(jax.random.fold_in(eps_key, r)))(
                    rows)

                def loss_fn(crit):
                    score = lambda x: self._score(gen, crit, x)
                    # one critic graph for both sides: a smaller graph compiles faster
                    d_real, d_fake = jax.vmap(score)(jnp.stack([real, fake]))
                    adversarial = critic_objective(d_real, d_fake, cfg.loss)
                    gp = gradient_penalty(score, real, fake, eps_B) if weight else jnp.zeros(())
                    gap = jnp.mean(d_real) - jnp.mean(d_fake)
                    return adversarial + weight * gp, (adversarial, gp, gap)

                (loss, (adversarial, gp, gap)), grads = jax.value_and_grad(
                    loss_fn, has_aux=True)(crit)
                updates, opt = tx.critic.update(grads, opt, crit)
                crit = optax.apply_updates(crit, updates)
                return (crit, opt), {"critic_loss": adversarial, "gradient_penalty": gp,
                                     "critic_gap": gap}

            steps = jnp.arange(reals.shape[0])
            (crit, crit_opt), critic_metrics = jax.lax.scan(
                critic_update, (params["critic"], opt_state["critic"]), (steps, reals))

            z = sample_latents(net, jax.random.fold_in(step_rng, reals.shape[0]), rows)

            def generator_loss(gen):
                fake = jax.nn.sigmoid(self._generate(gen, crit, z))
                return generator_objective(self._score(gen, crit, fake), cfg.loss)

            g_loss, g_grads = jax.value_and_grad(generator_loss)(gen)
            updates, gen_opt = tx.generator.update(g_grads, opt_state["generator"], gen)
            new_gen = optax.apply_updates(gen, updates)
            metrics = {k: jnp.mean(v) for k, v in critic_metrics.items()}
            metrics.update(generator_loss=g_loss, generator_grad_norm=optax.global_norm(g_grads),
                           count=jnp.ones((), jnp.float32), learning_rate=schedule(step))
            return ({"generator": new_gen, "critic": crit},
                    {"generator": gen_opt, "critic": crit_opt}, metrics)

        return update

    def loss(self, params, batch, rng, *, step=None, train: bool = False):
        """The critic on real phrases and on as many generated ones (noise by row number):
        sums of both scores and the phrase count; loss = the critic's gap E[D(x)] - E[D(x~)]."""
        gen, crit = params["generator"], params["critic"]
        fake = jax.nn.sigmoid(self._generate(gen, crit, sample_latents(self.net, rng,
                                                                       batch["row"])))
        mask = batch["mask"]
        d_real = self._score(gen, crit, batch["inputs"].astype(jnp.float32))
        d_fake = self._score(gen, crit, fake)
        sums = {"critic_real_sum": jnp.sum(d_real * mask), "critic_fake_sum": jnp.sum(d_fake * mask),
                "count": jnp.sum(mask)}
        return (sums["critic_real_sum"] - sums["critic_fake_sum"]) / jnp.maximum(
            sums["count"], 1.0), sums

    def summarize(self, sums: dict) -> dict[str, float]:
        """Train sums (per step) or evaluation sums (per phrase) -> means."""
        count = max(float(sums["count"]), 1.0)
        if "critic_real_sum" in sums:
            real, fake = float(sums["critic_real_sum"]) / count, float(sums["critic_fake_sum"]) / count
            return {"critic_real": real, "critic_fake": fake, "critic_gap": real - fake,
                    "phrases": int(sums["count"])}
        return {k: float(v) / count for k, v in sums.items() if k != "count"}

    # ---- data
    def _check_codec(self) -> None:
        cfg, codec = self.net, self.codec
        if (codec.tracks, codec.steps_per_bar, codec.num_keys) != (
                cfg.tracks, cfg.steps_per_bar, cfg.pitches):
            raise ZooError(
                f"the data has {codec.tracks} tracks x {codec.steps_per_bar} steps per bar x "
                f"{codec.num_keys} keys but the model wants {cfg.tracks} x {cfg.steps_per_bar} x "
                f"{cfg.pitches}; prepare with `zoo prepare SOURCE --codec multitrack --set "
                f"tracks={cfg.tracks} --set steps_per_quarter={cfg.steps_per_bar // 4}`")

    def train_batches(self, split, process_index: int, process_count: int) -> Batcher:
        self._check_codec()
        c = self.cfg
        return train_batches(split, self.codec, c.batch_size, self.net.bars, c.seed,
                             draws=self.config.critic_steps, transpose=c.transpose,
                             process_index=process_index, process_count=process_count)

    def eval_batches(self, split, batch_size: int, max_pieces: int | None = None
                     ) -> list[dict[str, np.ndarray]]:
        self._check_codec()
        return eval_phrase_batches(split, self.codec, self.net.bars, batch_size, max_pieces)

    # ---- sampling
    def sample_phrases(self, params, num: int, rng, temperature: float = 1.0,
                       chunk: int = 64) -> np.ndarray:
        """uint8 (num, K, N, S, P) drawn from noise, phrase i from noise row i (see
        ``_binary_phrases`` for how sigmoid outputs become notes)."""
        z_key, draw_key = jax.random.split(rng)
        out = []
        for start in range(0, num, chunk):
            rows = jnp.arange(start, start + chunk, dtype=jnp.int32)
            latents = sample_latents(self.net, z_key, rows)
            out.append(np.asarray(_binary_phrases(self.model, self.config, params, latents,
                                                  jax.random.fold_in(draw_key, start),
                                                  float(temperature))))
        return (np.concatenate(out)[:num] if out
                else np.zeros((0, *self.net.phrase_shape), np.uint8))

    def generate(self, params, num: int, steps: int, prefix_ids, rng, *, temperature=1.0,
                 top_k=0, top_p=1.0) -> list:
        """``num`` phrases of the model's fixed length (``steps``, ``top_k`` and ``top_p`` do not
        apply), one instrument per track."""
        if np.ndim(prefix_ids) > 1 or len(prefix_ids) > 1:  # frames, or END + primer ids
            raise ZooError("a GAN draws phrases from noise: it takes no primer")
        phrases = self.sample_phrases(params, num, rng, temperature)
        return [self.codec.decode(to_frames(p)) for p in phrases]

    def first_phrase(self, ns) -> np.ndarray:
        """uint8 (K, N, S, P): the first N bars of a NoteSequence, encoded by the data's codec."""
        from zoo.errors import SkipPiece

        try:
            frames = self.codec.encode(ns)
        except SkipPiece as e:
            raise ZooError(f"cannot encode the piece with codec {self.codec.name}: {e.reason}"
                           ) from None
        N, S = self.net.bars, self.net.steps_per_bar
        if len(frames) < N * S:
            raise ZooError(f"the piece has {len(frames) // S} bars; a phrase is {N}")
        K, P = self.net.tracks, self.net.pitches
        return frames[:N * S].reshape(N, S, K, P).transpose(2, 0, 1, 3)

    def invert(self, params, phrases_BxKxNxSxP, rng) -> tuple[dict, np.ndarray]:
        """The latents whose generated phrases come closest to ``phrases`` (a GAN has no encoder:
        Zhu et al., 2016, "Generative visual manipulation on the natural image manifold"), after
        ``task.inversion_steps`` Adam steps; and the reconstruction loss at each step."""
        # float32 whatever the phrases' dtype (binary data, sigmoid outputs): compiled once
        latents, losses = _invert(self.model, params, jnp.asarray(phrases_BxKxNxSxP, jnp.float32),
                                  rng, self.config.inversion_steps)
        return latents, np.asarray(losses)

    def interpolate(self, params, ns_a, ns_b, steps: int, rng, *, temperature=0.5):
        """One phrase per point of the spherical interpolation (as MusicVAE's) between the
        inverted latents of the first phrases of ``ns_a`` and ``ns_b``, phrases end to end."""
        from zoo.families.vae.task import slerp

        if steps < 2:
            raise ZooError("interpolate needs at least 2 steps")
        phrases = np.stack([self.first_phrase(ns) for ns in (ns_a, ns_b)])
        invert_key, draw_key = jax.random.split(rng)
        latents, _ = self.invert(params, phrases, invert_key)
        leaves, tree = jax.tree.flatten(latents)
        a, b = jnp.concatenate([leaf.reshape(2, -1) for leaf in leaves], axis=1)  # all latents
        path = slerp(a, b, jnp.linspace(0.0, 1.0, steps))                      # (steps, ...)
        cuts = np.cumsum([leaf[0].size for leaf in leaves])[:-1]
        z = jax.tree.unflatten(tree, [part.reshape(steps, *leaf.shape[1:]) for part, leaf in
                                      zip(jnp.split(path, cuts, axis=1), leaves)])
        out = np.asarray(_binary_phrases(self.model, self.config, params, z, draw_key, float(temperature)))
        return self.codec.decode(np.concatenate([to_frames(p) for p in out]))

    # ---- evaluation
    def musegan_metrics(self, phrases_NxKxBxSxP: np.ndarray) -> dict:
        from zoo.eval.multitrack import musegan_metrics

        return musegan_metrics(phrases_NxKxBxSxP, drum_track=0 if self.codec.drum_track else None,
                               lowest_pitch=self.codec.min_pitch,
                               steps_per_beat=self.codec.steps_per_quarter)

    def data_phrases(self, split, limit: int, seed: int = 0) -> np.ndarray:
        """At most ``limit`` non-overlapping phrases of a split, a fixed random subset."""
        phrases = split_phrases(split, self.codec, self.net.bars)
        if len(phrases) > limit:
            pick = np.sort(np.random.default_rng(seed).choice(len(phrases), limit, replace=False))
            phrases = phrases[pick]
        return phrases

    def extra_report(self, params, data, splits) -> tuple[list[str], dict]:
        """MuseGAN's metrics on ``task.report_phrases`` generated phrases beside the training
        data and ``splits``, and each metric's distance from samples to training data."""
        self._check_codec()
        n = self.config.report_phrases
        columns = {}
        for name in ["train", *[s for s in splits if s != "train"]]:
            phrases = self.data_phrases(data.split(name), n)
            if len(phrases):
                columns[name] = self.musegan_metrics(phrases)
        if "train" not in columns:
            raise ZooError(f"no phrase of {self.net.bars} bars in the train split")
        samples = self.sample_phrases(params, n, jax.random.key(0))
        columns["samples"] = self.musegan_metrics(samples)
        distances = metric_distances(columns["samples"], columns["train"])
        return self._table(columns, distances, n), {
            "metrics": {k: _jsonable(v) for k, v in columns.items()},
            "distance_to_train": distances, "samples": n}

    def _table(self, columns: dict, distances: dict, n: int) -> list[str]:
        names = list(columns)
        fmt = lambda v: f"{v:>9.3f}" if not math.isnan(v) else f"{'-':>9}"
        lines = [f"MuseGAN metrics: {n} generated phrases beside the data "
                 f"(|s-t|: samples vs train, mean over tracks)",
                 f"{'metric':<24}{'track':>6}" + "".join(f"{c:>9}" for c in names)
                 + f"{'|s-t|':>9}"]
        for key, label in TRACK_METRICS.items():
            for k in range(self.net.tracks):
                dist = fmt(distances[key]) if k == 0 else ""
                lines.append(f"{label:<24}{k:>6}" + "".join(
                    fmt(float(columns[c][key][k])) for c in names) + dist)
        pairs = [(i, j) for i in range(self.net.tracks) for j in range(i + 1, self.net.tracks)]
        for p, (i, j) in enumerate(pairs):
            dist = fmt(distances["tonal_distance"]) if p == 0 else ""
            lines.append(f"{'TD  tonal distance':<24}{f'{i}-{j}':>6}" + "".join(
                fmt(float(columns[c]["tonal_distance"][i][j])) for c in names) + dist)
        if "drum_pattern_rate" in distances:
            lines.append(f"{'DP  drum pattern':<24}{0:>6}" + "".join(
                fmt(float(columns[c]["drum_pattern_rate"])) for c in names)
                + fmt(distances["drum_pattern_rate"]))
        return lines
