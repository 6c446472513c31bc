"""Hand-worked known answers, one or more per registered loss.

Each instance is picked so that the plausible one-line bugs of its formula give a different
value: beta vs 1/beta, log sigma(z) vs log sigma(-z), the margin gamma with the wrong sign or on
the negatives, length normalisation by the wrong response's length (or none), eps vs 1 - eps,
MMPO's reward margin reversed, InfoNCA's labels from -r, SWEPO's split at >= rbar or with rbar
over the wrong set, Plackett-Luce's order reversed, IPO's 1/tau vs 1/(2 tau). The comment of
each instance gives the arithmetic, then ("bugs:") what the main wrong variants give.
"""

import math
from dataclasses import dataclass

import pytest
import torch
from loss_cases import Batch

from training.losses import LOSSES, get_loss

LN2, LN3 = math.log(2.0), math.log(3.0)


def _group(policy, ref, lengths, rewards, positive=(0,), padded=()) -> Batch:
    """One prompt in float64; `positive` and `padded` are slot indices."""
    t = lambda x: torch.tensor([x], dtype=torch.float64)  # noqa: E731
    k = len(policy)
    mask = torch.tensor([[i not in padded for i in range(k)]])
    pos = torch.tensor([[i in positive for i in range(k)]])
    return Batch(t(policy), t(ref), torch.tensor([lengths]), t(rewards), mask, pos)


def entropy(*p: float) -> float:
    return -sum(x * math.log(x) for x in p)


def cross_entropy(target: tuple[float, ...], model: tuple[float, ...]) -> float:
    return -sum(t * math.log(m) for t, m in zip(target, model, strict=True))


@dataclass(frozen=True)
class Known:
    label: str
    name: str  # registry key
    overrides: dict
    batch: Batch
    expected: float


