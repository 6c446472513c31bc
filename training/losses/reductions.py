"""Masked reductions over groups and the implicit-reward metrics every loss reports.

All functions take the `Group` of `inputs.py`, whose padded slots hold finite constants, so
masking by multiplication or by a -inf fill never meets a NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor

from training.losses.inputs import Group


def masked_logsumexp(x: Tensor, mask: Tensor) -> Tensor:
    """log sum_{i: mask_i} exp(x_i) over the last axis. x: (..., k); mask has >= 1 True per row."""
    return torch.logsumexp(x.masked_fill(~mask, float("-inf")), dim=-1)


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
