"""The frame-model task: piano-roll models scored as in Boulanger-Lewandowski et al. (ICML 2012).

For any model with the interface of ``zoo.models.pianoroll_nets.PianorollNet``
(``score``, ``sample``, ``marginals``, ``initial_carry``).

- **Frame NLL** (``nll``): -log p(frame_t | frames_<t) in nats, the whole frame (all P keys) at
  once, averaged over every frame of every piece of a split (frame-weighted, not a mean of
  per-piece means). Every frame is scored: the first one given a silent input frame and the zero
  state. Evaluation runs each piece whole, so the state is never reset inside a piece.
- **Expected frame-level accuracy** (``accuracy``, Bay et al. 2009 as used in the paper):
  sum_t E[TP_t] / sum_t E[TP_t + FP_t + FN_t], the expectation under the model's distribution of
  frame t given the true frames before it; exact for the Bernoulli head, estimated from
  ``config.accuracy_samples`` NADE frames per frame for the NADE head (and not computed while
  training the NADE, where it would cost more than the step).

Metrics travel as sums plus a count: ``nll_sum`` (nats), ``count`` (frames), ``tp_sum``,
``fp_sum``, ``fn_sum`` (expected key counts).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from zoo.data.batches import Augment
from zoo.data.frame_batches import TrainFrameBatches, eval_frame_batches
from zoo.errors import ZooError
from zoo.training.config import TrainConfig

RANDOM_GUESS = np.log(2.0)  # nats per key of a fair coin: 88 ln 2 = 61.0 per 88-key frame


def expected_counts(marginals_BxTxP, targets_BxTxP, mask_BxT) -> dict[str, jax.Array]:
    """E[TP], E[FP], E[FN] summed over keys and unmasked frames, given p(v_k = 1) per key."""
    v = targets_BxTxP.astype(jnp.float32)
    m = marginals_BxTxP.astype(jnp.float32)
    w = mask_BxT[..., None]
    return {"tp_sum": jnp.sum(w * v * m), "fp_sum": jnp.sum(w * (1 - v) * m),
            "fn_sum": jnp.sum(w * v * (1 - m))}


def summarize(sums: dict) -> dict[str, float]:
    """Metric sums (added over batches and steps) -> NLL per frame (nats), expected accuracy."""
    frames = max(float(sums["count"]), 1.0)
    out = {"nll": float(sums["nll_sum"]) / frames, "frames": int(sums["count"])}
    if "tp_sum" in sums:
        tp = float(sums["tp_sum"])
        out["accuracy"] = tp / max(tp + float(sums["fp_sum"]) + float(sums["fn_sum"]), 1e-9)
    return out


def key_frequency_baseline(train, split) -> dict[str, float]:
    """NLL per frame (nats) and expected accuracy of ``split`` under independent per-key
    Bernoullis fitted on ``train`` (add-one smoothing): the model that has learned nothing
    temporal (about 11 nats on the 2012 sets). ``train``, ``split``: sequences of (T, P) frames."""
    ons, frames = 0.0, 0
    for i in range(len(train)):
        ons = ons + np.asarray(train[i], np.float64).sum(axis=0)
        frames += len(train[i])
    p_on = (ons + 1.0) / (frames + 2.0)
    nll, tp, fp, fn, count = 0.0, 0.0, 0.0, 0.0, 0
    for i in range(len(split)):
        v = np.asarray(split[i], np.float64)
        nll -= float(np.sum(v * np.log(p_on) + (1 - v) * np.log1p(-p_on)))
        tp, fp, fn = tp + np.sum(v * p_on), fp + np.sum((1 - v) * p_on), fn + np.sum(v * (1 - p_on))
        count += len(v)
    return {"nll": nll / max(count, 1), "accuracy": float(tp / max(tp + fp + fn, 1e-9)),
            "frames": count}


@functools.partial(jax.jit, static_argnames=("model", "num_steps"))
def sample_frames(model, params, primer_BxLxP, rng, *, num_steps: int, temperature=1.0):
    """Continue ``primer_BxLxP`` (L may be 0) by ``num_steps`` frames, one frame per scan step,
    each frame drawn by the model's head (key by key for the NADE). -> frames_BxNxP float 0/1."""
    B, L, P = primer_BxLxP.shape
    variables = {"params": params}
    carry = model.initial_carry(B)
    prev = jnp.zeros((B, P), jnp.float32)
    if L:
        inputs = jnp.concatenate([prev[:, None], primer_BxLxP[:, :-1].astype(jnp.float32)], 1)
        _, carry = model.apply(variables, inputs, carry)
        prev = primer_BxLxP[:, -1].astype(jnp.float32)

    def frame(state, draw):
        carry, prev = state
        cond, carry = model.apply(variables, prev[:, None], carry)
        v, _ = model.apply(variables, cond, draw, temperature, method="sample")
        return (carry, v[:, 0]), v[:, 0]

    _, frames_NxBxP = jax.lax.scan(frame, (carry, prev), jax.random.split(rng, num_steps))
    return frames_NxBxP.swapaxes(0, 1)


