"""SimPO: the reference-free, length-normalised pairwise loss with a target margin gamma.

Meng, Xia and Chen 2024, "SimPO: Simple Preference Optimization with a Reference-Free Reward",
Eq. 6; PAPER.md section 4 [C, repo]. On a group the loss is averaged over every (positive,
negative) pair, as for the other pairwise losses (`reductions.pair_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch.nn.functional as F

from training.losses.config import LossConfig
from training.losses.inputs import finish, prepare_inputs
from training.losses.reductions import pair_differences, pair_mean, preference_metrics


@dataclass(frozen=True)
class SimPOConfig(LossConfig):
    loss_name: ClassVar[str] = "simpo"
    beta: float = field(
        default=2.5,
        metadata={
            "help": "Reward scale beta of SimPO (Eq. 6). Recommended: 2.5 for Llama-3-8B-Instruct "
            "and Mistral-7B-Instruct, 10 for the Llama-3-8B-Instruct v0.2 (ArmoRM) recipe."
        },
    )
    gamma_beta_ratio: float = field(
        default=0.55,
        metadata={
            "help": "Target margin as a fraction of beta, gamma = beta * gamma_beta_ratio (how "
            "SimPO's code sets it). Recommended: 0.55 Llama-3-8B-Instruct, 0.3 its v0.2 recipe, "
            "0.1 Mistral-7B-Instruct."
        },
    )

    def __post_init__(self) -> None:
        self._require_positive("beta")
        self._require_nonnegative("gamma_beta_ratio")

    @property
    def gamma(self) -> float:
        """The target reward margin gamma of Eq. 6."""
        return self.beta * self.gamma_beta_ratio

    @property
    def uses_lengths(self) -> bool:
        return True


def simpo(policy_logps, ref_logps, lengths, rewards, mask, positive, cfg=SimPOConfig()):
    """SimPO (Meng et al. 2024, Eq. 6).

    l = -log sigma(beta/|y_w| log pi(y_w|x) - beta/|y_l| log pi(y_l|x) - gamma).

    Reference-free; `ref_logps` and `rewards` are ignored. Returns (loss (B,), metrics) with the
    implicit reward beta/|y| log pi(y|x).
    """
    g = prepare_inputs(policy_logps, ref_logps, lengths, rewards, mask, positive, cfg, SimPOConfig)
    u = cfg.beta * g.policy / g.lengths  # (B, k) length-normalised implicit rewards
    loss = pair_mean(-F.logsigmoid(pair_differences(u) - cfg.gamma), g)
    return finish(g, loss, preference_metrics(u, g))
