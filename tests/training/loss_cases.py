"""Shared material for the loss tests: a strategy building valid grouped inputs and a catalogue
of loss cases (one or more configurations per registry key, with the facts each one obeys).

The catalogue is the single place where a loss's properties are declared; `test_losses_registry`
checks that it covers every registry key, so a new loss cannot skip the property tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from torch import Tensor

from training.losses import (
    LOSSES,
    AMPOConfig,
    CDPOConfig,
    DPOConfig,
    InfoNCAConfig,
    IPOConfig,
    LossConfig,
    MMPOConfig,
    PlackettLuceConfig,
    SimPOConfig,
    SWEPOConfig,
)
from training.losses.group import Positives, mean_split


def props(max_examples: int = 25) -> settings:
    """Hypothesis settings for these tests: reproducible and without per-example deadlines."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- inputs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Batch:
    """One batch of grouped inputs in the contract's layout, all (B, k)."""

    policy: Tensor
    ref: Tensor
    lengths: Tensor
    rewards: Tensor
    mask: Tensor
    positive: Tensor

    def args(self) -> tuple:
        return (self.policy, self.ref, self.lengths, self.rewards, self.mask, self.positive)

    def with_(self, **changes) -> Batch:
        return replace(self, **changes)

    def to(self, dtype: torch.dtype) -> Batch:
        return self.with_(
            policy=self.policy.to(dtype),
            ref=self.ref.to(dtype),
            rewards=self.rewards.to(dtype),
        )

    def row(self, b: int, keep: Tensor | None = None) -> Batch:
        """Row b alone, (1, k'), keeping the slots in `keep` (default: its valid slots)."""
        idx = torch.nonzero(self.mask[b] if keep is None else keep).flatten()
        pick = lambda x: x[b, idx][None]  # noqa: E731
        return Batch(*(pick(x) for x in self.args()))


@st.composite
def batches(
    draw,
    *,
    max_b: int = 3,
    min_k: int = 2,
    max_k: int = 6,
    max_valid: int | None = None,
    multi_positive: bool = False,
    empty_rows: bool = True,
    positive_best: bool = False,
    dtype: torch.dtype = torch.float64,
) -> Batch:
    """Valid grouped inputs: ragged rows (>= 1 positive, >= 1 negative), possibly empty rows.

    Structure (sizes, which slots are valid and positive) is drawn by hypothesis; the values
    come from a generator seeded by hypothesis. Rewards are distinct within a row (so every
    ranking is well defined); `positive_best` makes the positive the highest reward, as the
    selection strategies do.
    """
    B = draw(st.integers(1, max_b))
    k = draw(st.integers(min_k, max_k))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    spread = draw(st.sampled_from([0.1, 1.0, 4.0]))  # scale of the log-prob differences

    lengths = torch.randint(1, 40, (B, k), generator=gen)
    ref = -0.8 * lengths - torch.rand(B, k, generator=gen, dtype=dtype) * 5
    policy = ref + spread * torch.randn(B, k, generator=gen, dtype=dtype)
    rewards = torch.stack([torch.randperm(k, generator=gen) for _ in range(B)]).to(dtype)
    rewards = (rewards + 0.5 * torch.rand(B, k, generator=gen, dtype=dtype)) * 0.3

    mask = torch.zeros(B, k, dtype=torch.bool)
    positive = torch.zeros(B, k, dtype=torch.bool)
    top = k if max_valid is None else min(k, max_valid)
    for b in range(B):
        sizes = [0, *range(2, top + 1)] if empty_rows and b > 0 else list(range(2, top + 1))
        n_valid = draw(st.sampled_from(sizes))
        if n_valid == 0:
            continue
        slots = torch.tensor(draw(st.permutations(range(k)))[:n_valid])
        n_pos = draw(st.integers(1, n_valid - 1)) if multi_positive else 1
        if positive_best:
            slots = slots[torch.argsort(rewards[b, slots], descending=True)]
        mask[b, slots] = True
        positive[b, slots[:n_pos]] = True
    return Batch(policy, ref, lengths, rewards, mask, positive)


def tie_batch(n_valid: list[int], k: int, dtype=torch.float64, seed: int = 0) -> Batch:
    """Rows with equal implicit rewards: policy = ref = -0.5 |y| (so every log-ratio is 0 and
    every length-normalised log-prob is exactly -0.5, a binary fraction: the ties are exact in
    floating point); one positive per row with reward 1, the other valid responses reward 0.
    Row b has n_valid[b] valid slots.
    """
    gen = torch.Generator().manual_seed(seed)
    B = len(n_valid)
    lengths = torch.randint(1, 40, (B, k), generator=gen)
    policy = -0.5 * lengths.to(dtype)
    mask = torch.zeros(B, k, dtype=torch.bool)
    positive = torch.zeros(B, k, dtype=torch.bool)
    for b, n in enumerate(n_valid):
        if n == 0:
            continue
        slots = torch.randperm(k, generator=gen)[:n]
        mask[b, slots] = True
        positive[b, slots[0]] = True
    return Batch(policy, policy.clone(), lengths, positive.to(dtype), mask, positive)


