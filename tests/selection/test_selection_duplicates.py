"""Duplicate responses collapse to one copy (selection.duplicates) instead of failing a dataset run.

Known answers on the pool of test_selection_known_answers (1-D embeddings x, so distances are
|x_i - x_j|), with one copy appended as index 6:

    index    0   1   2   3   4   5   (6: the copy)
    x        0   1   3  10  11  12
    reward   5   3   4   0   1   2

The copy kept is the first in order of descending reward (ties: lower index); every other copy
is masked out before the strategy runs and counted in `Selection.collapsed`.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from selection_cases import deterministic_cases, geometric_names, k_for, pools

from selection import SelectionInputError, get_strategy, select
from selection.duplicates import keep_distinct

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)

X = [0.0, 1.0, 3.0, 10.0, 11.0, 12.0]
R = [5.0, 3.0, 4.0, 0.0, 1.0, 2.0]
# The answers on the pool without a copy (worked in test_selection_known_answers).
ORIGINAL = {
    "kcenter": ({}, [0, 5, 2]),
    "ampo_coreset": ({"init": "maximin"}, [0, 3, 1]),
    "ampo_optselect": ({}, [0, 3, 1]),
    "dpp": ({"temperature": 5.0}, [0, 3, 1]),
}


def with_copy(x: float, reward: float):
    """The pool plus a copy at x with the given reward, as index 6."""
    return np.array([[*R, reward]]), np.array([[*X, x]])[:, :, None]


def run(name, rewards, embeddings, k=3, **options):
    sel = select(name, rewards, embeddings, k, **options)
    return sel.indices[0].tolist(), int(sel.collapsed[0])


@pytest.mark.parametrize("name", sorted(ORIGINAL))
def test_an_exact_copy_of_a_negative_is_dropped(name):
    # The copy of idx 3 (x = 10) has its reward 0; the tie goes to the lower index, so idx 6 is
    # dropped and every rule answers as on the pool without it.
    options, answer = ORIGINAL[name]
    assert run(name, *with_copy(10.0, 0.0), **options) == (answer, 1)


def test_the_copy_with_the_higher_reward_is_kept():
    # The copy of idx 3 (x = 10) scores 0.5 > 0: idx 6 is kept and idx 3 dropped.
    # kcenter: from x=0 the farthest is x=12 (idx 5), then x=3 (idx 2): unchanged, [0, 5, 2].
    # coreset (maximin): start at the lowest reward, now idx 6 (x = 10); farthest from it x=1;
    # islands {1, 3} and {10, 11, 12}; lowest reward per island: idx 1 (r 3), idx 6 (r .5).
    # optselect: w = exp(rbar - r) normalised to max 1 at r = .5: w6 = 1, w4 = .607, w5 = .223,
    # w1 = .082, w2 = .030. Left medoid x=1: w2 * 2 = .060 (x=3: w1 * 2 = .164); right medoid
    # x=10: w4 + 2 w5 = 1.053 (x=11: w6 + w5 = 1.223); both right {10, 11}: 9 w1 + 7 w2 + w5 =
    # 1.171 > .060 + 1.053. So {1, 6}.
    # dpp (tau 5): q^2 = exp(-(r - .5)/5): idx6 1, idx4 .905, idx5 .741, idx1 .607, idx2 .497;
    # h^2 = 50.6 as before (same positions). First pick idx 6; then gain q^2 (1 - S^2): idx1
    # .607 * .798 = .484, idx2 .497 * .621 = .309, idx4 .905 * .020 = .018, idx5 .741 * .076 =
    # .057, so idx 1. Negatives by ascending reward: idx 6 (.5), idx 1 (3).
    pool = with_copy(10.0, 0.5)
    assert run("kcenter", *pool) == ([0, 5, 2], 1)
    for name in ("ampo_coreset", "ampo_optselect", "dpp"):
        assert run(name, *pool, **ORIGINAL[name][0]) == ([0, 6, 1], 1), name


@pytest.mark.parametrize("name", sorted(ORIGINAL))
@pytest.mark.parametrize("reward", [5.0, -1.0])
def test_a_copy_of_the_best_is_dropped_and_never_a_negative(name, reward):
    # A copy of the best (x = 0) with its reward 5 (tie: idx 0 comes first) or with a noisy
    # reward -1 (it would be the worst response, the first negative of a reward rule): either
    # way it duplicates the kept best and is dropped; the answers are the original ones.
    options, answer = ORIGINAL[name]
    assert run(name, *with_copy(0.0, reward), **options) == (answer, 1)


def test_a_copy_of_the_best_with_a_higher_reward_becomes_the_positive():
    # The copy of x = 0 scores 6 > 5: idx 6 is the best and kept, idx 0 dropped; kcenter from
    # x = 0 again picks x = 12 (idx 5) and x = 3 (idx 2).
    assert run("kcenter", *with_copy(0.0, 6.0)) == ([6, 5, 2], 1)


def test_reward_only_rules_ignore_duplicates():
    # ampo_bottomk never looks at embeddings: the copy (reward -1) of the best is its worst
    # response and its first negative, and nothing is collapsed.
    assert run("ampo_bottomk", *with_copy(0.0, -1.0)) == ([0, 6, 3], 0)


def test_error_mode_names_the_prompt_and_the_pair():
    rewards, embeddings = with_copy(10.0, 0.0)
    rewards = np.concatenate([np.array([[*R, -1.0]]), rewards])
    embeddings = np.concatenate([np.array([[*X, 20.0]])[:, :, None], embeddings])
    with pytest.raises(SelectionInputError, match=r"prompt 1: responses 3 and 6 have identical"):
        select("kcenter", rewards, embeddings, 3, duplicates="error")
    assert select("kcenter", rewards, embeddings, 3).collapsed.tolist() == [0, 1]


def test_an_all_identical_pool_collapses_to_one_response():
    rewards = np.arange(12.0).reshape(2, 6)
    embeddings = np.random.default_rng(0).normal(size=(2, 6, 3))
    embeddings[1] = 0.25  # every response of prompt 1 has the same embedding
    with pytest.raises(
        SelectionInputError,
        match=r"prompt 1: k=2 exceeds the 1 distinct responses of the pool: 5 of its 6 "
        r"responses were collapsed",
    ) as info:
        select("ampo_optselect", rewards, embeddings, 2)
    assert info.value.field == "k"
    with pytest.raises(SelectionInputError, match=r"prompt 1: all 6 embeddings are identical"):
        select("ampo_optselect", rewards, embeddings, 2, duplicates="error")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_pool_identical_up_to_rounding_noise_is_flat(dtype):
    """Embeddings equal to one vector up to noise of 1e-12 (float64) or 1e-9 (float32) of its
    size differ by rounding only: the pool is flat (its spread is below DUPLICATE_RTOL of its
    magnitude) and collapses to its best response, although no single squared distance is
    small next to that spread (itself noise). Guards against: deciding duplicates from pair
    distances alone, which keeps rounding noise as distinct responses."""
    g = np.random.default_rng(5)
    noise = 1e-12 if dtype == np.float64 else 1e-9
    base = g.normal(size=(1, 1, 64)) * 10
    e = (base + noise * 10 * g.normal(size=(1, 6, 64))).astype(dtype)
    r = np.array([[0.0, 3.0, 1.0, 2.0, 5.0, 4.0]])
    with pytest.raises(SelectionInputError, match=r"prompt 0: k=2 exceeds the 1 distinct"):
        select("kcenter", r, e, 2)
    with pytest.raises(SelectionInputError, match=r"prompt 0: all 6 embeddings are identical"):
        select("kcenter", r, e, 2, duplicates="error")


def test_too_few_distinct_responses_names_the_counts():
    # Prompt 0: 6 responses, 3 of them copies of others -> 3 distinct; k = 4 is too many.
    rewards = np.array([[6.0, 5.0, 4.0, 3.0, 2.0, 1.0]])
    x = np.array([[0.0, 1.0, 0.0, 2.0, 1.0, 1.0]])[:, :, None]
    assert select("kcenter", rewards, x, 3).collapsed.tolist() == [3]
    with pytest.raises(
        SelectionInputError,
        match=r"prompt 0: k=4 exceeds the 3 distinct responses of the pool: 3 of its 6",
    ):
        select("kcenter", rewards, x, 4)


def test_near_duplicates_in_float32_collapse():
    """float32 copies moved by noise of 1e-6 per coordinate (distance 3e-5, far below the
    tolerance sqrt(1e-4 * spread) = 0.76) are duplicates; responses moved by 0.1 per
    coordinate (distance 2.8, 2% of the pool's RMS distance 118) are not."""
    g = np.random.default_rng(0)
    e = (g.normal(size=(2, 6, 768)) * 3 + 5).astype(np.float32)
    e[0, 5] = e[0, 1] + np.float32(1e-6) * g.normal(size=768).astype(np.float32)
    e[1, 5] = e[1, 1] + np.float32(0.1) * g.normal(size=768).astype(np.float32)
    r = g.normal(size=(2, 6))
    assert select("kcenter", r, e, 3).collapsed.tolist() == [1, 0]


def naive_keep(pairs, rewards, mask):
    """Oracle for keep_distinct: walk the valid responses by descending reward, then index, and
    keep each one that duplicates no response kept before it."""
    kept = np.zeros_like(mask)
    for b in range(len(mask)):
        order = sorted(np.flatnonzero(mask[b]), key=lambda i: (-rewards[b, i], i))
        chosen = []
        for i in order:
            if not any(pairs[b, i, j] for j in chosen):
                chosen.append(i)
        kept[b, chosen] = True
    return kept


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 9), density=st.floats(0.0, 1.0))
def test_keep_distinct_matches_the_naive_greedy(seed, n, density):
    """The batched rank loop keeps exactly what the per-pool Python loop keeps, for arbitrary
    (not transitive) duplicate relations, tied rewards and padding. Guards against: keeping
    the lower reward of a pair, ties to the higher index, dropping a response whose only
    duplicate was itself dropped (a chain a ~ b ~ c keeps a and c)."""
    g = np.random.default_rng(seed)
    b = 4
    mask = g.uniform(size=(b, n)) < 0.8
    upper = np.triu(g.uniform(size=(b, n, n)) < density, 1)
    pairs = (upper | upper.transpose(0, 2, 1)) & mask[:, :, None] & mask[:, None, :]
    rewards = g.integers(0, 3, size=(b, n)).astype(np.float64)  # many ties
    np.testing.assert_array_equal(
        keep_distinct(pairs, rewards, mask), naive_keep(pairs, rewards, mask)
    )


