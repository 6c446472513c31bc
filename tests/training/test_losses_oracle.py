"""Naive per-prompt implementations of every loss, written from the formulas with Python
floats and loops, against the vectorised registry functions on random ragged groups."""

import math

import pytest
import torch
from hypothesis import given
from loss_cases import CASE_IDS, CASES, Batch, batches, props

from training.losses import LOSSES, Positives, RewardWeighting, Score


def lse(xs):
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


def log_sigmoid(x):
    return -lse([0.0, -x])


class Row:
    """One prompt as Python lists over its valid responses."""

    def __init__(self, batch: Batch, b: int):
        idx = torch.nonzero(batch.mask[b]).flatten().tolist()
        self.logp = [batch.policy[b, i].item() for i in idx]
        self.ref = [batch.ref[b, i].item() for i in idx]
        self.len = [float(batch.lengths[b, i]) for i in idx]
        self.r = [batch.rewards[b, i].item() for i in idx]
        self.pos = [i for i, j in enumerate(idx) if batch.positive[b, j]]
        self.neg = [i for i, j in enumerate(idx) if not batch.positive[b, j]]
        self.n = len(idx)

    def rho(self, i):
        return self.logp[i] - self.ref[i]

    def pairs(self):
        return [(i, j) for i in self.pos for j in self.neg]


def mean(xs):
    return sum(xs) / len(xs)


def naive_dpo(row, cfg):
    return mean([-log_sigmoid(cfg.beta * (row.rho(i) - row.rho(j))) for i, j in row.pairs()])


def naive_cdpo(row, cfg):
    eps = cfg.label_smoothing
    terms = []
    for i, j in row.pairs():
        z = cfg.beta * (row.rho(i) - row.rho(j))
        terms.append(-(1 - eps) * log_sigmoid(z) - eps * log_sigmoid(-z))
    return mean(terms)


def naive_ipo(row, cfg):
    def u(i):
        return row.rho(i) / row.len[i] if cfg.length_normalised else row.rho(i)

    return mean([(u(i) - u(j) - 1 / (2 * cfg.tau)) ** 2 for i, j in row.pairs()])


def naive_simpo(row, cfg):
    def u(i):
        return cfg.beta * row.logp[i] / row.len[i]

    return mean([-log_sigmoid(u(i) - u(j) - cfg.gamma) for i, j in row.pairs()])


def naive_mmpo(row, cfg):
    terms = []
    for i, j in row.pairs():
        p = (
            1.0
            if cfg.gamma_bt is None
            else 1 / (1 + math.exp(-cfg.gamma_bt * (row.r[i] - row.r[j])))
        )
        z = cfg.beta * (row.rho(i) - row.rho(j))
        terms.append(-p * log_sigmoid(z) - (1 - p) * log_sigmoid(-z))
    return mean(terms)


def naive_infonca(row, cfg):
    u = [cfg.beta * row.rho(i) for i in range(row.n)]
    if cfg.temperature == 0:
        q = [1 / len(row.pos) if i in row.pos else 0.0 for i in range(row.n)]
    else:
        z = lse([r / cfg.temperature for r in row.r])
        q = [math.exp(r / cfg.temperature - z) for r in row.r]
    norm = lse(u)
    return -sum(q[i] * (u[i] - norm) for i in range(row.n))


def naive_plackett_luce(row, cfg):
    u = [cfg.beta * row.rho(i) for i in range(row.n)]
    order = sorted(row.pos, key=lambda i: (-row.r[i], i)) + sorted(
        row.neg, key=lambda i: (-row.r[i], i)
    )
    return sum(lse([u[s] for s in order[t:]]) - u[order[t]] for t in range(row.n - 1))


def naive_group(row, cfg):
    rbar = mean(row.r)
    pos = row.pos
    if cfg.positives is Positives.MEAN_SPLIT:
        above = [i for i in range(row.n) if row.r[i] > rbar]
        pos = above if 0 < len(above) < row.n else row.pos
    z = []
    for i in range(row.n):
        if cfg.score is Score.LOG_RATIO:
            s = cfg.beta * row.rho(i)
        else:
            s = cfg.beta * row.logp[i] / row.len[i]
        dev = row.r[i] - rbar
        if cfg.weighting is RewardWeighting.ADDITIVE or i in pos:
            s += cfg.alpha * dev
        else:
            s -= cfg.alpha * dev
        z.append(s - cfg.gamma if i in pos else s)
    # -log( sum_P e^z / sum_all e^z )
    return lse(z) - lse([z[i] for i in pos])


ORACLES = {
    "ampo": naive_group,
    "swepo": naive_group,
    "dpo": naive_dpo,
    "cdpo": naive_cdpo,
    "ipo": naive_ipo,
    "simpo": naive_simpo,
    "mmpo": naive_mmpo,
    "infonca": naive_infonca,
    "plackett_luce": naive_plackett_luce,
}


def test_every_loss_has_an_oracle():
    """Property: each registry key has a naive implementation here.
    Guards against a new loss that only its own vectorised code has ever computed."""
    assert set(ORACLES) == set(LOSSES)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@given(batch=batches(max_b=4, max_k=7, multi_positive=True))
@props(30)
def test_vectorised_loss_matches_the_naive_loop(case, batch):
    """Property: on random ragged groups (padding, empty rows, several positives) the vectorised
    loss of each row equals a per-prompt Python loop over the formula. Guards against
    broadcasting mistakes, masks applied on the wrong axis and rows leaking into each other."""
    loss = case(batch)[0]
    for b in range(batch.mask.shape[0]):
        expected = ORACLES[case.name](Row(batch, b), case.cfg) if batch.mask[b].any() else 0.0
        assert loss[b].item() == pytest.approx(expected, rel=1e-9, abs=1e-9)
