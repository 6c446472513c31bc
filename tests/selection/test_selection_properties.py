"""Hypothesis properties every strategy must satisfy, parametrised over the registry."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from selection_cases import deterministic_cases, geometric_names, k_for, pools, random_rotation

from selection import get_strategy, select, strategy_names

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)


@pytest.mark.parametrize("name", strategy_names())
@SETTINGS
@given(case=pools(ragged=True))
def test_valid_selection(name, case):
    """Indices are unique, valid (not padding), exactly k per prompt; the positive is the pool's
    best where the strategy promises it, else the best of the selected.
    Guards against: repeated picks, picks of padding, off-by-one group sizes, a lost positive."""
    rewards, embeddings, mask, k = case
    k = k_for(name, k)
    if k > mask.sum(axis=1).min():
        return
    sel = select(name, rewards, embeddings, k, mask=mask)
    assert sel.indices.shape == (len(rewards), k)
    for b, idx in enumerate(sel.indices):
        assert len(set(idx.tolist())) == k
        assert mask[b, idx].all()
        r = rewards[b, idx]
        chosen_best = r[sel.positive[b]]
        assert chosen_best == r.max()
        if get_strategy(name).keeps_best:
            assert chosen_best == np.nanmax(rewards[b])


@pytest.mark.parametrize(("name", "options"), deterministic_cases())
@SETTINGS
@given(case=pools(), perm_seed=st.integers(0, 2**16))
def test_permutation_equivariance(name, options, case, perm_seed):
    """Permuting the pool permutes the answer: P[select(pool[P])] == select(pool).
    Guards against: answers that depend on the position of a response rather than its content."""
    rewards, embeddings, _, k = case
    k = k_for(name, k)
    n = rewards.shape[1]
    perm = np.random.default_rng(perm_seed).permutation(n)
    base = select(name, rewards, embeddings, k, **options).indices
    permuted = select(name, rewards[:, perm], embeddings[:, perm], k, **options).indices
    np.testing.assert_array_equal(perm[permuted], base)


@pytest.mark.parametrize("name", geometric_names())
@SETTINGS
@given(case=pools(), seed=st.integers(0, 2**16))
def test_rigid_motion_invariance(name, case, seed):
    """Rotating and translating all embeddings of a pool changes nothing (rules see distances).
    Guards against: a rule that uses raw coordinates or norms (e.g. an uncentred Gram matrix)."""
    rewards, embeddings, _, k = case
    k = k_for(name, k)
    rng = np.random.default_rng(seed)
    d = embeddings.shape[2]
    q = random_rotation(d, rng)
    shift = rng.normal(size=(len(rewards), 1, d)) * 10 * np.abs(embeddings).max()
    moved = embeddings @ q + shift
    np.testing.assert_array_equal(
        select(name, rewards, moved, k).indices, select(name, rewards, embeddings, k).indices
    )


@pytest.mark.parametrize("name", strategy_names())
@SETTINGS
@given(case=pools(ragged=True))
def test_numpy_equals_torch(name, case):
    """numpy arrays and torch tensors give identical selections (float64 inputs).
    Guards against: backend-specific code paths drifting apart (argsort order, dtypes, RNG)."""
    rewards, embeddings, mask, k = case
    k = k_for(name, k)
    if k > mask.sum(axis=1).min():
        return
    a = select(name, rewards, embeddings, k, mask=mask, seed=3)
    b = select(
        name,
        torch.from_numpy(rewards),
        torch.from_numpy(embeddings),
        k,
        mask=torch.from_numpy(mask),
        seed=3,
    )
    assert isinstance(b.indices, torch.Tensor) and b.indices.dtype == torch.int64
    np.testing.assert_array_equal(a.indices, b.indices.numpy())
    np.testing.assert_array_equal(a.positive, b.positive.numpy())


@pytest.mark.parametrize("name", strategy_names())
def test_all_rewards_equal_is_valid(name):
    """Degenerate but valid: equal rewards still give k distinct valid responses.
    Guards against: NaN weights (0/0) or empty argmax sets on flat rewards."""
    rng = np.random.default_rng(0)
    k = k_for(name, 4)
    sel = select(name, np.ones((3, 9)), rng.normal(size=(3, 9, 4)), k)
    for idx in sel.indices:
        assert len(set(idx.tolist())) == k and idx.max() < 9
