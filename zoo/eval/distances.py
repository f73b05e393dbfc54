"""How far the samples' distribution of a statistic is from the data's.

For a scalar statistic (one value per piece) both sets are binned on shared edges over their
pooled range, and the two histograms are compared by

- overlapping area, OA = sum_b min(p_b, q_b) in [0, 1]: 1 when the histograms coincide, 0 when
  they do not meet (Yang and Lerch, 2020, "On the evaluation of generative models in music",
  sec. 4, who compare estimated densities the same way);
- Kullback-Leibler divergence KL(data || samples) = sum_b p_b ln(p_b / q_b) in nats: 0 when they
  coincide, growing as the samples miss where the data lie. Both distributions are first mixed
  with the uniform one, p' = (1 - eps) p + eps / bins (eps = 0.01), so a bin the samples never
  reach costs a finite amount and identical histograms still give exactly 0.

For a histogram statistic (one distribution per piece, e.g. the pitch-class histogram) the mean
histograms of the two sets are compared by the same OA and KL and by their Euclidean distance
(Yang and Lerch's pitch-class-histogram distance).
"""

from __future__ import annotations

import numpy as np

NUM_BINS = 16  # few bins: the sample side often has only tens of pieces
SMOOTHING = 0.01  # weight of the uniform distribution mixed in before KL


def shared_histograms(data_values: np.ndarray, sample_values: np.ndarray,
                      bins: int = NUM_BINS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data counts (bins,), sample counts (bins,), edges (bins + 1,)) on equal-width bins over
    the pooled range; nan values are left out. A statistic with a single value everywhere
    gets bins around it, so identical sets land in the same bin."""
    a = np.asarray(data_values, np.float64)
    b = np.asarray(sample_values, np.float64)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins=bins)
    return np.histogram(a, edges)[0], np.histogram(b, edges)[0], edges


def overlapping_area(p: np.ndarray, q: np.ndarray) -> float:
    """sum min(p, q) of two distributions (each normalised here to sum 1); nan if one is empty."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        return np.nan
    return float(np.minimum(p / p.sum(), q / q.sum()).sum())


def kl_divergence(p: np.ndarray, q: np.ndarray, eps: float = SMOOTHING) -> float:
    """KL(p || q) in nats of two histograms (counts or shares, normalised here), each mixed with
    the uniform distribution at weight ``eps`` first; nan if one is empty."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        return np.nan
    p = (1 - eps) * p / p.sum() + eps / p.size
    q = (1 - eps) * q / q.sum() + eps / q.size
    return float((p * np.log(p / q)).sum())


def compare_values(data_values: np.ndarray, sample_values: np.ndarray, bins: int = NUM_BINS
                   ) -> dict[str, float]:
    """{"overlap", "kl"} between the histograms of a scalar statistic over two sets of pieces."""
    p, q, _ = shared_histograms(data_values, sample_values, bins)
    return {"overlap": overlapping_area(p, q), "kl": kl_divergence(p, q)}


def mean_histogram(histograms_NxK: np.ndarray) -> np.ndarray:
    """(K,): the mean over pieces of per-piece histograms, pieces without notes (nan) left out."""
    h = np.asarray(histograms_NxK, np.float64).reshape(-1, np.shape(histograms_NxK)[-1])
    h = h[~np.isnan(h).any(axis=1)]
    return h.mean(axis=0) if len(h) else np.full(h.shape[1], np.nan)


def compare_histograms(data_NxK: np.ndarray, samples_MxK: np.ndarray) -> dict[str, float]:
    """{"overlap", "kl", "euclidean"} between the mean histograms of two sets of pieces, e.g. the
    pitch-class-histogram distance (Yang and Lerch's PCH, compared by Euclidean distance)."""
    p, q = mean_histogram(data_NxK), mean_histogram(samples_MxK)
    if np.isnan(p).any() or np.isnan(q).any():
        return {"overlap": np.nan, "kl": np.nan, "euclidean": np.nan}
    return {"overlap": overlapping_area(p, q), "kl": kl_divergence(p, q),
            "euclidean": float(np.linalg.norm(p - q))}
