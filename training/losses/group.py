"""AMPO's group-contrastive multi-preference loss, and SWEPO's mean-split weighted variant.

One loss covers both (PAPER.md section 4). With a score s_i per response, a log-weight
log w_i, a positive set P and the valid responses V of the group,

    L = -log( sum_{i in P} w_i exp(s_i - gamma) / [ sum_{i in P} w_i exp(s_i - gamma)
                                                     + sum_{j in V \\ P} w_j exp(s_j) ] )

computed as softplus(logsumexp_{V \\ P}(z) - logsumexp_P(z)) with z_i = s_i + log w_i - gamma [i in P]
(`reductions.neg_log_share`: no cancellation when the loss is small).

- score `length_normalised` (default): s_i = beta / |y_i| log pi(y_i|x), reference-free as in
  REFA [C for REFA; U for AMPO]; `log_ratio`: s_i = beta log pi(y_i|x) / pi_ref(y_i|x).
- positives `given`: P is the `positive` input (AMPO keeps the single best response [S]);
  `mean_split`: P = {i : r_i > rbar} (SWEPO/MPO [C]).
- weighting `additive`: log w_i = alpha (r_i - rbar) for every i (AMPO's s_i + alpha (r_i - rbar)
  [S]); `deviation`: log w_i = +alpha (r_i - rbar) on P, -alpha (r_j - rbar) off P (SWEPO's
  exp(alpha dS_i) for accepted and exp(-alpha dS_j) for rejected responses [U]).
- gamma: a margin on the positives [U]; with one positive, one negative and alpha = 0 this is
  SimPO (length_normalised) or, with gamma = 0, DPO (log_ratio).

rbar is the mean reward over the valid responses of the group the loss sees (the k selected
responses, not the N-response pool, which the loss never sees).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar

from torch import Tensor

from training.losses.config import LossConfig
from training.losses.inputs import Group, finish, prepare_inputs
from training.losses.reductions import masked_mean, neg_log_share, preference_metrics


class Score(str, Enum):
    LENGTH_NORMALISED = "length_normalised"  # beta / |y| log pi(y|x)
    LOG_RATIO = "log_ratio"  # beta log pi(y|x) / pi_ref(y|x)


class Positives(str, Enum):
    GIVEN = "given"  # the `positive` input
    MEAN_SPLIT = "mean_split"  # {i : r_i > rbar}


class RewardWeighting(str, Enum):
    ADDITIVE = "additive"  # log w_i = alpha (r_i - rbar)
    DEVIATION = "deviation"  # log w_i = +-alpha (r_i - rbar), + on P, - off P


@dataclass(frozen=True)
class AMPOConfig(LossConfig):
    loss_name: ClassVar[str] = "ampo"
    beta: float = field(
        default=10.0,
        metadata={
            "help": "Score scale beta. AMPO's ablations vary it in 5-10 [S]; default 10 [U, "
            "SimPO's Llama-3-8B-Instruct v0.2 recipe]."
        },
    )
    gamma: float = field(
        default=3.0,
        metadata={
            "help": "Margin gamma subtracted from each positive's score. AMPO's ablations vary it "
            "in 1-3 [S]; default 3 [U, = beta x 0.3 of SimPO's v0.2 recipe]."
        },
    )
    alpha: float = field(
        default=0.0,
        metadata={
            "help": "Reward-weighting strength alpha (see `weighting`); 0 switches the weighting "
            "off. No value is reported [U]; note it acts on the reward model's scale."
        },
    )
    score: Score = field(
        default=Score.LENGTH_NORMALISED,
        metadata={
            "help": "'length_normalised' (beta/|y| log pi, reference-free, REFA-style; the "
            "default) or 'log_ratio' (beta log pi/pi_ref, needs a reference model)."
        },
    )
    positives: Positives = field(
        default=Positives.GIVEN,
        metadata={
            "help": "'given' (the positive input: AMPO's single best response) or 'mean_split' "
            "(SWEPO: rewards above the group mean; rows whose rewards are all equal keep the given "
            "positive)."
        },
    )
    weighting: RewardWeighting = field(
        default=RewardWeighting.ADDITIVE,
        metadata={
            "help": "'additive' (AMPO: s_i + alpha (r_i - rbar)) or 'deviation' (SWEPO: weights "
            "exp(alpha dS) on positives, exp(-alpha dS) on negatives)."
        },
    )

    def __post_init__(self) -> None:
        self._require_positive("beta")
        self._require_nonnegative("gamma", "alpha")
        self._require_choice("score", Score)
        self._require_choice("positives", Positives)
        self._require_choice("weighting", RewardWeighting)

    @property
    def uses_reference(self) -> bool:
        return self.score is Score.LOG_RATIO

    @property
    def uses_lengths(self) -> bool:
        return self.score is Score.LENGTH_NORMALISED

    @property
    def uses_rewards(self) -> bool:
        return self.alpha != 0 or self.positives is Positives.MEAN_SPLIT


@dataclass(frozen=True)
class SWEPOConfig(AMPOConfig):
    """SWEPO/MPO (Gupta et al. 2024, arXiv 2412.04628) as a preset of the same loss."""

    loss_name: ClassVar[str] = "swepo"
    beta: float = field(
        default=0.1,
        metadata={
            "help": "KL strength beta of s = beta log pi/pi_ref [U: the DPO convention, 0.1]."
        },
    )
    gamma: float = field(
        default=0.0, metadata={"help": "Margin on the positives; SWEPO has none (0)."}
    )
    alpha: float = field(
        default=1.0,
        metadata={
            "help": "Deviation-weighting strength alpha of exp(+-alpha dS) [U: no value in "
            "PAPER.md; it acts on the reward model's scale]."
        },
    )
    score: Score = field(
        default=Score.LOG_RATIO,
        metadata={"help": "SWEPO scores responses by beta log pi/pi_ref [U]."},
    )
    positives: Positives = field(
        default=Positives.MEAN_SPLIT, metadata={"help": "SWEPO's mean split [C]."}
    )
    weighting: RewardWeighting = field(
        default=RewardWeighting.DEVIATION,
        metadata={"help": "SWEPO's deviation weights [U for the negatives' sign]."},
    )


def mean_split(rewards: Tensor, mask: Tensor, positive: Tensor) -> Tensor:
    """SWEPO/MPO's accepted set {i valid : r_i > rbar}, rbar the mean over valid responses.

    rewards, mask, positive: (B, k). Returns (B, k) bool. A row where the split leaves either
    side empty (all rewards equal, up to rounding of the mean) keeps `positive`.
    """
    rbar = masked_mean(rewards, mask)[:, None]  # (B, 1)
    accepted = mask & (rewards > rbar)  # (B, k)
    rejected = mask & ~accepted
    degenerate = ~accepted.any(-1, keepdim=True) | ~rejected.any(-1, keepdim=True)
    return (accepted & ~degenerate) | (positive & degenerate)


def group_contrastive_nll(z: Tensor, positive: Tensor, mask: Tensor) -> Tensor:
    """-log( sum_P exp(z) / sum_V exp(z) ) = softplus(logsumexp_{V \\ P} z - logsumexp_P z).

    (B, k) -> (B,); the softplus form keeps float32's relative accuracy on small losses.
    """
    return neg_log_share(z, positive, mask & ~positive)


def _scores(g: Group, cfg: AMPOConfig) -> Tensor:
    if cfg.score is Score.LOG_RATIO:
        return cfg.beta * g.log_ratio  # (B, k)
    return cfg.beta * g.policy / g.lengths  # (B, k)


def _log_weights(g: Group, cfg: AMPOConfig) -> Tensor | float:
    if cfg.alpha == 0:
        return 0.0
    deviation = g.rewards - masked_mean(g.rewards, g.mask)[:, None]  # (B, k), dS_i
    if cfg.weighting is RewardWeighting.ADDITIVE:
        return cfg.alpha * deviation
    sign = g.positive.to(deviation.dtype) * 2 - 1  # +1 on P, -1 off P
    return cfg.alpha * sign * deviation


def ampo(policy_logps, ref_logps, lengths, rewards, mask, positive, cfg=AMPOConfig()):
    """AMPO's group-contrastive loss (arXiv 2502.18293, ICML 2025; PAPER.md section 4) and SWEPO's.

    L = -log( sum_P w_i e^{s_i - gamma} / (sum_P w_i e^{s_i - gamma} + sum_N w_j e^{s_j}) );
    the choices of s, P, w and gamma are in the module docstring and `AMPOConfig`. AMPO's
    paper states the loss as -log(sum_{S+} e^{s_i} / sum_{S+ u S-} e^{s_i}) with
    s_i = log pi + alpha (r_i - rbar) [S]; scale beta, length normalisation and margin gamma are
    our reconstruction [U]. Returns (loss (B,), metrics) with the implicit reward s_i and
    "group/n_positive", the size of P.
    """
    g = prepare_inputs(policy_logps, ref_logps, lengths, rewards, mask, positive, cfg, AMPOConfig)
    if cfg.positives is Positives.MEAN_SPLIT:
        g = g.with_positive(mean_split(g.rewards, g.mask, g.positive))
    s = _scores(g, cfg)  # (B, k)
    z = s + _log_weights(g, cfg) - cfg.gamma * g.positive.to(s.dtype)  # (B, k)
    loss = group_contrastive_nll(z, g.positive, g.mask)  # (B,)
    n_positive = g.positive.sum(-1).to(s.dtype)
    return finish(g, loss, preference_metrics(s, g) | {"group/n_positive": n_positive})
