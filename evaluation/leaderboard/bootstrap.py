"""Percentile bootstrap confidence intervals for the leaderboard (framework-free numpy).

Three resampling schemes, all deterministic given `seed` (one `numpy.random.default_rng(seed)` draws
an `(n_boot, n_units)` matrix of unit indices, uniformly with replacement):

- `bootstrap_mean_ci`: units are the values themselves (AlpacaEval: one instruction = one value,
  `(preference - 1) * 100`); the statistic is the mean of the resampled values.
- `cluster_mean_ci`: units are clusters of values (MT-bench: one question = the kept scores of its
  turns); whole clusters are resampled and the statistic is the mean over ALL values of the
  resampled clusters (sum of values / number of values) -- FastChat's overall "Average", a mean over
  rows, not a mean of per-question means.
- `paired_difference_ci`: two runs scored on the same units; ONE index matrix resamples the units of
  both, and the statistic is cluster mean(a) - cluster mean(b) on the same resample.

The interval is the percentile interval: the (1 - level)/2 and (1 + level)/2 quantiles (numpy's
default linear interpolation) of the `n_boot` replicate statistics. The estimate is the statistic on
the data as observed, not the mean of the replicates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

N_BOOT = 2000
LEVEL = 0.95
SEED = 0


def _check(n_units: int, n_boot: int, level: float) -> None:
    if n_units == 0:
        raise ValueError("bootstrap: no units to resample")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"bootstrap: n_boot must be an integer >= 1, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"bootstrap: level must be in (0, 1), got {level!r}")


def resample_indices(n_units: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_units) unit indices drawn uniformly with replacement; row b is replicate b."""
    return np.random.default_rng(seed).integers(0, n_units, size=(n_boot, n_units))


def percentile_interval(replicates: np.ndarray, level: float) -> tuple[float, float]:
    low, high = np.quantile(replicates, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(low), float(high)


def _cluster_totals(clusters: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    sums = np.array([float(np.sum(np.asarray(c, dtype=float))) for c in clusters])
    counts = np.array([len(c) for c in clusters], dtype=float)
    return sums, counts


def _ratio(sums: np.ndarray, counts: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Per replicate: sum of the values of the resampled clusters / their number of values."""
    total = counts[idx].sum(axis=-1)
    if np.any(total == 0):
        raise ValueError(
            "bootstrap: a resample holds no value of a run (it has a value on too few units)"
        )
    return sums[idx].sum(axis=-1) / total


def bootstrap_mean_ci(
    values, n_boot: int = N_BOOT, level: float = LEVEL, seed: int = SEED
) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap of the mean, resampling the values (one value = one
    unit) with replacement, `n_boot` replicates of the same size as `values`."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"bootstrap: expected a 1-D array of values, got shape {values.shape}")
    _check(len(values), n_boot, level)
    idx = resample_indices(len(values), n_boot, seed)
    return (float(values.mean()), *percentile_interval(values[idx].mean(axis=1), level))


def cluster_mean_ci(
    clusters: Sequence[Sequence[float]],
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    seed: int = SEED,
) -> tuple[float, float, float]:
    """(mean, low, high): cluster bootstrap. Resamples whole clusters (MT-bench questions) with
    replacement; the statistic is the mean over all values of the resampled clusters, so the
    estimate is the mean over all values (FastChat's overall). An empty cluster (every turn missing)
    holds no value and is not resampled: it is dropped, as FastChat drops its rows."""
    if not clusters:
        raise ValueError("bootstrap: no units to resample")
    sums, counts = _cluster_totals(clusters)
    sums, counts = sums[counts > 0], counts[counts > 0]
    if counts.sum() == 0:
        raise ValueError("bootstrap: the clusters hold no value")
    _check(len(counts), n_boot, level)
    idx = resample_indices(len(counts), n_boot, seed)
    estimate = float(sums.sum() / counts.sum())
    return (estimate, *percentile_interval(_ratio(sums, counts, idx), level))


def paired_difference_ci(
    a: Sequence[Sequence[float]],
    b: Sequence[Sequence[float]],
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    seed: int = SEED,
) -> tuple[float, float, float]:
    """(mean(a) - mean(b), low, high): paired cluster bootstrap over shared units. `a[i]` and `b[i]`
    are the values of the two runs on unit i (a one-value cluster for an AlpacaEval instruction, the
    kept turn scores for an MT-bench question). Each replicate draws ONE set of unit indices and
    applies it to both runs; the statistic is the difference of the two cluster means on it. A unit
    empty in both runs is dropped; one empty in one run only is kept (it counts for the other)."""
    if len(a) != len(b):
        raise ValueError(f"bootstrap: paired runs need the same units, got {len(a)} and {len(b)}")
    _check(len(a), n_boot, level)
    sums_a, counts_a = _cluster_totals(a)
    sums_b, counts_b = _cluster_totals(b)
    if counts_a.sum() == 0 or counts_b.sum() == 0:
        raise ValueError("bootstrap: a run holds no value on the shared units")
    keep = (counts_a + counts_b) > 0
    sums_a, counts_a, sums_b, counts_b = sums_a[keep], counts_a[keep], sums_b[keep], counts_b[keep]
    idx = resample_indices(len(counts_a), n_boot, seed)
    estimate = float(sums_a.sum() / counts_a.sum() - sums_b.sum() / counts_b.sum())
    diffs = _ratio(sums_a, counts_a, idx) - _ratio(sums_b, counts_b, idx)
    return (estimate, *percentile_interval(diffs, level))
