"""Conditioned Performance RNN (Magenta's ``multiconditioned_performance_with_dynamics``): the
performance events read a note-density and a pitch-class-histogram control at every event.

The controls are computed from the data (``zoo.codecs.performance_controls``: note-seq's control
signals over a forward window of 3 s and 5 s), after augmentation, so a stretched or transposed
example carries its own controls. The condition vector per event (C = 22 with both controls and
``optional``):

    [density one-hot (8), density absent (1), histogram (12), histogram absent (1)]

With ``optional`` (Magenta's ``optional_conditioning``) each control is left out of a training
example with probability ``disable_prob`` (its values zero, its flag 1), so the model also samples
with no control, or with one of the two. ``generate(..., density=4.0, pitch_histogram=...)``
holds the requested controls constant over the sample; an absent one is left out (or, for a model
trained without ``optional``, set to note-seq's defaults: 15 notes/s, a uniform histogram).
"""

from __future__ import annotations

import jax
import numpy as np

from zoo.codecs import END
from zoo.codecs import performance_controls as controls
from zoo.errors import ZooError
from zoo.families.conditioned.config import ControlConfig
from zoo.families.conditioned.task import ConditionedTask
from zoo.families.lm.batches import with_end_symbols
from zoo.families.lm.task import LanguageModelTask
from zoo.families.task import Column

_BINS = len(controls.DENSITY_BINS) + 1


class PerformanceControlTask(ConditionedTask):
    """Performance events under note-density and pitch-class-histogram controls."""

    condition_names = ("density", "pitch_histogram")
    report_columns = (*LanguageModelTask.report_columns[:2],
                      Column("nll_no_controls", "no-ctrl", ".4f", 9),
                      *LanguageModelTask.report_columns[2:])
    report_notes = ("no-ctrl: NLL/event of the same model with every control absent "
                    "(optional conditioning; NaN without it)",)

    @staticmethod
    def default_config():
        return ControlConfig()

    def __init__(self, net, codec, train, config=None):
        super().__init__(net, codec, train, config)
        if not (self.config.density or self.config.histogram):
            raise ZooError("a conditioned performance model needs task.density or "
                           "task.histogram; train performance_rnn for none")

    @property
    def condition_size(self) -> int:
        c, flag = self.config, int(self.config.optional)
        return c.density * (_BINS + flag) + c.histogram * (12 + flag)

    def condition(self, n: int, density=None, histogram=None) -> np.ndarray:
        """(n,) densities and (n, 12) histograms (None: absent) -> (n, C) condition vectors."""
        c = self.config
        parts = []
        for on, values, width, encode in ((c.density, density, _BINS, controls.density_one_hot),
                                          (c.histogram, histogram, 12, np.asarray)):
            if not on:
                continue
            if values is None:
                parts.append(np.zeros((n, width), np.float32))
            else:
                parts.append(np.asarray(encode(values), np.float32).reshape(n, width))
            if c.optional:
                parts.append(np.full((n, 1), float(values is None), np.float32))
        return np.concatenate(parts, axis=1)

    def track(self, ids, rng, absent: bool = False):
        """Events ``[END] + ids + [END]`` and their controls (the end symbol gets the last
        event's); with ``optional`` and an rng, each control left out with ``disable_prob``."""
        c = self.config
        ids = np.asarray(ids)
        use = [c.density, c.histogram]
        if c.optional:
            use = [u and not absent for u in use]
            if rng is not None:
                use = [u and bool(keep) for u, keep in zip(use, rng.random(2) >= c.disable_prob)]
        density = controls.note_density(ids, self.codec, c.density_window) if use[0] else None
        histogram = (controls.pitch_histogram(ids, self.codec, c.histogram_window) if use[1]
                     else None)
        cond = self.condition(len(ids), density, histogram)
        cond = np.concatenate([cond[:1], cond, cond[-1:]]) if len(ids) else self.condition(2)
        return with_end_symbols(ids), cond

    # ---- sampling
    def schedule(self, prefix_ids, steps: int, density=None, pitch_histogram=None):
        c = self.config
        if density is not None:
            if not c.density:
                raise ZooError("this model was trained without the note-density control")
            density = float(density)
            if not np.isfinite(density) or density < 0:
                raise ZooError(f"the note density must be a number of notes per second >= 0, "
                               f"not {density}")
        if pitch_histogram is not None:
            if not c.histogram:
                raise ZooError("this model was trained without the pitch-histogram control")
            pitch_histogram = (controls.parse_histogram(pitch_histogram)
                               if isinstance(pitch_histogram, str)
                               else controls.parse_histogram(str(list(pitch_histogram))))
        if not c.optional:
            density = controls.DEFAULT_DENSITY if density is None else density
            pitch_histogram = (np.full(12, 1 / 12) if pitch_histogram is None
                               else pitch_histogram)
        total = len(prefix_ids) - 1 + steps
        cond = self.condition(total, None if density is None else np.full(total, density),
                              None if pitch_histogram is None
                              else np.tile(pitch_histogram, (total, 1)))
        return np.asarray(prefix_ids, np.int32), cond, None

    def piece(self, events, extra):
        return self.codec.decode(events)

    # ---- the report
    def extra_metrics(self, params, split) -> dict[str, float]:
        if not self.config.optional:
            return {"nll_no_controls": float("nan")}
        return {"nll_no_controls": self.nll(
            params, split, lambda ids, rng: self.track(ids, None, absent=True))}


