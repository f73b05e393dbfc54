"""The frame family: piano-roll models scored as in Boulanger-Lewandowski et al. (ICML 2012).

For any network with the interface of ``zoo.nets.pianoroll.FrameModel``
(``score``, ``sample``, ``marginals``, ``initial_carry``).

- **Frame NLL** (``nll``): -log p(frame_t | frames_<t) in nats, the whole frame (all P keys) at
  once, averaged over every frame of every piece of a split (frame-weighted, not a mean of
  per-piece means). Every frame is scored: the first one given a silent input frame and the zero
  state. Evaluation runs each piece whole, so the state is never reset inside a piece: in chunks
  of ``config.eval_chunk`` frames with the LSTM state or the Transformer's KV cache carried
  between them (exact, linear in the piece's length; the Transformer attends to the ``max_len``
  frames ending at each frame, in training, validation and test alike).
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

from zoo.config import TrainConfig
from zoo.data.batcher import Augment, Batcher
from zoo.errors import ZooError
from zoo.families.baselines import key_frequency_baseline
from zoo.families.frames import batches
from zoo.families.frames.config import Config
from zoo.families.task import Column, Task
from zoo.nets.decoding import sample_frames

RANDOM_GUESS = np.log(2.0)  # nats per key of a fair coin: 88 ln 2 = 61.0 per 88-key frame


def expected_counts(marginals_BxTxP, targets_BxTxP, mask_BxT) -> dict[str, jax.Array]:
    """E[TP], E[FP], E[FN] summed over keys and unmasked frames, given p(v_k = 1) per key."""
    v = targets_BxTxP.astype(jnp.float32)
    m = marginals_BxTxP.astype(jnp.float32)
    w = mask_BxT[..., None]
    return {"tp_sum": jnp.sum(w * v * m), "fp_sum": jnp.sum(w * (1 - v) * m),
            "fn_sum": jnp.sum(w * v * (1 - m))}


def chunks(x_BxTx, C: int):
    """(B, T, ...) -> (n, B, C, ...), n = ceil(T / C): time in chunks of C frames, zero-padded
    at the end, chunks first (for a ``lax.scan`` that carries the state between them)."""
    B, T = x_BxTx.shape[:2]
    n = -(-T // C)
    x = jnp.pad(x_BxTx, [(0, 0), (0, n * C - T)] + [(0, 0)] * (x_BxTx.ndim - 2))
    return x.reshape(B, n, C, *x.shape[2:]).swapaxes(0, 1)


def summarize(sums: dict) -> dict[str, float]:
    """Metric sums (added over batches and steps) -> NLL per frame (nats), expected accuracy."""
    frames = max(float(sums["count"]), 1.0)
    out = {"nll": float(sums["nll_sum"]) / frames, "frames": int(sums["count"])}
    if "tp_sum" in sums:
        tp = float(sums["tp_sum"])
        out["accuracy"] = tp / max(tp + float(sums["fp_sum"]) + float(sums["fn_sum"]), 1e-9)
    return out


class FrameModelTask(Task):
    """Binds a piano-roll frame network to the engine: exact frame NLL, random windows for
    training and whole pieces for evaluation, sampling inside jit, the per-key baseline."""

    eval_metrics = ("frame-nll", "accuracy")  # what `zoo eval --metric` may ask for
    report_columns = (Column("frames", "frames", "d", 7), Column("nll", "NLL/frame", ".4f", 10),
                      Column("accuracy", "exp. acc.", ".4f", 9),
                      Column("key_frequency_nll", "per-key Bernoulli", ".4f", 17),
                      Column("random_nll", "random", ".2f", 7))
    report_info = {"metric": "frame-nll", "first_frame_scored": True}

    def __init__(self, model, codec, train_cfg: TrainConfig, config: Config | None = None):
        if getattr(codec, "kind", None) != "frames":
            raise ZooError(f"{type(model).__name__} reads piano-roll frames; prepare the data "
                           "with `--codec pianoroll`")
        super().__init__(model, codec, train_cfg, config)
        self.report_notes = (f"NLL: nats per frame of {codec.vocab_size} keys, mean over all "
                             "frames, the first frame of each piece scored (given silence)",)

    @staticmethod
    def default_config() -> Config:
        return Config()

    def loss(self, params, batch, rng, *, step=None, train: bool = False):
        if not train and batch["inputs"].shape[1] > self.config.eval_chunk:
            return self._chunked_loss(params, batch, rng)
        B = batch["inputs"].shape[0]
        sums, _ = self._window_sums(params, batch["inputs"], batch["targets"], batch["mask"],
                                    self.model.initial_carry(B), rng, train)
        return sums["nll_sum"] / jnp.maximum(sums["count"], 1.0), sums

    def _window_sums(self, params, inputs, targets, mask, carry, rng, train: bool):
        """Metric sums of one window continuing ``carry``, and the carry after it."""
        variables = {"params": params}
        logp_BxT, cond, carry = self.model.apply(variables, inputs, targets, carry, train,
                                                 rngs={"dropout": rng}, method="score")
        sums = {"nll_sum": -jnp.sum(logp_BxT * mask), "count": jnp.sum(mask)}
        if not train or self.model.config.head == "bernoulli":
            m = self.model.apply(variables, cond, rng, self.config.accuracy_samples,
                                 method="marginals")
            sums.update(expected_counts(jax.lax.stop_gradient(m), targets, mask))
        return sums, carry

    def _chunked_loss(self, params, batch, rng):
        """Evaluation of long pieces: ``eval_chunk`` frames at a time in one ``lax.scan``, the
        LSTM state or the Transformer's KV cache carried from chunk to chunk. The NLL equals the
        whole piece in one call (the Transformer's window of ``max_len`` frames ending at each
        frame is the same as in training); the cost is linear in the piece's length."""
        C = self.config.eval_chunk
        B, n = batch["inputs"].shape[0], -(-batch["inputs"].shape[1] // C)
        xs = (chunks(batch["inputs"], C), chunks(batch["targets"], C),
              chunks(batch["mask"], C), jax.random.split(rng, n))

        def body(carry, x):
            inputs, targets, mask, key = x
            sums, carry = self._window_sums(params, inputs, targets, mask, carry, key, False)
            return carry, sums

        _, per_chunk = jax.lax.scan(body, self.model.initial_carry(B), xs)
        sums = jax.tree.map(lambda s: jnp.sum(s, axis=0), per_chunk)
        return sums["nll_sum"] / jnp.maximum(sums["count"], 1.0), sums

    def frame_log_probs(self, params, split, batch_size: int = 16) -> np.ndarray:
        """log p(frame_t | frames_<t) in nats for every frame of ``split``: (N,) float64, N its
        frame count, pieces in the order of ``eval_batches`` (by length) and frames in time
        order. The order depends on the split and ``batch_size`` alone, so two models' arrays
        line up frame by frame: a mixture of their frame distributions, log(w p1 + (1 - w) p2)
        per frame, is again an exact likelihood (the benchmark's ensemble). Scored as in
        evaluation: whole pieces, ``eval_chunk`` frames at a time with the carry passed on."""
        out = []
        for batch in self.eval_batches(split, batch_size):
            logp_BxT = np.asarray(self._frame_logp(params, batch["inputs"], batch["targets"]))
            out.append(logp_BxT[batch["mask"] > 0].astype(np.float64))
        return np.concatenate(out) if out else np.zeros(0)

    @functools.partial(jax.jit, static_argnums=0)
    def _frame_logp(self, params, inputs_BxTxP, targets_BxTxP):
        """(B, T) log-probabilities of the target frames, in chunks of ``eval_chunk`` frames."""
        B, T, _ = inputs_BxTxP.shape
        C = min(self.config.eval_chunk, T)

        def body(carry, x):
            logp_BxC, _, carry = self.model.apply({"params": params}, *x, carry, False,
                                                  method="score")
            return carry, logp_BxC

        _, logp_NxBxC = jax.lax.scan(body, self.model.initial_carry(B),
                                     (chunks(inputs_BxTxP, C), chunks(targets_BxTxP, C)))
        return logp_NxBxC.swapaxes(0, 1).reshape(B, -1)[:, :T]

    def summarize(self, sums: dict) -> dict[str, float]:
        return summarize(sums)

    def train_batches(self, split, process_index: int, process_count: int) -> Batcher:
        c = self.cfg
        return batches.train_batches(split, self.codec, c.batch_size, c.seq_len, c.seed,
                                     Augment(c.transpose), process_index, process_count)

    def eval_batches(self, split, batch_size: int, max_pieces: int | None = None
                     ) -> list[dict[str, np.ndarray]]:
        return batches.eval_batches(split, batch_size, max_pieces)

    def baselines(self, train, split) -> dict[str, float]:
        base = key_frequency_baseline(train, split)
        return {"key_frequency_nll": base["nll"], "key_frequency_accuracy": base["accuracy"],
                "random_nll": self.codec.vocab_size * RANDOM_GUESS}

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
