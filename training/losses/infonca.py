"""InfoNCA: soft-label cross-entropy over the k responses of a prompt.

Chen et al. 2024, "Noise Contrastive Alignment of Language Models with Explicit Rewards"
(arXiv 2402.05369); PAPER.md section 4. Model rewards u_i = beta log pi(y_i|x) / pi_ref(y_i|x),
target labels q = softmax(r / temperature) over the valid responses, and

    L = -sum_i q_i log softmax(u)_i,   -log softmax(u)_i = softplus(lse_{j != i} u_j - u_i),

the second form (`reductions.neg_log_share`) keeping float32's relative accuracy when the
loss is small (u - logsumexp(u) cancels as softmax(u)_i -> 1). With one-hot labels on a single
positive and k = 2 this is DPO (the paper's reduction).
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
class InfoNCAConfig(LossConfig):
    loss_name: ClassVar[str] = "infonca"
    beta: float = field(
        default=0.1,
        metadata={
            "help": "KL strength beta of the model rewards beta log pi/pi_ref [U: DPO convention, "
            "0.1]."
        },
    )
    temperature: float = field(
        default=1.0,
        metadata={
            "help": "Label temperature of q = softmax(r / temperature) (the InfoNCA paper's alpha; "
            "tuned per reward scale, default 1 [U]). 0 means one-hot labels on the positive input "
            "(uniform over the positives when there are several)."
        },
    )

    def __post_init__(self) -> None:
        self._require_positive("beta")
        self._require_nonnegative("temperature")

    @property
    def uses_reference(self) -> bool:
        return True

    @property
    def uses_rewards(self) -> bool:
        return self.temperature > 0


def soft_labels(
    rewards: Tensor | None, positive: Tensor, mask: Tensor, temperature: float, dtype: torch.dtype
) -> Tensor:
    """q = softmax(r / temperature) over the valid responses; temperature 0: uniform on positive.

    (B, k) -> (B, k) in `dtype`, rows summing to 1, exactly 0 on padding.
    """
    if temperature == 0:
        one_hot = positive.to(dtype)
        return one_hot / one_hot.sum(-1, keepdim=True)
    return torch.softmax((rewards / temperature).masked_fill(~mask, float("-inf")), dim=-1)


def neg_log_softmax(u: Tensor, mask: Tensor) -> Tensor:
    """-log softmax(u)_i over the valid responses = softplus(lse_{j valid, j != i} u_j - u_i).

    u, mask: (B, k) -> (B, k); finite on padded slots too (their own term against the valid
    ones), which the labels q (0 there) drop.
    """
    eye = torch.eye(u.shape[-1], dtype=torch.bool, device=u.device)  # (k, k)
    return neg_log_share(u[:, None, :], eye, mask[:, None, :] & ~eye)  # (B, k)


def infonca(policy_logps, ref_logps, lengths, rewards, mask, positive, cfg=InfoNCAConfig()):
    """InfoNCA (Chen et al. 2024): L = -sum_i q_i log softmax(beta log pi/pi_ref)_i.

    q = softmax(r / temperature) over the valid responses (one-hot on the positive when
    temperature = 0).

    Returns (loss (B,), metrics); implicit reward beta log pi/pi_ref. The metrics' chosen /
    rejected split uses the positive input.
    """
    g = prepare_inputs(
        policy_logps, ref_logps, lengths, rewards, mask, positive, cfg, InfoNCAConfig
    )
    u = cfg.beta * g.log_ratio  # (B, k)
    q = soft_labels(g.rewards, g.positive, g.mask, cfg.temperature, u.dtype)  # (B, k)
    loss = (q * neg_log_softmax(u, g.mask)).sum(-1)  # (B,)
    return finish(g, loss, preference_metrics(u, g))
