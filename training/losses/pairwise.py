"""Reference-based pairwise preference losses: DPO, cDPO, IPO and MMPO (PAPER.md section 4).

Each is a loss l(h) of one (winner w, loser l) pair, with the log-ratio difference

    h = [log pi(y_w|x) - log pi_ref(y_w|x)] - [log pi(y_l|x) - log pi_ref(y_l|x)].

On a group of k responses the loss is the mean of l over every (positive, negative) pair
(`reductions.pair_weights`): "the positive vs each negative, averaged", the usual pairwise loss
when k = 2. DPO, cDPO and MMPO are one soft Bradley-Terry cross-entropy

    l(h) = -t log sigma(beta h) - (1 - t) log sigma(-beta h)

with target t = 1 (DPO), t = 1 - eps (cDPO) and t = sigma(gamma_bt (r_w - r_l)) (MMPO). Every
term is a product of nonnegative factors, so nothing cancels; the target's complement 1 - t is
passed in, computed without cancellation (eps, sigma(-gamma_bt (r_w - r_l))), since 1 - t in
float32 is 0 for any t above 1 - 3e-8 and the (1 - t) term can be most of a small loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from training.losses.config import LossConfig
from training.losses.inputs import finish, prepare_inputs
from training.losses.reductions import pair_differences, pair_mean, preference_metrics


def soft_bradley_terry_nll(z: Tensor, target: Tensor | float, complement: Tensor | float) -> Tensor:
    """-t log sigma(z) - (1 - t) log sigma(-z), in logsigmoid form (no overflow for |z| >> 1).

    The cross-entropy between the target preference probability t and the Bradley-Terry model
    sigma(z); `complement` is 1 - t, given by the caller in a form that keeps its relative
    accuracy when t is near 1. t = 1, complement 0 gives -log sigma(z) exactly.
    """
    return -(target * F.logsigmoid(z) + complement * F.logsigmoid(-z))


# -- DPO ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DPOConfig(LossConfig):
    loss_name: ClassVar[str] = "dpo"
    beta: float = field(
        default=0.1,
        metadata={
            "help": "KL strength beta of DPO (Rafailov et al. 2023, Eq. 7). 0.1 is the paper's and "
            "TRL's default; SimPO's Llama-3-8B-Instruct DPO baseline used 0.01."
        },
    )

    def __post_init__(self) -> None:
        self._require_positive("beta")

    @property
    def uses_reference(self) -> bool:
        return True


def dpo(policy_logps, ref_logps, lengths, rewards, mask, positive, cfg=DPOConfig()):
    """DPO (Rafailov et al. 2023, Eq. 7): l(h) = -log sigma(beta h), h the log-ratio difference.

    Returns (loss (B,), metrics); implicit reward beta log pi/pi_ref.
    """
    g = prepare_inputs(policy_logps, ref_logps, lengths, rewards, mask, positive, cfg, DPOConfig)
    u = cfg.beta * g.log_ratio  # (B, k) implicit rewards
    loss = pair_mean(-F.logsigmoid(pair_differences(u)), g)  # (B,)
    return finish(g, loss, preference_metrics(u, g))


# -- cDPO -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CDPOConfig(LossConfig):
    loss_name: ClassVar[str] = "cdpo"
    beta: float = field(
        default=0.1, metadata={"help": "KL strength beta, as in DPO (default 0.1)."}
    )
    label_smoothing: float = field(
        default=0.1,
        metadata={
            "help": "Label-noise rate eps of conservative DPO (Mitchell 2023, 'A note on DPO with "
            "noisy preferences'): the probability that a pair's label is flipped. 0 gives DPO; "
            "values up to 0.5 are allowed. No recommended value is published for this setting; 0.1 "
            "is ours."
        },
    )

    def __post_init__(self) -> None:
        self._require_positive("beta")
        if not 0 <= self._real("label_smoothing") <= 0.5:
            self._fail("label_smoothing", "in [0, 0.5]")

    @property
    def uses_reference(self) -> bool:
        return True


def cdpo(policy_logps, ref_logps, lengths, rewards, mask, positive, cfg=CDPOConfig()):
    """cDPO (Mitchell 2023): l(h) = -(1 - eps) log sigma(beta h) - eps log sigma(-beta h).

    PAPER.md section 4. eps = 0 is DPO exactly. Returns (loss (B,), metrics).
    """
    g = prepare_inputs(policy_logps, ref_logps, lengths, rewards, mask, positive, cfg, CDPOConfig)
    u = cfg.beta * g.log_ratio  # (B, k)
    eps = cfg.label_smoothing
    loss = pair_mean(soft_bradley_terry_nll(pair_differences(u), 1.0 - eps, eps), g)
    return finish(g, loss, preference_metrics(u, g))


# -- IPO ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IPOConfig(LossConfig):
    loss_name: ClassVar[str] = "ipo"
    tau: float = field(
        default=0.1,
        metadata={
            "help": "Regularisation tau of IPO (Azar et al. 2024, the sampled IPO loss): the loss "
            "drives h to 1/(2 tau). TRL passes it as beta (default 0.1); SimPO's baselines "
            "searched 0.01-1.0."
        },
    )
    length_normalised: bool = field(
        default=False,
        metadata={
            "help": "Divide each log-ratio by its response length before the difference (what "
            "current TRL does for IPO). False is the paper's sequence-level formula."
        },
    )

    def __post_init__(self) -> None:
        self._require_positive("tau")
        if not isinstance(self.length_normalised, bool):
            self._fail("length_normalised", "a bool")

    @property
    def uses_reference(self) -> bool:
        return True

    @property
    def uses_lengths(self) -> bool:
        return self.length_normalised


def ipo(policy_logps, ref_logps, lengths, rewards, mask, positive, cfg=IPOConfig()):
    """IPO (Azar et al. 2024): l(h) = (h - 1/(2 tau))^2, h the log-ratio difference.

    PAPER.md section 4; with `length_normalised` each log-ratio is divided by |y|. The loss is
    minimal (0) at h = 1/(2 tau) and equals 1/(4 tau^2) at h = 0. Returns (loss (B,), metrics);
    the implicit reward reported is the (normalised) log-ratio itself.
    """
    g = prepare_inputs(policy_logps, ref_logps, lengths, rewards, mask, positive, cfg, IPOConfig)
    u = g.log_ratio / g.lengths if cfg.length_normalised else g.log_ratio  # (B, k)
    loss = pair_mean((pair_differences(u) - 1.0 / (2.0 * cfg.tau)) ** 2, g)
    return finish(g, loss, preference_metrics(u, g))


# -- MMPO -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MMPOConfig(LossConfig):
    loss_name: ClassVar[str] = "mmpo"
    beta: float = field(
        default=0.01,
        metadata={
            "help": "KL strength beta of MMPO (Kim et al. 2024, reference code: 0.01, lr 5e-7)."
        },
    )
    gamma_bt: float | None = field(
        default=2.2,
        metadata={
            "help": "Rationality constant of the soft Bradley-Terry target p = sigma(gamma_bt (r_w "
            "- r_l)) (MMPO reference code: 2.2 for Llama-3-8B, 0.3 for Gemma-7B on UltraFeedback). "
            "None gives the hard target p = 1, i.e. DPO."
        },
    )

    def __post_init__(self) -> None:
        self._require_positive("beta")
        if self.gamma_bt is not None:
            self._require_positive("gamma_bt")

    @property
    def uses_reference(self) -> bool:
        return True

    @property
    def uses_rewards(self) -> bool:
        return self.gamma_bt is not None


def mmpo(policy_logps, ref_logps, lengths, rewards, mask, positive, cfg=MMPOConfig()):
    """MMPO (Kim et al. 2024): l(h) = -p log sigma(beta h) - (1 - p) log sigma(-beta h).

    PAPER.md section 4 [C, reference code]: p = sigma(gamma_bt (r_w - r_l)) from the reward
    margin of the pair; gamma_bt = None gives p = 1 (DPO). Zero margin gives p = 1/2.
    Returns (loss (B,), metrics), with the mean target "mmpo/target".
    """
    g = prepare_inputs(policy_logps, ref_logps, lengths, rewards, mask, positive, cfg, MMPOConfig)
    u = cfg.beta * g.log_ratio  # (B, k)
    if cfg.gamma_bt is None:
        target = torch.ones_like(u)[:, :, None].expand(-1, -1, u.shape[1])  # (B, k, k)
        complement = torch.zeros_like(target)
    else:
        logit = cfg.gamma_bt * pair_differences(g.rewards)  # (B, k, k)
        target, complement = torch.sigmoid(logit), torch.sigmoid(-logit)
    loss = pair_mean(soft_bradley_terry_nll(pair_differences(u), target, complement), g)
    metrics = preference_metrics(u, g) | {"mmpo/target": pair_mean(target, g)}
    return finish(g, loss, metrics)
