"""Invariances, monotonicity, gradient signs and limits of every loss in the catalogue."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from loss_cases import CASE_IDS, CASES, batches, props, tie_batch

from training.losses import get_loss

CLOSE = {"rtol": 1e-10, "atol": 1e-10}
REFERENCE_BASED = [c for c in CASES if c.cfg.uses_reference]
LENGTH_NORMALISED = [c for c in CASES if c.cfg.uses_lengths]
MONOTONE = [c for c in CASES if c.monotone]
PUSHES = [c for c in CASES if c.pushes_negatives]
VANISHING = [c for c in CASES if c.vanishes]


def ids(cases):
    return [c.label for c in cases]


# -- invariances ----------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@given(batch=batches(multi_positive=True), data=st.data())
@props(20)
def test_permuting_the_group_leaves_the_loss_unchanged(case, batch, data):
    """Property: permuting the k slots of a row (negatives, positives and padding together)
    leaves its loss unchanged. Guards against a loss that reads the slot order (e.g. treats
    slot 0 as the positive, or the last slot as the worst) instead of the positive mask."""
    k = batch.mask.shape[1]
    perm = torch.stack([torch.tensor(data.draw(st.permutations(range(k)))) for _ in batch.mask])
    shuffled = batch.with_(**{f: getattr(batch, f).gather(1, perm) for f in batch.__annotations__})
    torch.testing.assert_close(case(shuffled)[0], case(batch)[0], **CLOSE)


@pytest.mark.parametrize("case", REFERENCE_BASED, ids=ids(REFERENCE_BASED))
@given(batch=batches(multi_positive=True), shift=st.floats(-50.0, 50.0))
@props(20)
def test_reference_losses_ignore_a_common_shift(case, batch, shift):
    """Property: adding the same constant c_b to the policy and reference log-probs of all the
    responses of prompt b leaves a reference-based loss unchanged. Guards against a loss using
    an absolute log-prob where the paper uses a log-ratio or a difference."""
    c = shift * torch.arange(1, batch.mask.shape[0] + 1, dtype=torch.float64)[:, None]
    moved = batch.with_(policy=batch.policy + c, ref=batch.ref + c)
    torch.testing.assert_close(case(moved)[0], case(batch)[0], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("case", LENGTH_NORMALISED, ids=ids(LENGTH_NORMALISED))
@given(batch=batches(multi_positive=True), data=st.data())
@props(20)
def test_length_normalised_losses_ignore_a_joint_scaling(case, batch, data):
    """Property: scaling a response's log-probs and its length by the same factor leaves a
    length-normalised loss (SimPO, AMPO, IPO normalised) unchanged. Guards against dividing by
    the wrong response's length or forgetting the normalisation on one side."""
    n = batch.mask.numel()
    factors = data.draw(st.lists(st.floats(0.1, 10.0), min_size=n, max_size=n))
    scale = torch.tensor(factors, dtype=torch.float64).reshape(batch.mask.shape)
    scaled = batch.with_(
        policy=batch.policy * scale, ref=batch.ref * scale, lengths=batch.lengths * scale
    )
    torch.testing.assert_close(case(scaled)[0], case(batch)[0], **CLOSE)


# -- monotonicity and gradient signs --------------------------------------------------------
# One positive per row (AMPO's setting; SWEPO's mean split still makes several). With several
# given positives InfoNCA's uniform labels and Plackett-Luce's ranking among positives do not
# pull every positive up; the group loss does, which `test_group_loss_pulls_every_positive`
# checks.
@pytest.mark.parametrize("case", MONOTONE, ids=ids(MONOTONE))
@given(batch=batches(), step=st.floats(1e-3, 30.0))
@props(20)
def test_raising_a_positive_never_raises_the_loss(case, batch, step):
    """Property: raising the policy log-prob of every response in the loss's positive set never
    raises the loss. Guards against a sign error that would train the model away from the
    preferred responses."""
    pos = case.positive_set(batch)
    before = case(batch)[0]
    after = case(batch, policy=batch.policy + step * pos)[0]
    assert (after <= before + 1e-12).all()


def _grad(case, batch):
    policy = batch.policy.clone().requires_grad_()
    case(batch, policy=policy)[0].sum().backward()
    return policy.grad


@pytest.mark.parametrize("case", MONOTONE, ids=ids(MONOTONE))
@given(batch=batches())
@props(20)
def test_gradient_is_nonpositive_on_positives(case, batch):
    """Property: dL/d log pi(y_i) <= 0 for every i in the positive set. Guards against
    gradient descent lowering the likelihood of a preferred response."""
    assert (_grad(case, batch)[case.positive_set(batch)] <= 0).all()


@pytest.mark.parametrize("case", PUSHES, ids=ids(PUSHES))
@given(batch=batches())
@props(20)
def test_gradient_is_nonnegative_on_negatives(case, batch):
    """Property: dL/d log pi(y_j) >= 0 for every valid negative j. Guards against gradient
    descent raising the likelihood of a rejected response."""
    negative = batch.mask & ~case.positive_set(batch)
    assert (_grad(case, batch)[negative] >= 0).all()


GROUP = [c for c in CASES if c.name in ("ampo", "swepo")]