def test_a_chain_keeps_both_ends():
    # 0 ~ 1 ~ 2 with 0, 2 apart; rewards descending by index: keep 0, drop 1, keep 2.
    pairs = np.zeros((1, 3, 3), dtype=bool)
    pairs[0, [0, 1, 1, 2], [1, 0, 2, 1]] = True
    kept = keep_distinct(pairs, np.array([[3.0, 2.0, 1.0]]), np.ones((1, 3), dtype=bool))
    assert kept.tolist() == [[True, False, True]]


def _with_copies(rewards, embeddings, mask, g):
    """Append copies of random valid responses (exact, or moved by 1e-9 of the pool's extent)
    with rewards <= the original's, so the original is the copy kept; (pool, copies per row)."""
    b, _, d = embeddings.shape
    extra = int(g.integers(1, 4))
    src = np.stack([g.choice(np.flatnonzero(mask[i]), size=extra) for i in range(b)])  # (B, m)
    rows = np.arange(b)[:, None]
    jitter = g.normal(size=(b, extra, d)) * 1e-9 * np.nanmax(np.abs(embeddings))
    jitter[:, 0] = 0.0  # at least one exact copy per pool
    copies_e = embeddings[rows, src] + jitter
    copies_r = rewards[rows, src] - g.choice([0.0, 0.5], size=(b, extra))
    return (
        np.concatenate([rewards, copies_r], axis=1),
        np.concatenate([embeddings, copies_e], axis=1),
        np.concatenate([mask, np.ones((b, extra), dtype=bool)], axis=1),
        extra,
    )


