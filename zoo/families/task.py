"""The task contract: what a family gives the engine (``zoo/training``), and the engine nothing else.

A family binds a flax network (``zoo/nets``) to a codec and an objective. The engine calls, in a
run's order:

- ``init(rng) -> params``: the network's parameters (the network owns how: ``net.init_params``).
- ``make_optimizer() -> (tx, schedule) | None``: None takes the engine's optax chain from the
  train config; a family with several parameter sets (the GAN) brings its own.
- ``make_update(tx, schedule) -> update | None``: None takes the engine's gradient step on
  ``loss``; otherwise ``update(params, opt_state, batch, rng, step) -> (params, opt_state,
  metrics)``, pure and jittable. Either way the engine adds the non-finite guard (a step whose
  new state or metrics are not finite leaves the state as it was) and the step counter.
- ``loss(params, batch, rng, *, step, train) -> (loss, sums)``: a scalar to minimise and metric
  sums over the global batch (plus their counts, so padded batches average exactly). ``step`` is
  the optimizer step (None in evaluation); ``train`` switches dropout and training-only terms.
- ``summarize(sums) -> {name: float}``: sums added over batches and steps -> numbers.
- ``train_batches(split, process_index, process_count)``: a ``zoo.data.batcher.Batcher``;
  ``eval_batches(split, batch_size, max_pieces)``: every scored example once, padded rows masked.
- ``primary``: the metric (and its direction) that early stopping and the best checkpoint read;
  None where no valid metric means "better" (the GAN: early stopping is refused).
- ``baselines(train, split)`` and ``extra_metrics(params, split)``: more numbers per split for
  the engine's report, laid out by ``report_columns``; ``extra_report(params, data, splits)``:
  lines and JSON for what does not fit a row per split (the GAN's metrics per track).
- ``generate(params, num, steps, prefix, rng, temperature=, top_k=, top_p=) -> [NoteSequence]``;
  where ``interpolates``: ``interpolate(params, ns_a, ns_b, steps, rng, temperature=)``.

Every batch is a dict of numpy arrays with the batch first (``zoo/data/batcher.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import jax

Update = Callable[..., tuple[Any, Any, dict]]


class Metric(NamedTuple):
    """A summarized metric and which way is better ("min" or "max")."""

    name: str
    mode: str = "min"

    def better(self, value: float, than: float | None) -> bool:
        if than is None:
            return True
        return value < than - 1e-6 if self.mode == "min" else value > than + 1e-6


class Column(NamedTuple):
    """One column of the engine's report table: a per-split value, its header and format."""

    key: str
    header: str
    fmt: str = ".4f"
    width: int = 9


class Task:
    """The base of every family's task: the contract above, with its defaults."""

    primary: ClassVar[Metric | None] = Metric("nll", "min")
    eval_metrics: ClassVar[tuple[str, ...]] = ("nll",)   # what `zoo eval --metric` may ask for
    report_columns: ClassVar[tuple[Column, ...]] = ()
    report_notes: ClassVar[tuple[str, ...]] = ()
    report_info: ClassVar[dict] = {}                      # constant facts added to the report JSON
    interpolates: ClassVar[bool] = False                  # has ``interpolate(params, a, b, ...)``

    def __init__(self, net, codec, train, config=None):
        self.model, self.codec, self.cfg = net, codec, train
        self.config = self.default_config() if config is None else config

    @staticmethod
    def default_config():
        return None

    # ---- the network and its update
    def init(self, rng: jax.Array):
        return self.model.init_params(rng)

    def make_optimizer(self):
        return None

    def make_update(self, tx, schedule) -> Update | None:
        return None

    def loss(self, params, batch, rng, *, step=None, train: bool = False):
        raise NotImplementedError

    def summarize(self, sums: dict) -> dict[str, float]:
        raise NotImplementedError

    # ---- data
    def train_batches(self, split, process_index: int, process_count: int):
        raise NotImplementedError

    def eval_batches(self, split, batch_size: int, max_pieces: int | None = None) -> list[dict]:
        raise NotImplementedError

    # ---- results
    def baselines(self, train, split) -> dict[str, float]:
        return {}

    def extra_metrics(self, params, split) -> dict[str, float]:
        return {}

    def extra_report(self, params, data, splits) -> tuple[list[str], dict]:
        return [], {}

    def generate(self, params, num: int, steps: int, prefix, rng, *, temperature=1.0, top_k=0,
                 top_p=1.0) -> list:
        raise NotImplementedError

    def interpolate(self, params, ns_a, ns_b, steps: int, rng, *, temperature=0.5):
        raise NotImplementedError(f"{type(self).__name__} does not interpolate")