@pytest.mark.parametrize("case", GROUP, ids=ids(GROUP))
@given(batch=batches(multi_positive=True))
@props(20)
def test_group_loss_pulls_every_positive(case, batch):
    """Property: with several positives the group loss still has dL/d log pi <= 0 on each
    positive and >= 0 on each negative. Guards against a multi-positive numerator that lets
    one positive crowd out another (as a per-positive average of log-softmaxes would)."""
    grad, pos = _grad(case, batch), case.positive_set(batch)
    assert (grad[pos] <= 0).all() and (grad[batch.mask & ~pos] >= 0).all()


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@given(batch=batches(multi_positive=True))
@props(15)
def test_loss_is_nonnegative(case, batch):
    """Property: every loss is >= 0 (each is a cross-entropy, a squared error or an NLL).
    Guards against a normaliser computed over the wrong set (e.g. positives only)."""
    assert (case(batch)[0] >= 0).all()


# -- limits and known values ----------------------------------------------------------------
@pytest.mark.parametrize("case", VANISHING, ids=ids(VANISHING))
@given(batch=batches(dtype=torch.float32))
@props(15)
def test_loss_vanishes_as_the_positive_margin_grows(case, batch):
    """Property: raising the positives' policy log-probs by 1e4 (float32) drives the loss to 0.
    Guards against a loss with a non-zero floor at perfect separation (e.g. a margin counted on
    both sides) and against overflow at large margins."""
    loss = case(batch, policy=batch.policy + 1e4 * case.positive_set(batch))[0]
    assert loss.isfinite().all() and (loss < 1e-6).all()


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_value_at_equal_implicit_rewards(case):
    """Property: when every implicit reward of a row is equal the loss takes the known value
    (log 2 for DPO-type losses, log n for InfoNCA, log n! for Plackett-Luce, and the margin's
    and weights' analogue for AMPO, SimPO and IPO; see loss_cases.CASES), its reward margin is 0
    and no pair counts as correctly ordered. Guards against an off-by-one in the group size, a
    misplaced margin, or an accuracy that counts ties."""
    n_valid = [2, 3, 5, 6, 0]
    loss, metrics = case(tie_batch(n_valid, k=6))
    expected = torch.tensor([case.tie_value(n) if n else 0.0 for n in n_valid], dtype=loss.dtype)
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    # a tie is not a correctly ordered pair (TRL's strict chosen > rejected)
    assert (metrics["rewards/accuracies"] == 0).all() and (metrics["rewards/margins"] == 0).all()


@given(batch=batches(positive_best=True, empty_rows=False, min_k=3))
@props(20)
def test_plackett_luce_limit_drops_the_positive(batch):
    """Property: as the positive's margin grows, the Plackett-Luce loss tends to the loss of the
    ranking of the remaining responses (the positive's term vanishes, the others stay). Guards
    against a listwise loss that ranks only the top response (that is InfoNCA, not PL)."""
    pl = get_loss("plackett_luce")
    far = pl(*batch.with_(policy=batch.policy + 1e4 * batch.positive).args())[0]
    for b in range(batch.mask.shape[0]):
        rest = batch.row(b, batch.mask[b] & ~batch.positive[b])
        if rest.mask.shape[1] < 2:
            assert far[b] == pytest.approx(0.0, abs=1e-12)
            continue
        # the best remaining response is now first in the ranking
        best = rest.rewards.argmax(-1)
        rest = rest.with_(positive=torch.nn.functional.one_hot(best, rest.mask.shape[1]).bool())
        assert far[b].item() == pytest.approx(pl(*rest.args())[0].item(), rel=1e-9, abs=1e-9)


@given(rewards=st.lists(st.floats(-5, 5), min_size=2, max_size=6).filter(lambda r: len(set(r)) > 1))
@props(30)
def test_swepo_mean_split(rewards):
    """Property: SWEPO's positive set is exactly {i : r_i > mean(r)}, so its group_size metric
    counts them. Guards against a split at the median or a >= that makes every response of a
    two-valued group positive."""
    k = len(rewards)
    r = torch.tensor([rewards], dtype=torch.float64)
    mean = sum(rewards) / k
    expected = sum(x > mean for x in rewards)
    if expected in (0, k):  # rounding of the mean can make the split degenerate
        return
    args = (torch.zeros(1, k, dtype=torch.float64), torch.zeros(1, k, dtype=torch.float64))
    positive = torch.nn.functional.one_hot(r.argmax(-1), k).bool()
    _, metrics = get_loss("swepo")(*args, None, r, None, positive)
    assert metrics["group/n_positive"].item() == expected


# 0.3 * 4 / 4 == 0.3: no reward is above the mean. (0.7 + 0.7 + 0.7) / 3 = 0.6999999999999998:
# every reward is "above" the rounded mean, and the split would leave no negative.
@pytest.mark.parametrize(("k", "reward"), [(4, 0.3), (3, 0.7)])
def test_swepo_with_tied_rewards_keeps_the_given_positive(k, reward):
    """Property: when all rewards of a row tie the mean split is undefined, on either side of
    the rounded mean, and the given positive is used instead (documented fallback). Guards
    against an all-negative group (loss -log 0 = inf) and an all-positive one (loss 0, no
    gradient) when the rounding of the mean puts every tied reward above it."""
    assert (sum([reward] * k) / k < reward) == (k == 3)  # the premise of each case
    zeros = torch.zeros(1, k, dtype=torch.float64)
    positive = torch.nn.functional.one_hot(torch.tensor([1]), k).bool()
    loss, metrics = get_loss("swepo")(zeros, zeros, None, zeros + reward, None, positive)
    assert metrics["group/n_positive"].item() == 1
    # equal scores and (alpha dS ~ 0) unit weights: -log(1/k) = log k
    assert loss.item() == pytest.approx(math.log(k))