@pytest.mark.parametrize(
    ("name", "options"),
    [case for case in deterministic_cases() if case[0] in geometric_names()]
    + [("ampo_coreset", {})],
)
@SETTINGS
@given(case=pools(ragged=True), seed=st.integers(0, 2**16))
def test_appending_duplicates_changes_nothing(name, options, case, seed):
    """A pool with copies of its responses appended (after the padding of ragged rows) selects
    the same responses as the pool without them, and counts the copies in `collapsed`; numpy
    and torch agree, and so do chunks of one prompt. Guards against: duplicates entering the
    bandwidth, the mean reward or a cluster; a kept copy instead of the original; a count off."""
    rewards, embeddings, mask, k = case
    k = k_for(name, k)
    if k > mask.sum(axis=1).min():
        return
    g = np.random.default_rng(seed)
    base = select(name, rewards, embeddings, k, mask=mask, seed=4, **options)
    assert base.collapsed.tolist() == [0] * len(rewards)  # Gaussian pools have no duplicates
    r2, e2, m2, extra = _with_copies(rewards, embeddings, mask, g)
    got = select(name, r2, e2, k, mask=m2, seed=4, **options)
    np.testing.assert_array_equal(got.indices, base.indices)
    assert got.collapsed.tolist() == [extra] * len(rewards)
    chunked = select(name, r2, e2, k, mask=m2, seed=4, chunk_size=1, **options)
    np.testing.assert_array_equal(chunked.indices, got.indices)
    np.testing.assert_array_equal(chunked.collapsed, got.collapsed)
    t = select(
        name,
        *(torch.from_numpy(a) for a in (r2, e2)),
        k,
        mask=torch.from_numpy(m2),
        seed=4,
        **options,
    )
    assert t.collapsed.dtype == torch.int64
    np.testing.assert_array_equal(t.indices.numpy(), got.indices)
    np.testing.assert_array_equal(t.collapsed.numpy(), got.collapsed)


@pytest.mark.parametrize("name", [n for n in sorted(ORIGINAL) if get_strategy(n).needs_embeddings])
def test_collapsed_is_an_int64_count_on_the_inputs_library(name):
    rewards, embeddings = with_copy(10.0, 0.0)
    sel = select(name, torch.from_numpy(rewards), torch.from_numpy(embeddings), 3)
    assert isinstance(sel.collapsed, torch.Tensor) and sel.collapsed.dtype == torch.int64
    assert sel.collapsed.shape == (1,)
    empty = select(name, np.zeros((0, 4)), np.zeros((0, 4, 2)), 3)
    assert empty.collapsed.shape == (0,) and empty.collapsed.dtype == np.int64
