"""Reductions between losses: each special case equals the simpler loss it generalises."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from loss_cases import CASES, Batch, batches, props

from training.losses import get_loss

dpo = get_loss("dpo")
EXACT = {"rtol": 0.0, "atol": 0.0}
CLOSE = {"rtol": 1e-12, "atol": 1e-12}
SCALES = st.sampled_from([0.01, 0.1, 2.0])


def _dpo(batch: Batch, beta: float):
    return dpo(*batch.args(), dpo.config(beta=beta))[0]


# -- reductions to DPO ----------------------------------------------------------------------
@given(batch=batches(max_valid=2), beta=SCALES)
@props(30)
def test_ampo_with_one_positive_and_one_negative_is_dpo(batch, beta):
    """Property: AMPO scored by beta log pi/pi_ref with gamma = 0, alpha = 0 on groups of one
    positive and one negative equals DPO with the same beta. Guards against a wrong sign or a
    missing term in the group-contrastive loss (it must generalise DPO, not differ from it)."""
    cfg = get_loss("ampo").config(beta=beta, gamma=0.0, score="log_ratio")
    got = get_loss("ampo")(*batch.args(), cfg)[0]
    torch.testing.assert_close(got, _dpo(batch, beta), **CLOSE)


@given(batch=batches(max_valid=2), ratio=SCALES)
@props(30)
def test_ampo_length_normalised_with_one_negative_is_simpo(batch, ratio):
    """Property: reference-free AMPO (beta/|y| log pi, margin gamma, alpha = 0) on a pair equals
    SimPO with gamma = beta * gamma_beta_ratio. Guards against the margin being applied to the
    wrong side, or twice, in the group loss."""
    simpo = get_loss("simpo").config(beta=2.5, gamma_beta_ratio=ratio)
    ampo = get_loss("ampo").config(beta=2.5, gamma=simpo.gamma)
    got = get_loss("ampo")(*batch.args(), ampo)[0]
    torch.testing.assert_close(got, get_loss("simpo")(*batch.args(), simpo)[0], **CLOSE)


@given(batch=batches(max_valid=2, positive_best=True))
@props(30)
def test_swepo_on_a_pair_is_dpo(batch):
    """Property: on two responses SWEPO's mean split keeps the better one and the two deviation
    weights are equal (exp(alpha d/2) each), so SWEPO is DPO with the same beta for any alpha.
    Guards against an asymmetric weighting of positives and negatives."""
    got = get_loss("swepo")(*batch.args(), get_loss("swepo").config(alpha=3.0))[0]
    torch.testing.assert_close(got, _dpo(batch, 0.1), **CLOSE)


@given(batch=batches(multi_positive=True))
@props(30)
def test_mmpo_with_hard_target_is_dpo(batch):
    """Property: MMPO with gamma_bt = None (target p = 1, an infinite margin) equals DPO exactly,
    on any group. Guards against a soft-target term leaking in when the margin is infinite."""
    got = get_loss("mmpo")(*batch.args(), get_loss("mmpo").config(beta=0.5, gamma_bt=None))[0]
    torch.testing.assert_close(got, _dpo(batch, 0.5), **EXACT)


@given(batch=batches(multi_positive=True))
@props(30)
def test_mmpo_with_a_huge_reward_margin_is_dpo(batch):
    """Property: raising every positive's reward by 1e3 makes p = sigma(2.2 * >=1e3) = 1 in
    float64, so default MMPO equals DPO with beta = 0.01. Guards against the target being
    computed from the wrong reward difference (loser minus winner)."""
    rewards = batch.rewards + 1e3 * batch.positive
    got = get_loss("mmpo")(*batch.with_(rewards=rewards).args())
    torch.testing.assert_close(got[0], _dpo(batch, 0.01), **CLOSE)
    assert (got[1]["mmpo/target"][batch.mask.any(-1)] == 1).all()


@given(batch=batches(multi_positive=True))
@props(30)
def test_mmpo_with_zero_margin_has_target_one_half(batch):
    """Property: equal rewards give target 1/2, and then the loss is even in h: swapping policy
    and reference (h -> -h) leaves it unchanged. Guards against an off-by-sign target or a
    target that is not centred at equal quality."""
    b = batch.with_(rewards=torch.zeros_like(batch.rewards))
    loss, metrics = get_loss("mmpo")(*b.args())
    target = metrics["mmpo/target"][b.mask.any(-1)]
    torch.testing.assert_close(target, torch.full_like(target, 0.5), **CLOSE)
    swapped = get_loss("mmpo")(*b.with_(policy=b.ref, ref=b.policy).args())[0]
    torch.testing.assert_close(loss, swapped, **CLOSE)


@given(batch=batches(max_valid=2))
@props(30)
def test_infonca_with_one_hot_labels_on_a_pair_is_dpo(batch):
    """Property: InfoNCA with k = 2 and one-hot labels (temperature 0) equals DPO with the same
    beta (the InfoNCA paper's reduction). Guards against a label/softmax axis mix-up."""
    cfg = get_loss("infonca").config(beta=0.3, temperature=0.0)
    torch.testing.assert_close(
        get_loss("infonca")(*batch.args(), cfg)[0], _dpo(batch, 0.3), **CLOSE
    )


@given(batch=batches())
@props(30)
def test_infonca_one_hot_is_the_single_positive_group_loss(batch):
    """Property: InfoNCA with one-hot labels equals AMPO scored by beta log pi/pi_ref with one
    positive, gamma = 0, alpha = 0, for any k: both are -log softmax_positive. Guards against the
    two group losses drifting apart on k > 2."""
    cfg = get_loss("infonca").config(beta=0.3, temperature=0.0)
    ampo = get_loss("ampo").config(beta=0.3, gamma=0.0, score="log_ratio")
    torch.testing.assert_close(
        get_loss("infonca")(*batch.args(), cfg)[0],
        get_loss("ampo")(*batch.args(), ampo)[0],
        **CLOSE,
    )


@given(batch=batches(multi_positive=True))
@props(30)
def test_cdpo_without_smoothing_is_dpo(batch):
    """Property: cDPO with label_smoothing 0 equals DPO exactly. Guards against the smoothing
    term being applied with the wrong weight (e.g. eps and 1 - eps swapped)."""
    cfg = get_loss("cdpo").config(beta=0.2, label_smoothing=0.0)
    torch.testing.assert_close(get_loss("cdpo")(*batch.args(), cfg)[0], _dpo(batch, 0.2), **EXACT)


@given(batch=batches(max_valid=2))
@props(30)
def test_plackett_luce_on_a_pair_is_dpo(batch):
    """Property: the Plackett-Luce likelihood of two responses equals DPO with the same beta.
    Guards against a ranking that puts the negative first, or an extra term for the last."""
    cfg = get_loss("plackett_luce").config(beta=0.7)
    got = get_loss("plackett_luce")(*batch.args(), cfg)[0]
    torch.testing.assert_close(got, _dpo(batch, 0.7), **CLOSE)


# -- the documented pairwise reduction on k > 2 ---------------------------------------------
PAIRWISE = [c for c in CASES if c.pairwise]


@pytest.mark.parametrize("case", PAIRWISE, ids=[c.label for c in PAIRWISE])
@given(batch=batches(multi_positive=True, max_b=2))
@props(20)
def test_pairwise_losses_average_over_positive_negative_pairs(case, batch):
    """Property: a pairwise loss on a k-group equals the mean of the same loss on every
    (positive, negative) 2-group cut out of it ("best vs each negative, averaged"). Guards
    against summing instead of averaging (which scales the learning rate with k) or against
    pairing negatives with each other."""
    loss = case(batch)[0]
    for b in range(batch.mask.shape[0]):
        pos = torch.nonzero(batch.positive[b] & batch.mask[b]).flatten().tolist()
        neg = torch.nonzero(~batch.positive[b] & batch.mask[b]).flatten().tolist()
        pair_losses = []
        for i in pos:
            for j in neg:
                keep = torch.zeros_like(batch.mask[b])
                keep[[i, j]] = True
                pair_losses.append(case(batch.row(b, keep))[0])
        expected = torch.cat(pair_losses).mean() if pair_losses else torch.tensor(0.0)
        torch.testing.assert_close(loss[b], expected.to(loss.dtype), rtol=1e-12, atol=1e-12)