class FrameModelTask:
    """Binds a piano-roll frame model to the engine (see zoo/training/lm_task.py for the calls)."""

    metrics = ("frame-nll", "accuracy")  # what `zoo eval` reports for this task

    def __init__(self, model, codec, train_cfg: TrainConfig):
        if getattr(codec, "kind", None) != "frames":
            raise ZooError(f"{type(model).__name__} reads piano-roll frames; prepare the data "
                           "with `--codec pianoroll`")
        self.model, self.codec, self.cfg = model, codec, train_cfg

    def init_params(self, rng):
        frames = jnp.zeros((1, 8, self.codec.vocab_size), jnp.uint8)
        return self.model.init(rng, frames, frames, self.model.initial_carry(1),
                               method="score")["params"]

    def loss(self, params, batch, rng, train: bool):
        B = batch["inputs"].shape[0]
        variables = {"params": params}
        logp_BxT, cond, _ = self.model.apply(
            variables, batch["inputs"], batch["targets"], self.model.initial_carry(B), train,
            rngs={"dropout": rng}, method="score")
        mask = batch["mask"]
        sums = {"nll_sum": -jnp.sum(logp_BxT * mask), "count": jnp.sum(mask)}
        if not train or self.model.config.head == "bernoulli":
            m = self.model.apply(variables, cond, rng, self.model.config.accuracy_samples,
                                 method="marginals")
            sums.update(expected_counts(jax.lax.stop_gradient(m), batch["targets"], mask))
        return sums["nll_sum"] / jnp.maximum(sums["count"], 1.0), sums

    def train_batches(self, split, process_index: int, process_count: int) -> TrainFrameBatches:
        c = self.cfg
        return TrainFrameBatches(split, self.codec, c.batch_size, c.seq_len, c.seed,
                                 Augment(c.transpose), process_index, process_count)

    def eval_batches(self, split, batch_size: int, max_pieces: int | None = None
                     ) -> list[dict[str, np.ndarray]]:
        return eval_frame_batches(split, batch_size, max_pieces)

    summarize = staticmethod(summarize)

    def generate(self, params, num: int, steps: int, prefix_ids, rng, *, temperature=1.0,
                 top_k=0, top_p=1.0) -> list:
        """``num`` pieces of ``steps`` frames, continuing ``prefix_ids`` when it is a primer of
        frames (L, P); a token prefix (the start symbol alone) means no primer."""
        P = self.codec.vocab_size
        if top_k or top_p < 1.0:
            raise ZooError("top-k and top-p choose among categories; a piano-roll frame is "
                           f"{P} binary keys: use --temperature")
        if steps <= 0:
            raise ZooError(f"--steps must be positive, got {steps}")
        primer = np.asarray(prefix_ids)
        if primer.ndim == 1:
            if primer.size > 1:
                raise ZooError("a piano-roll model is primed with frames, not event ids")
            primer = np.zeros((0, P), np.uint8)
        if primer.ndim != 2 or primer.shape[1] != P:
            raise ZooError(f"primer frames must be (frames, {P}); got {primer.shape}")
        primer_BxLxP = jnp.asarray(np.broadcast_to(primer, (num, *primer.shape)))
        frames = sample_frames(self.model, params, primer_BxLxP, rng, num_steps=steps,
                               temperature=jnp.float32(max(temperature, 1e-6)))
        frames = np.asarray(jax.device_get(frames)).astype(np.uint8)
        return [self.codec.decode(np.concatenate([primer.astype(np.uint8), f])) for f in frames]

    def report(self, trainer, state, splits) -> dict:
        """Frame NLL and expected accuracy on whole splits beside the per-key Bernoulli baseline
        fitted on train and random guessing."""
        data = trainer.built.data
        keys = self.codec.vocab_size
        rows = {}
        for split in splits:
            if len(data.split(split)) == 0:
                continue
            m = trainer.evaluate(state.params, split, whole=True)
            base = key_frequency_baseline(data.split("train"), data.split(split))
            rows[split] = {**m, "key_frequency_nll": base["nll"],
                           "key_frequency_accuracy": base["accuracy"],
                           "random_nll": keys * RANDOM_GUESS}
        lines = [f"{'split':<6} {'frames':>7} {'NLL/frame':>10} {'exp. acc.':>9} "
                 f"{'per-key Bernoulli':>17} {'random':>7}"]
        for split, m in rows.items():
            lines.append(f"{split:<6} {m['frames']:>7} {m['nll']:>10.4f} {m['accuracy']:>9.4f} "
                         f"{m['key_frequency_nll']:>17.4f} {m['random_nll']:>7.2f}")
        lines.append(f"NLL: nats per frame of {keys} keys, mean over all frames, the first frame "
                     "of each piece scored (given silence)")
        return {"metric": "frame-nll", "first_frame_scored": True, "splits": rows,
                "table": lines}
