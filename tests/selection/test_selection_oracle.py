"""Oracle tests: the batched, chunked, padded selection equals a per-prompt loop."""

import numpy as np
import pytest
from selection_cases import k_for

from selection import select, select_one, strategy_names


def _pools(seed=0, b=7, n=10, d=6):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(b, n)), rng.normal(size=(b, n, d))


@pytest.mark.parametrize("name", strategy_names())
def test_batched_equals_per_prompt_loop(name):
    """select over B prompts (in chunks of 3) == select_one on each prompt with key = its row.
    Guards against: state leaking between prompts, chunk-boundary errors, batch-dependent RNG."""
    rewards, embeddings = _pools()
    k = k_for(name, 4)
    batched = select(name, rewards, embeddings, k, seed=11, chunk_size=3)
    for b in range(len(rewards)):
        idx, pos = select_one(name, rewards[b], embeddings[b], k, seed=11, key=b)
        np.testing.assert_array_equal(batched.indices[b], idx)
        assert batched.positive[b] == pos


@pytest.mark.parametrize("name", strategy_names())
def test_padded_pool_equals_truncated_pool(name):
    """A ragged pool in the padded layout (garbage, NaN included, in the padding) selects exactly
    what its unpadded pool does. Guards against: padding leaking into rewards, means or distances."""
    rewards, embeddings = _pools(seed=1)
    k = k_for(name, 3)
    sizes = np.array([3, 10, 5, 7, 4, 9, 6])
    mask = np.arange(10)[None, :] < sizes[:, None]
    padded_r = np.where(mask, rewards, np.nan)
    padded_e = np.where(mask[:, :, None], embeddings, 1e30)
    padded = select(name, padded_r, padded_e, k, mask=mask, seed=5)
    for b, size in enumerate(sizes):
        idx, _ = select_one(name, rewards[b, :size], embeddings[b, :size], k, seed=5, key=b)
        np.testing.assert_array_equal(padded.indices[b], idx)


@pytest.mark.parametrize("name", strategy_names())
def test_keys_make_prompts_independent_of_position(name):
    """Passing stable keys (e.g. hashed prompt ids) makes a prompt's selection independent of
    where it sits in the dataset. Guards against: reshuffling or sharding changing selections."""
    rewards, embeddings = _pools(seed=2)
    keys = np.array([101, 7, 55, 3, 999, 42, 8])
    perm = np.random.default_rng(0).permutation(len(keys))
    k = k_for(name, 4)
    a = select(name, rewards, embeddings, k, keys=keys, seed=1).indices
    b = select(name, rewards[perm], embeddings[perm], k, keys=keys[perm], seed=1).indices
    np.testing.assert_array_equal(a[perm], b)


def test_random_baseline_is_uniform():
    """`random` picks each non-best response with probability (k-1)/(N-1) (chi-square test).
    Guards against: a biased priority (e.g. favouring low indices or sorted rewards)."""
    from scipy.stats import chisquare

    b, n, k = 4000, 8, 4
    rewards = np.tile(np.arange(n, dtype=float), (b, 1))  # the best is always index 7
    sel = select("random", rewards, None, k, seed=0)
    counts = np.bincount(sel.indices[:, 1:].ravel(), minlength=n)
    assert counts[n - 1] == 0
    expected = np.full(n - 1, b * (k - 1) / (n - 1))
    assert chisquare(counts[: n - 1], expected).pvalue > 1e-3
