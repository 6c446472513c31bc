"""Masked reductions over groups and the implicit-reward metrics every loss reports.

All functions take the `Group` of `inputs.py`, whose padded slots hold finite constants, so
masking by multiplication or by a -inf fill never meets a NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from training.losses.inputs import Group


def masked_logsumexp(x: Tensor, mask: Tensor) -> Tensor:
    """log sum_{i: mask_i} exp(x_i) over the last axis. x, mask: broadcastable to (..., k), with
    >= 1 True per row of mask. Entries outside the mask get exactly zero gradient."""
    return torch.logsumexp(torch.where(mask, x, float("-inf")), dim=-1)


def neg_log_share(x: Tensor, share: Tensor, rest: Tensor) -> Tensor:
    """-log( sum_{share} e^x / sum_{share or rest} e^x ) over the last axis, without cancellation.

    The negative log-probability that a softmax over `share` and `rest` (disjoint masks) picks
    from `share`: AMPO's group loss (share = positives), -log softmax_i (share = {i}) and each
    Plackett-Luce position. Written as the difference lse(share or rest) - lse(share) it cancels
    when the share is near 1: a loss below ~1e-7 comes out as noise in float32, below ~1e-15 in
    float64 (and as 0 once it is under the log-sum-exps' ulp). The exact identity
    log(e^a + e^b) - a = softplus(b - a) gives instead

        softplus(d),   d = lse_rest x - lse_share x,

    whose relative error is that of e^d, i.e. the absolute error of d (a few ulps of the
    log-sum-exps), down to the smallest float: softplus(d) = -log sigma(-d), whose
    log1p(e^d) keeps e^d's digits (torch's softplus returns d itself above d = 20, 1e-10 off
    in float64). The gradient is the same function's.

    x, share, rest: broadcastable to (..., k); share has >= 1 True per row. A row with an empty
    `rest` gives exactly 0 with zero gradient (its log-sum-exp is never -inf). -> (...).
    """
    has_rest = rest.any(-1)  # (...)
    lse_rest = masked_logsumexp(x, rest | ~has_rest[..., None])  # finite in every row
    d = lse_rest - masked_logsumexp(x, share)
    return torch.where(has_rest, -F.logsigmoid(-d), 0.0)


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of x over mask on the last axis; 0 where the mask is empty. (..., k) -> (...)."""
    m = mask.to(x.dtype)
    return (x * m).sum(-1) / m.sum(-1).clamp_min(1)


def pair_differences(u: Tensor) -> Tensor:
    """h[b, i, j] = u[b, i] - u[b, j]. (B, k) -> (B, k, k)."""
    return u[:, :, None] - u[:, None, :]


def pair_weights(group: Group) -> Tensor:
    """Weight 1 / (|P| |N|) on every (positive i, negative j) pair, 0 elsewhere. (B, k, k).

    This is the documented reduction of a pairwise loss to a group: the mean over all
    (positive, negative) pairs, i.e. "best vs each negative, averaged" when there is one
    positive, and exactly the pairwise loss when k = 2.
    """
    pos, neg = group.positive, group.negative
    pairs = (pos[:, :, None] & neg[:, None, :]).to(group.policy.dtype)  # (B, k, k)
    n_pairs = pos.sum(-1) * neg.sum(-1)  # (B,)
    return pairs / n_pairs.clamp_min(1)[:, None, None].to(pairs.dtype)


def pair_mean(values: Tensor, group: Group) -> Tensor:
    """Mean of a per-pair value over the (positive, negative) pairs. (B, k, k) -> (B,)."""
    return (values * pair_weights(group)).sum((-2, -1))


def preference_metrics(reward: Tensor, group: Group) -> dict[str, Tensor]:
    """Implicit-reward metrics per prompt (B,), named as TRL names them.

    reward: (B, k) the loss's implicit reward of each response (e.g. beta log pi/pi_ref).
    rewards/chosen and rewards/rejected are means over the positive and negative sets;
    rewards/accuracies is the fraction of (positive, negative) pairs ranked correctly.
    """
    chosen = masked_mean(reward, group.positive)
    rejected = masked_mean(reward, group.negative)
    correct = (pair_differences(reward) > 0).to(reward.dtype)  # (B, k, k)
    return {
        "rewards/chosen": chosen,
        "rewards/rejected": rejected,
        "rewards/margins": chosen - rejected,
        "rewards/accuracies": pair_mean(correct, group),
    }
