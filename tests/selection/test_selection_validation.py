"""Bad input gets one clear ValueError naming the prompt and the field; degenerate input works."""

import numpy as np
import pytest
import torch

from selection import SelectionInputError, select, strategy_names


def pool(b=4, n=6, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(b, n)), rng.normal(size=(b, n, d))


def raises(match, *args, **kwargs):
    with pytest.raises(ValueError, match=match) as info:
        select(*args, **kwargs)
    return info.value


def test_nan_reward_names_prompt_and_response():
    r, e = pool()
    r[2, 3] = np.nan
    err = raises(r"prompt 2: response 3: reward is nan", "top_k", r, e, 3)
    assert isinstance(err, SelectionInputError) and err.prompt == 2 and err.field == "rewards"


def test_inf_reward_in_a_later_chunk_names_its_global_row():
    r, e = pool(b=10)
    r[7, 0] = np.inf
    raises(r"prompt 7: response 0: reward is inf", "ampo_coreset", r, e, 3, chunk_size=3)


def test_nan_embedding():
    r, e = pool()
    e[1, 4, 2] = np.nan
    raises(r"prompt 1: response 4: embedding has non-finite", "kcenter", r, e, 3)


def test_k_larger_than_pool():
    r, e = pool(n=5)
    raises(r"prompt 0: k=8 exceeds the pool size N=5", "ampo_bottomk", r, e, 8)


def test_k_larger_than_a_ragged_pool():
    r, e = pool(n=6)
    mask = np.ones((4, 6), dtype=bool)
    mask[3, 2:] = False
    raises(r"prompt 3: k=3 exceeds the pool size N=2", "ampo_optselect", r, e, 3, mask=mask)


@pytest.mark.parametrize("k", [1, 0, -2])
def test_k_below_two(k):
    r, e = pool()
    raises(r"k must be >= 2", "random", r, e, k)


def test_k_not_an_int():
    r, e = pool()
    raises(r"k must be an int", "top_k", r, e, 2.0)


def test_fixed_group_size():
    r, e = pool()
    raises(r"'best_worst' selects exactly 2 responses, got k=3", "best_worst", r, e, 3)


def test_mismatched_shapes():
    r, e = pool()
    raises(r"embeddings must have shape \(B, N, d\)", "dpp", r, e[:, :5], 3)
    raises(r"rewards must have shape \(B, N\)", "top_k", r[0], e, 3)
    raises(r"mask must have the shape of rewards", "top_k", r, e, 3, mask=np.ones((4, 5), bool))
    raises(r"mask must be boolean", "top_k", r, e, 3, mask=np.ones((4, 6)))


def test_zero_variance_embeddings():
    r, e = pool()
    e[2] = 0.7
    raises(
        r"prompt 2: all 6 embeddings are identical \(zero variance\)",
        "ampo_coreset",
        r,
        e,
        3,
        duplicates="error",
    )


def test_duplicate_responses():
    r, e = pool()
    e[1, 4] = e[1, 2]
    raises(
        r"prompt 1: responses 2 and 4 have identical embeddings",
        "ampo_optselect",
        r,
        e,
        3,
        duplicates="error",
    )


def test_duplicates_in_float32_are_found_despite_rounding():
    r, e = pool(d=768)
    e = (e * 3 + 5).astype(np.float32)
    e[0, 5] = e[0, 1]
    raises(r"prompt 0: responses 1 and 5 have identical", "kcenter", r, e, 3, duplicates="error")


def test_near_duplicates_are_not_duplicates():
    r, e = pool(d=768)
    e = e.astype(np.float32)
    e[0, 5] = e[0, 1] + 0.05  # relative distance ~ 5%
    assert select("kcenter", r, e, 3).indices.shape == (4, 3)


def test_unknown_strategy_lists_the_registry():
    r, e = pool()
    err = raises(r"unknown selection strategy 'coreset'", "coreset", r, e, 3)
    for name in strategy_names():
        assert name in str(err)


def test_unknown_and_bad_options():
    r, e = pool()
    raises(r"'ampo_coreset' has no option 'n_clusters'", "ampo_coreset", r, e, 3, n_clusters=3)
    raises(r"temperature must be > 0", "ampo_optselect", r, e, 3, temperature=0.0)
    raises(r"init must be one of", "ampo_coreset", r, e, 3, init="random")


def test_missing_embeddings():
    r, _ = pool()
    raises(r"'ampo_coreset' needs embeddings", "ampo_coreset", r, None, 3)


def test_mixed_libraries():
    r, e = pool()
    raises(r"one array library", "kcenter", torch.from_numpy(r), e, 3)


def test_reward_only_strategies_ignore_embeddings():
    """A reward-only rule needs no embeddings and does not inspect them."""
    r, e = pool()
    e[:] = np.nan
    assert select("top_k", r, e, 3).indices.shape == (4, 3)
    assert select("top_k", r, None, 3).indices.shape == (4, 3)


def test_empty_batch():
    sel = select("kcenter", np.zeros((0, 5)), np.zeros((0, 5, 2)), 3)
    assert sel.indices.shape == (0, 3)


def test_large_finite_embeddings_are_not_flagged():
    """Row sums that overflow float16 are not mistaken for non-finite embeddings."""
    r, e = pool(d=64)
    e = (e * 3000).astype(np.float16)
    e[0, :, :] = np.float16(60000) * np.sign(e[0])  # sums far beyond float16's max
    e[0, :, 0] = np.arange(6) * 1000
    assert select("kcenter", r, e, 3).indices.shape == (4, 3)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_embedding(value):
    r, e = pool()
    e[3, 1, 0] = value
    raises(r"prompt 3: response 1: embedding has non-finite values", "dpp", r, e, 3)
