"""Every vectorised loss against its scalar oracle (`loss_oracles.py`: the formula written out
per prompt in arbitrary precision) on random ragged groups."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from loss_cases import CASE_IDS, CASES, Batch, batches, props
from loss_oracles import ORACLES, Row, oracle_loss, oracle_metrics

from training.losses import LOSSES


def test_every_loss_has_an_oracle():
    """Property: each registry key has a scalar oracle.
    Guards against a new loss that only its own vectorised code has ever computed."""
    assert set(ORACLES) == set(LOSSES)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@given(batch=batches(max_b=4, max_k=7, multi_positive=True))
@props(30)
def test_vectorised_loss_matches_the_naive_loop(case, batch):
    """Property: on random ragged groups (padding, empty rows, several positives) the vectorised
    loss of each row equals a per-prompt loop over the formula. Guards against broadcasting
    mistakes, masks applied on the wrong axis and rows leaking into each other."""
    loss = case(batch)[0]
    for b in range(batch.mask.shape[0]):
        valid = batch.mask[b].any()
        expected = float(oracle_loss(case.name, case.cfg, Row.of(batch, b))) if valid else 0.0
        assert loss[b].item() == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@given(batch=batches(max_b=3, max_k=6, multi_positive=True))
@props(15)
def test_metrics_match_the_naive_loop(case, batch):
    """Property: every metric of every row equals the per-prompt definition (means of the
    implicit reward over the loss's positive and negative sets, the fraction of pairs ordered
    correctly, MMPO's mean target, the group's positive count), and is 0 on padding rows.
    Guards against metrics logged from the wrong set, with the wrong sign or off the wrong
    score, which no loss value would reveal."""
    metrics = case(batch)[1]
    for b in range(batch.mask.shape[0]):
        if not batch.mask[b].any():
            assert all(v[b] == 0 for v in metrics.values())
            continue
        expected = oracle_metrics(case.name, case.cfg, Row.of(batch, b))
        assert set(expected) == set(metrics)
        for key, value in expected.items():
            assert metrics[key][b].item() == pytest.approx(value, rel=1e-9, abs=1e-9), key


@given(seed=st.integers(0, 2**31 - 1))
@props(5)
def test_plackett_luce_ranks_a_large_group_with_ties_by_position(seed):
    """Property: on a group of 48 responses (some padded) whose rewards take 4 values, the
    Plackett-Luce loss equals the oracle's, which ranks the positive first, then the negatives
    by decreasing reward, ties by slot. Guards against an unstable sort (torch's differs from a
    stable one from about 32 elements on), which would rank tied responses arbitrarily."""
    gen = torch.Generator().manual_seed(seed)
    k = 48
    mask = torch.rand(1, k, generator=gen) < 0.9
    mask[0, :2] = True
    positive = torch.zeros(1, k, dtype=torch.bool)
    positive[0, 0] = True
    ref = torch.randn(1, k, generator=gen, dtype=torch.float64)
    policy = ref + torch.randn(1, k, generator=gen, dtype=torch.float64)
    rewards = torch.randint(0, 4, (1, k), generator=gen).double()
    batch = Batch(policy, ref, torch.ones(1, k, dtype=torch.long), rewards, mask, positive)
    case = next(c for c in CASES if c.name == "plackett_luce")
    expected = oracle_loss(case.name, case.cfg, Row.of(batch, 0))
    assert case(batch)[0].item() == pytest.approx(float(expected), rel=1e-9)
