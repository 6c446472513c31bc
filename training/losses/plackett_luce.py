"""Plackett-Luce listwise preference loss over implicit rewards (PRO / LiPO-style).

Beyond the AMPO papers: the listwise alternative to a group-contrastive loss. Order the valid
responses of a prompt as pi(1), ..., pi(n): the positives first, then the rest, each block by
decreasing reward (ties by position in the group). With implicit rewards
u_i = beta log pi(y_i|x) / pi_ref(y_i|x), the negative log-likelihood of that ranking under the
Plackett-Luce model (Plackett 1975; used by PRO, Song et al. 2024, and LiPO, Liu et al. 2024) is

    L = sum_{t=1}^{n-1} [ log sum_{s >= t} exp(u_{pi(s)}) - u_{pi(t)} ],

each term computed as softplus(log sum_{s > t} exp(u_{pi(s)}) - u_{pi(t)}) (the same number,
without the cancellation of the difference when the term is small; `reductions.neg_log_share`).
For n = 2 it is -log sigma(u_w - u_l), i.e. DPO. The loss sums over positions (it is not
averaged), which keeps that reduction exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor

from training.losses.config import LossConfig
from training.losses.inputs import finish, prepare_inputs
from training.losses.reductions import neg_log_share, preference_metrics


@dataclass(frozen=True)
class PlackettLuceConfig(LossConfig):
    loss_name: ClassVar[str] = "plackett_luce"
    beta: float = field(
        default=0.1,
        metadata={
            "help": "KL strength beta of the implicit rewards beta log pi/pi_ref [U: DPO "
            "convention, 0.1]."
        },
    )

    def __post_init__(self) -> None:
        self._require_positive("beta")

    @property
    def uses_reference(self) -> bool:
        return True

    @property
    def uses_rewards(self) -> bool:
        return True


def ranking_order(rewards: Tensor, positive: Tensor, mask: Tensor) -> Tensor:
    """The permutation putting positives first, then negatives, then padding; each block by
    decreasing reward, ties by position (stable sorts). (B, k) -> (B, k) long.
    """
    by_reward = torch.sort(-rewards, dim=-1, stable=True).indices  # (B, k)
    tier = torch.where(positive, 0, torch.where(mask, 1, 2))  # (B, k)
    by_tier = torch.sort(tier.gather(-1, by_reward), dim=-1, stable=True).indices
    return by_reward.gather(-1, by_tier)


def plackett_luce_nll(u: Tensor, valid: Tensor) -> Tensor:
    """sum_t [logsumexp_{s >= t, valid} u_s - u_t] = sum_t softplus(lse_{s > t, valid} u_s - u_t).

    u, valid: (B, k), already in ranking order with the valid entries first. -> (B,). The last
    valid position and the padded ones have no valid successor: their term is 0.
    """
    k = u.shape[-1]
    after = torch.ones(k, k, dtype=torch.bool, device=u.device).triu(1)  # after[t, s] = s > t
    eye = torch.eye(k, dtype=torch.bool, device=u.device)
    return neg_log_share(u[:, None, :], eye, after & valid[:, None, :]).sum(-1)


def plackett_luce(
    policy_logps, ref_logps, lengths, rewards, mask, positive, cfg=PlackettLuceConfig()
):
    """Plackett-Luce ranking NLL over implicit rewards (module docstring; PRO / LiPO-style).

    Returns (loss (B,), metrics); implicit reward beta log pi/pi_ref.
    """
    g = prepare_inputs(
        policy_logps, ref_logps, lengths, rewards, mask, positive, cfg, PlackettLuceConfig
    )
    u = cfg.beta * g.log_ratio  # (B, k)
    order = ranking_order(g.rewards, g.positive, g.mask)  # (B, k)
    loss = plackett_luce_nll(u.gather(-1, order), g.mask.gather(-1, order))
    return finish(g, loss, preference_metrics(u, g))
