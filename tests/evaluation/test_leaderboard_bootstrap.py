"""Bootstrap intervals: known answers worked out by hand, determinism, and the pairing (one
resample of the units for both runs)."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.leaderboard.bootstrap import (
    bootstrap_mean_ci,
    cluster_mean_ci,
    paired_difference_ci,
)


def test_all_equal_values_give_a_zero_width_interval():
    assert bootstrap_mean_ci([50.0] * 7) == (50.0, 50.0, 50.0)
    assert cluster_mean_ci([[7.0, 7.0], [7.0], [7.0, 7.0]]) == (7.0, 7.0, 7.0)


def test_two_values_hand_case():
    """Values 0 and 100: a resample's mean is 0, 50 or 100 with probability 1/4, 1/2, 1/4, so the
    2.5% quantile is 0 and the 97.5% quantile is 100; the estimate is the observed mean, 50."""
    assert bootstrap_mean_ci([0.0, 100.0], n_boot=4000) == (50.0, 0.0, 100.0)


def test_cluster_bootstrap_resamples_questions_hand_case():
    """Clusters [1, 1, 1] and [4]: estimate = mean over rows 7 / 4 = 1.75 (not the mean of the cluster
    means, 2.5). Resampling the 2 clusters gives 1 (both the first, p 1/4), 1.75 or 4 (both the
    second, p 1/4): interval [1, 4]. Resampling the 4 rows instead would put 4 at p (1/4)^4 < 2.5%,
    so the upper bound would be 3.25: this catches rows resampled in place of questions."""
    assert cluster_mean_ci([[1.0, 1.0, 1.0], [4.0]], n_boot=4000) == (1.75, 1.0, 4.0)


def test_empty_cluster_is_a_unit_without_value():
    """A question with every turn missing holds no value: it is dropped, so the result (interval
    included) is that of the other questions alone."""
    assert cluster_mean_ci([[2.0, 4.0], [], [6.0]]) == cluster_mean_ci([[2.0, 4.0], [6.0]])


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_interval_covers_the_estimate_and_is_deterministic(seed):
    values = np.random.default_rng(100 + seed).uniform(0, 100, size=40)
    est, low, high = bootstrap_mean_ci(values, seed=seed)
    assert est == pytest.approx(values.mean()) and low < est < high
    assert bootstrap_mean_ci(values, seed=seed) == (est, low, high)
    assert bootstrap_mean_ci(values, seed=seed + 1000) != (est, low, high)


def test_paired_difference_of_a_run_with_itself_is_exactly_zero():
    clusters = [[1.0, 9.0], [3.0], [8.0, 2.0], []]
    assert paired_difference_ci(clusters, clusters) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_uses_one_resample_for_both_runs():
    """b = a + 5 on every unit: with the same units resampled for both, every replicate's difference
    is -5 (to rounding). Independent resamples would give an interval several points wide."""
    a = [[float(x)] for x in np.random.default_rng(3).uniform(0, 100, size=30)]
    b = [[x + 5.0 for x in c] for c in a]
    est, low, high = paired_difference_ci(a, b)
    assert est == pytest.approx(-5.0) and low == pytest.approx(-5.0) and high == pytest.approx(-5.0)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="no units"):
        bootstrap_mean_ci([])
    with pytest.raises(ValueError, match="same units"):
        paired_difference_ci([[1.0]], [[1.0], [2.0]])
    with pytest.raises(ValueError, match="level"):
        bootstrap_mean_ci([1.0, 2.0], level=95)