KNOWN = [
    # rho = (-1 + 2, -3 + 1) = (1, -2), h = 3, beta h = 1.5: -log sigma(1.5) = log(1 + e^-1.5)
    # = 0.2014. bugs: 1/beta -> log(1 + e^-6); no beta -> log(1 + e^-3); sigma(-z) ->
    # log(1 + e^1.5); no reference (h = 2) -> log(1 + e^-1); rho / |y| (h = 1) -> log(1 + e^-.5)
    Known(
        "dpo",
        "dpo",
        {"beta": 0.5},
        _group((-1.0, -3.0), (-2.0, -1.0), (2, 4), (1.0, 0.0)),
        math.log1p(math.exp(-1.5)),
    ),
    # rho = (-1 + 3, -5 + 2) = (2, -3), h = 5, 1/(2 tau) = 2: (5 - 2)^2 = 9.
    # bugs: 1/tau -> (5 - 4)^2 = 1; 2 tau -> (5 - 0.5)^2 = 20.25; h reversed -> (-5 - 2)^2 = 49;
    # no reference (h = 4) -> 4; rho / |y| (h = 1 + 1) -> 0
    Known(
        "ipo",
        "ipo",
        {"tau": 0.25},
        _group((-1.0, -5.0), (-3.0, -2.0), (2, 3), (1.0, 0.0)),
        9.0,
    ),
    # same rho, per token: v = (2/2, -3/3) = (1, -1), h = 2, tau = 0.5, 1/(2 tau) = 1:
    # (2 - 1)^2 = 1. bugs: no normalisation (h = 5) -> 16; lengths swapped (h = 2/3 + 3/2 =
    # 13/6) -> (7/6)^2; both by |y_w| (h = 1 + 3/2) -> 2.25; 1/tau -> 0; h reversed -> 9
    Known(
        "ipo-length-normalised",
        "ipo",
        {"tau": 0.5, "length_normalised": True},
        _group((-1.0, -5.0), (-3.0, -2.0), (2, 3), (1.0, 0.0)),
        1.0,
    ),
    # rho = (2 ln 3, 0), beta h = ln 3, sigma(ln 3) = 3/4 = 1 - eps: the cross-entropy is the
    # entropy H(3/4, 1/4) = 0.5623. bugs: eps <-> 1 - eps, or sigma(z) <-> sigma(-z) ->
    # -1/4 log 3/4 - 3/4 log 1/4 = 1.1116; 1/beta (sigma = 81/82) -> 1.1109; no beta
    # (sigma = 9/10) -> 0.6547; no smoothing -> -log 3/4 = 0.2877; no reference -> other
    Known(
        "cdpo",
        "cdpo",
        {"beta": 0.5, "label_smoothing": 0.25},
        _group((2 * LN3 + 1.0, 3.0), (1.0, 3.0), (2, 4), (1.0, 0.0)),
        entropy(0.75, 0.25),
    ),
    # target p = sigma(gamma_bt (r_w - r_l)) = sigma(2 * ln 3 / 2) = 3/4; model sigma(beta h) =
    # sigma(0.5 * 2 ln 3) = 3/4: H(3/4, 1/4) = 0.5623. bugs: margin reversed (p = 1/4), or p and
    # 1 - p swapped -> 1.1116; 1/gamma_bt (p = sigma(ln 3 / 4)) -> 0.7621; no gamma_bt
    # (p = sigma(ln 3 / 2)) -> 0.6898; 1/beta -> 1.1109
    Known(
        "mmpo",
        "mmpo",
        {"beta": 0.5, "gamma_bt": 2.0},
        _group((2 * LN3 + 1.0, 3.0), (1.0, 3.0), (2, 4), (LN3 / 2 + 1.0, 1.0)),
        entropy(0.75, 0.25),
    ),
    # u = beta log pi / |y| = (2 * -4/2, 2 * -9/3) = (-4, -6), gamma = 2 * 0.5 = 1:
    # -log sigma(-4 + 6 - 1) = log(1 + e^-1) = 0.3133. bugs: +gamma, or gamma on the loser ->
    # log(1 + e^-3); no gamma -> log(1 + e^-2); gamma = ratio -> log(1 + e^-1.5); 1/beta ->
    # log(1 + e^.5); lengths swapped (u = (-8/3, -9)) -> log(1 + e^(-16/3)); sigma(-z) ->
    # log(1 + e); the reference (ignored) is not zero
    Known(
        "simpo",
        "simpo",
        {"beta": 2.0, "gamma_beta_ratio": 0.5},
        _group((-4.0, -9.0), (-1.0, -1.0), (2, 3), (1.0, 0.0)),
        math.log1p(math.exp(-1.0)),
    ),
    # s = beta log pi / |y| = 2 * (-2/2, -6/3, -3/1) = (-2, -4, -6); z = s - gamma [pos] =
    # (-3, -4, -6): -log(e^-3 / (e^-3 + e^-4 + e^-6)) = log(1 + e^-1 + e^-3) = 0.3490.
    # bugs: +gamma, or gamma on the negatives -> log(1 + e^-3 + e^-5); no gamma ->
    # log(1 + e^-2 + e^-4); 1/beta -> log(2 + e^.5); no normalisation -> log(1 + e^-1 + e^-7);
    # softplus(lse_P - lse_N) -> log(1 + 1 / (e^-1 + e^-3)) = 1.2221
    Known(
        "ampo",
        "ampo",
        {"beta": 2.0, "gamma": 1.0},
        _group((-2.0, -6.0, -3.0), (-1.0, -1.0, -1.0), (2, 3, 1), (1.0, 0.0, 0.5)),
        math.log(1 + math.exp(-1.0) + math.exp(-3.0)),
    ),
    # s = beta rho = 2 * (0.25, 0, 0) = (0.5, 0, 0); rbar = 0, alpha (r - rbar) = (ln 2, 0,
    # -ln 2); z = (0.5 + ln 2 - 0.5, 0, -ln 2): e^z = (2, 1, 1/2): -log(2 / 3.5) = log 1.75.
    # bugs: no alpha -> log 3; -alpha -> log 7; no gamma -> 0.3749; deviation weights -> log 2.5;
    # 1/beta -> 0.7378
    Known(
        "ampo-additive-weights",
        "ampo",
        {"beta": 2.0, "gamma": 0.5, "alpha": LN2, "score": "log_ratio"},
        _group((-2.75, -2.0, -1.0), (-3.0, -2.0, -1.0), (1, 1, 1), (1.0, 0.0, -1.0)),
        math.log(1.75),
    ),
    # valid rewards (2, 1, 0), rbar = 1, split P = {r > 1} = {0} (the given positive, slot 2, is
    # only the fallback); dS = (1, 0, -1), w = (e^{alpha}, e^{-0}, e^{+alpha}) = (2, 1, 2);
    # e^s = e^{0.5 rho} = (1, 2, 1); w e^s = (2, 2, 2): -log(2 / 6) = log 3.
    # bugs: split at >=, or rbar over the given positive (P = {0, 1}) -> log 1.5; rbar over the
    # padded slot too (rbar = 3/4) -> 0.3027; negatives weighted e^{+alpha dS} -> log 2.25; the
    # given positive (P = {2}) -> log 6; no alpha -> log 4; 1/beta -> log 10
    Known(
        "swepo",
        "swepo",
        {"alpha": LN2, "beta": 0.5},
        _group(
            (0.0, 2 * LN2, 0.0, 7.0),
            (0.0, 0.0, 0.0, -7.0),
            (1, 1, 1, 1),
            (2.0, 1.0, 0.0, 5.0),
            positive=(2,),
            padded=(3,),
        ),
        LN3,
    ),
    # labels softmax(r / T) = softmax((ln 4, ln 2, 0)) = (4, 2, 1) / 7; model softmax(beta rho) =
    # softmax((ln 4, ln 2, 0)) = the same: H(q) = ln 7 - (10/7) ln 2 = 0.9557.
    # bugs: labels from -r, or softmax(-u) -> ln 7 - (4/7) ln 2 = 1.5499; r * T, 1/beta, or the
    # padded slot in the softmax -> other values
    Known(
        "infonca",
        "infonca",
        {"beta": 0.5, "temperature": 0.5},
        _group(
            (4 * LN2, 2 * LN2, 0.0, 3.0),
            (0.0, 0.0, 0.0, 1.0),
            (1, 1, 1, 1),
            (LN2, LN2 / 2, 0.0, 9.0),
            padded=(3,),
        ),
        entropy(4 / 7, 2 / 7, 1 / 7),
    ),
    # two positives, one-hot labels spread uniformly: q = (1/2, 1/2, 0); u = 0.5 * (2 ln 2, 0, 0)
    # = (ln 2, 0, 0), softmax = (2, 1, 1) / 4: -1/2 log 1/2 - 1/2 log 1/4 = (3/2) ln 2.
    # bugs: labels not normalised -> 3 ln 2; softmax(-u) -> 1.2629; 1/beta -> 1.5041
    Known(
        "infonca-one-hot",
        "infonca",
        {"beta": 0.5, "temperature": 0.0},
        _group((2 * LN2, 0.0, 0.0), (0.0, 0.0, 0.0), (1, 1, 1), (0.0, 1.0, 2.0), positive=(0, 1)),
        cross_entropy((0.5, 0.5, 0.0), (0.5, 0.25, 0.25)),
    ),
    # ranking: the positive (slot 0, reward 1) first, then the negatives by decreasing reward:
    # slot 1 (r = 3), slot 2 (r = 2). u = 0.5 rho = (ln 3, ln 2, 0) in that order:
    # [log(3 + 2 + 1) - ln 3] + [log(2 + 1) - ln 2] = log 2 + log 1.5 = log 3.
    # bugs: negatives by increasing reward -> log 6; by reward alone (positive last) -> log 12;
    # sum over s > t -> -ln 2; mean over positions -> (log 3) / 2; 1/beta -> 0.2512; the padded
    # slot (reward 10) ranked -> other
    Known(
        "plackett_luce",
        "plackett_luce",
        {"beta": 0.5},
        _group(
            (2 * LN3, 2 * LN2, 0.0, 4.0),
            (0.0, 0.0, 0.0, 0.0),
            (1, 1, 1, 1),
            (1.0, 3.0, 2.0, 10.0),
            padded=(3,),
        ),
        LN3,
    ),
]


def test_known_answers_cover_every_loss():
    """Property: every registered loss has a hand-worked known answer below.
    Guards against a loss whose formula is only ever compared with itself."""
    assert {k.name for k in KNOWN} == set(LOSSES)


@pytest.mark.parametrize("known", KNOWN, ids=[k.label for k in KNOWN])
def test_known_answer(known):
    """Property: the loss of a hand-worked group equals the arithmetic in the comment, in
    float64 and (to float32 accuracy) in float32. Guards against a formula that is
    self-consistent but not the paper's, and against the one-line bugs listed there."""
    entry = get_loss(known.name)
    cfg = entry.config(**known.overrides)
    loss = entry(*known.batch.args(), cfg)[0]
    assert loss.item() == pytest.approx(known.expected, rel=1e-12)
    loss32 = entry(*known.batch.to(torch.float32).args(), cfg)[0]
    assert loss32.item() == pytest.approx(known.expected, rel=1e-5)