def control_sweep(task: PerformanceControlTask, params, densities=(1.0, 2.0, 4.0, 8.0, 16.0),
                  keys=("C major", "G major", "D minor", "Bb major", "E minor", "F# major"),
                  num: int = 4, steps: int = 1000, seed: int = 0, temperature: float = 1.0
                  ) -> dict:
    """Sample under a sweep of requested controls and measure what the samples realise.

    Density: ``num`` samples per requested density (histogram absent); the realised notes per
    second of each whole sample; reported: the mean per request, the Pearson correlation of
    log2 requested and log2 realised over all samples, and the share of samples in the
    requested density's bin. Histogram: ``num`` samples per key (density absent); the L1
    distance between the realised pitch-class histogram (by sounding time) and the requested,
    against the same distance for samples with no control (what ignoring the control gives),
    and the share of samples whose closest requested key is their own.
    """
    rng = jax.random.key(seed)
    out: dict = {"steps": steps, "num": num, "temperature": temperature}

    calls = [0]

    def realised(**conditions):
        calls[0] += 1
        pieces = task.generate(params, num, steps, np.array([END], np.int32),
                               jax.random.fold_in(rng, calls[0]), temperature=temperature,
                               **conditions)
        return [controls.realised(task.codec.encode(p) if p.notes else np.zeros(0, np.int32),
                                  task.codec) for p in pieces]

    if task.config.density:
        asked, got, in_bin, means = [], [], [], {}
        for d in densities:
            values = [r[0] for r in realised(density=d)]
            means[str(d)] = float(np.mean(values))
            asked += [d] * len(values)
            got += values
            want = np.searchsorted(controls.DENSITY_BINS, d, side="right")
            in_bin += [np.searchsorted(controls.DENSITY_BINS, v, side="right") == want
                       for v in values]
        out["density"] = {"requested_to_mean_realised": means,
                          "log2_correlation": float(np.corrcoef(
                              np.log2(asked), np.log2(np.maximum(got, 1e-3)))[0, 1]),
                          "in_requested_bin": float(np.mean(in_bin))}
    if task.config.histogram:
        wanted = [controls.key_histogram(k) for k in keys]
        free = [r[1] for r in realised()] if task.config.optional else []
        l1, l1_free, nearest = [], [], []
        for i, h in enumerate(wanted):
            for r in realised(pitch_histogram=keys[i]):
                l1.append(float(np.abs(r[1] - h).sum()))
                nearest.append(int(np.argmin([np.abs(r[1] - w).sum() for w in wanted])) == i)
            l1_free += [float(np.abs(f - h).sum()) for f in free]
        out["histogram"] = {"keys": list(keys), "mean_l1": float(np.mean(l1)),
                            "mean_l1_no_control": float(np.mean(l1_free)) if free else None,
                            "nearest_key_is_requested": float(np.mean(nearest))}
    return out