# -- the catalogue --------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """A loss under one configuration and the facts it obeys (the paper's, or ours)."""

    name: str  # registry key
    cfg: LossConfig
    label: str
    monotone: bool  # raising a positive's log-prob never raises the loss; dL/dlogp_pos <= 0
    pushes_negatives: bool  # dL/dlogp_neg >= 0 for every negative
    vanishes: bool  # loss -> 0 as the positives' log-probs -> +inf
    tie_value: Callable[[int], float]  # loss of a `tie_batch` row with n valid responses
    pairwise: bool = False  # the mean over (positive, negative) pairs of a 2-response loss

    @property
    def entry(self):
        return LOSSES[self.name]

    def __call__(self, batch: Batch, **changes):
        b = batch.with_(**changes) if changes else batch
        return self.entry(*b.args(), self.cfg)

    def positive_set(self, batch: Batch) -> Tensor:
        """The loss's own positive set (SWEPO's mean split, or the positive input)."""
        if isinstance(self.cfg, AMPOConfig) and self.cfg.positives is Positives.MEAN_SPLIT:
            return mean_split(batch.rewards, batch.mask, batch.positive) & batch.mask
        return batch.positive & batch.mask


def _group_tie(gamma: float, alpha_exponent: Callable[[int], float]):
    # one positive (reward 1) against n - 1 negatives (reward 0), all scores equal:
    # L = log(1 + (n - 1) exp(z_neg - z_pos)), z_pos = log w_pos - gamma, z_neg = log w_neg.
    return lambda n: math.log1p((n - 1) * math.exp(gamma + alpha_exponent(n)))


_ampo = AMPOConfig()
_ampo_dev = AMPOConfig(alpha=0.5, gamma=1.0, score="log_ratio", weighting="deviation")
_ampo_split = AMPOConfig(alpha=0.5, positives="mean_split")
_swepo = SWEPOConfig()
_simpo = SimPOConfig()
LOG2 = math.log(2.0)

CASES = (
    # rbar = 1/n; additive: z_pos - z_neg = alpha (1 - 1/n) - gamma + alpha / n = alpha - gamma
    Case("ampo", _ampo, "ampo", True, True, True, _group_tie(3.0, lambda n: -0.0)),
    # deviation: log w_pos = alpha (1 - 1/n), log w_neg = -alpha (0 - 1/n) = alpha / n
    Case(
        "ampo",
        _ampo_dev,
        "ampo-deviation",
        True,
        True,
        True,
        _group_tie(1.0, lambda n: 0.5 * (2 / n - 1)),
    ),
    Case("ampo", _ampo_split, "ampo-mean-split", True, True, True, _group_tie(3.0, lambda n: -0.5)),
    Case("swepo", _swepo, "swepo", True, True, True, _group_tie(0.0, lambda n: 2 / n - 1)),
    Case("dpo", DPOConfig(), "dpo", True, True, True, lambda n: LOG2, pairwise=True),
    Case("cdpo", CDPOConfig(), "cdpo", False, False, False, lambda n: LOG2, pairwise=True),
    # (h - 1/(2 tau))^2 at h = 0, tau = 0.1: (1 / 0.2)^2 = 25
    Case("ipo", IPOConfig(), "ipo", False, False, False, lambda n: 25.0, pairwise=True),
    Case(
        "ipo",
        IPOConfig(length_normalised=True),
        "ipo-length-normalised",
        False,
        False,
        False,
        lambda n: 25.0,
        pairwise=True,
    ),
    # -log sigma(0 - gamma) = log(1 + e^gamma), gamma = 2.5 * 0.55
    Case(
        "simpo",
        _simpo,
        "simpo",
        True,
        True,
        True,
        lambda n: math.log1p(math.exp(_simpo.gamma)),
        pairwise=True,
    ),
    Case("mmpo", MMPOConfig(), "mmpo", False, False, False, lambda n: LOG2, pairwise=True),
    Case(
        "mmpo",
        MMPOConfig(gamma_bt=None),
        "mmpo-hard-target",
        True,
        True,
        True,
        lambda n: LOG2,
        pairwise=True,
    ),
    # -sum_i q_i log(1/n) = log n whatever the labels q
    Case("infonca", InfoNCAConfig(), "infonca", False, False, False, math.log),
    Case("infonca", InfoNCAConfig(temperature=0.0), "infonca-one-hot", True, True, True, math.log),
    # sum_{t=1}^{n-1} log(n - t + 1) = log n!
    Case(
        "plackett_luce",
        PlackettLuceConfig(),
        "plackett_luce",
        True,
        False,
        False,
        lambda n: math.lgamma(n + 1),
    ),
)
CASE_IDS = [c.label for c in CASES]
