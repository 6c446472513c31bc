"""Grouped inputs whose exact losses span many decades, for the floating-point accuracy tests.

A loss is small when the positives' implicit rewards u_i (beta log pi/pi_ref, beta/|y| log pi,
or IPO's log-ratio) stand far above the negatives', and large when they stand far below. So the
inputs are built from the implicit rewards: a margin delta, drawn uniformly over a wide range,
separates the two sides, and the log-probs are solved for from the u_i the loss should see.
With delta up to 48 the losses of DPO-type losses reach e^-48 ~ 1e-21; down to -40 they reach
~40 (Plackett-Luce, a sum of such terms, reaches ~1e2). IPO, (h - 1/(2 tau))^2, is smallest at
h = 1/(2 tau), so its margin is drawn about that point instead (losses from ~1e-10 to ~3e3).

Implicit rewards stay below ~30 in size (the margin split about a common level in [-5, 5]): a
float32 value of size 30 carries a rounding error of 30 * 2^-24 ~ 2e-6, and every exponent the
loss evaluates is a difference of such values, so that rounding, not the formula, bounds the
attainable relative accuracy of a small loss (about |exponent| * 2^-24 per rounded operand).
"""

from __future__ import annotations

import math

import torch
from loss_cases import Batch, Case

# the implicit reward's scale: u = scale * log-ratio (or scale * log pi / |y|); IPO's is 1
_SCALE = {"ipo": lambda cfg: 1.0}


def _scale(case: Case) -> float:
    return _SCALE.get(case.name, lambda cfg: cfg.beta)(case.cfg)


def _uniform(gen: torch.Generator, lo: float, hi: float, n: int = 1) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)


def _spread_margin(cfg, gen: torch.Generator, max_margin: float) -> float:
    """Uniform in [-0.85 max_margin, max_margin]: e^-delta from ~1 down to e^-max_margin."""
    return float(_uniform(gen, -0.85, 1.0)) * max_margin


def _ipo_margin(cfg, gen: torch.Generator, max_margin: float) -> float:
    """1/(2 tau) +- 10^U(-5, log10 max_margin): (h - 1/(2 tau))^2 from ~1e-10 up."""
    sign = 1 if float(_uniform(gen, 0.0, 1.0)) < 0.5 else -1
    size = 10 ** float(_uniform(gen, -5.0, math.log10(max_margin)))
    return 1 / (2 * cfg.tau) + sign * size


# where each loss is small: IPO at h = 1/(2 tau), the others as the margin grows
_MARGIN = {"ipo": _ipo_margin}


def wide_batch(
    case: Case,
    seed: int,
    dtype: torch.dtype = torch.float32,
    max_margin: float = 48.0,
    margin: float | None = None,
) -> Batch:
    """Two prompts (the second sometimes batch padding) of k in 2..6 responses with a drawn
    ragged mask, one or several positives, rewards that favour the positives by a drawn amount
    (log-uniform in 0.1..40, reversed one time in ten), and implicit rewards separated by
    `margin` (default: drawn uniformly in [-0.85 max_margin, max_margin]).

    Half the rows split the implicit rewards in two blocks (positives delta above the
    negatives); the other half space them evenly along the ranking (positives, then negatives,
    each by decreasing reward), which is what makes a Plackett-Luce loss small. Inputs are
    rounded to `dtype`; lengths are integers in 1..300.
    """
    gen = torch.Generator().manual_seed(seed)
    randint = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=gen))  # noqa: E731
    B, k = 2, randint(2, 6)
    lengths = torch.randint(1, 301, (B, k), generator=gen)
    ref = -lengths * _uniform(gen, 0.3, 2.0, B * k).reshape(B, k)
    u = torch.zeros(B, k, dtype=torch.float64)
    rewards = torch.zeros(B, k, dtype=torch.float64)
    mask = torch.zeros(B, k, dtype=torch.bool)
    positive = torch.zeros(B, k, dtype=torch.bool)
    for b in range(B):
        n = 0 if b > 0 and randint(0, 3) == 0 else randint(2, k)
        if n == 0:
            continue
        slots = torch.randperm(k, generator=gen)[:n]
        n_pos = 1 if randint(0, 1) else randint(1, n - 1)
        mask[b, slots] = True
        positive[b, slots[:n_pos]] = True
        lead = 10 ** float(_uniform(gen, -1.0, 1.6)) * (-1 if randint(0, 9) == 0 else 1)
        r = _uniform(gen, -1.0, 1.0, n) + lead * (torch.arange(n) < n_pos)
        rewards[b, slots] = r + float(_uniform(gen, -5.0, 5.0))
        draw_margin = _MARGIN.get(case.name, _spread_margin)
        delta = margin if margin is not None else draw_margin(case.cfg, gen, max_margin)
        if randint(0, 1):  # two blocks: positives at +delta/2, negatives at -delta/2
            level = torch.where(torch.arange(n) < n_pos, 0.5, -0.5)
        else:  # evenly spaced along the ranking, from +delta/2 down to -delta/2
            rank = sorted(range(n), key=lambda i: (i >= n_pos, -float(r[i])))
            level = torch.empty(n, dtype=torch.float64)
            level[rank] = 0.5 - torch.arange(n, dtype=torch.float64) / (n - 1)
        noise = _uniform(gen, -1.0, 1.0, n) * 10 ** float(_uniform(gen, -8.0, 0.0))
        u[b, slots] = float(_uniform(gen, -5.0, 5.0)) + noise + delta * level
    # solve for the log-probs that give u: u = scale * (policy - ref) [/ |y|], or
    # u = scale * policy / |y| for reference-free losses
    per_token = lengths if case.cfg.uses_lengths else torch.ones_like(lengths)
    move = u * per_token / _scale(case)
    policy = ref + move if case.cfg.uses_reference else move
    policy = policy.masked_fill(~mask, 0.0)
    return Batch(policy, ref, lengths, rewards, mask, positive).to(dtype)
