"""Relative accuracy of every loss, float32 and float64, against its arbitrary-precision oracle
over losses from ~1e-21 to ~1e3 (float64: down to ~1e-300).

The inputs (`wide_inputs.wide_batch`) are rounded to the compute dtype first and the oracle
(`loss_oracles`, mpmath) sees the same rounded values, so what is measured is the error of the
computation, not of the inputs. That computation still rounds its intermediate values: an
implicit reward of size |u| carries an error of about |u| * u_dtype (u_dtype = 2^-24 in
float32, 2^-53 in float64), and a small loss ~e^-margin inherits the absolute error of its
exponent as a relative error. With implicit rewards below ~30 (float32) or ~350 (float64) a
few such roundings stay below the tolerances 1e-5 and 1e-12; larger rewards would need looser
ones whatever the formula.

IPO, (h - 1/(2 tau))^2, is ill-conditioned at its minimum: h itself is computed with an
absolute error of about u_dtype (|v_w| + |v_l| + 1/(2 tau)) (v the log-ratios, or log-ratios
per token), so no formula keeps the relative accuracy of the loss as h -> 1/(2 tau). Its bound
adds the conditioning term 2 kappa + kappa^2 with kappa = 4 u_dtype (|v_w| + |v_l| +
1/(2 tau)) / |h - 1/(2 tau)|, the worst pair of the group counting (the loss is a mean of
nonnegative terms, whose relative error is at most the worst term's).

Losses with a soft target (cDPO, MMPO, InfoNCA with temperature > 0) are bounded below by the
target's entropy; the inputs reach down to it (MMPO and InfoNCA get rewards favouring the
positives by up to 40, so their exact losses reach ~1e-17 for MMPO and ~1e-11 for InfoNCA).
"""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from loss_cases import CASE_IDS, CASES, Case, props
from loss_oracles import Row, ipo_values, oracle_loss
from wide_inputs import wide_batch

from training.losses import IPOConfig

SEEDS = st.integers(0, 2**31 - 1)
UNIT_ROUNDOFF = {torch.float32: 2.0**-24, torch.float64: 2.0**-53}


def ipo_conditioning(cfg: IPOConfig, row: Row, unit: float) -> float:
    """max over (positive, negative) pairs of 2 kappa + kappa^2 (module docstring); inf at h = c."""
    v, c = ipo_values(row, cfg), 1 / (2 * cfg.tau)
    worst = 0.0
    for i, j in row.pairs():
        gap = abs(float(v[i] - v[j]) - c)
        kappa = 4 * unit * (abs(float(v[i])) + abs(float(v[j])) + c) / gap if gap else math.inf
        worst = max(worst, 2 * kappa + kappa**2)
    return worst


def _assert_accurate(case: Case, dtype: torch.dtype, seed: int, max_margin: float, tol: float):
    batch = wide_batch(case, seed, dtype, max_margin)
    loss = case(batch)[0]
    assert loss.dtype == dtype
    for b in range(batch.mask.shape[0]):
        if not batch.mask[b].any():
            continue
        row = Row.of(batch, b)
        exact = oracle_loss(case.name, case.cfg, row, dps=50 if dtype == torch.float32 else 400)
        bound = tol
        if isinstance(case.cfg, IPOConfig):
            bound += ipo_conditioning(case.cfg, row, UNIT_ROUNDOFF[dtype])
        if math.isinf(bound):  # IPO at exactly h = 1/(2 tau): no relative error is defined
            continue
        error = abs(loss[b].item() - exact) / exact
        assert error <= bound, f"row {b}: loss {loss[b].item():.6e}, exact {float(exact):.6e}"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@given(seed=SEEDS)
@props(40)
def test_float32_loss_is_accurate_to_1e5_relative(case, seed):
    """Property: on groups whose exact losses span ~1e-21 to ~1e3, the float32 loss is within
    1e-5 relative of the oracle on the same float32 inputs (IPO: plus its conditioning term).
    Guards against a loss written as a difference of log-sum-exps (logsumexp(all) -
    logsumexp(positives), u - logsumexp(u)), which returns noise below ~1e-7, and against a
    soft target's complement computed as 1 - t (0 in float32 once t > 1 - 3e-8)."""
    _assert_accurate(case, torch.float32, seed, max_margin=48.0, tol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@given(seed=SEEDS)
@props(12)
def test_float64_loss_is_accurate_to_1e12_relative_down_to_1e300(case, seed):
    """Property: with margins up to 700 (exact losses down to ~1e-300) the float64 loss is
    within 1e-12 relative of a 400-digit oracle (IPO: plus its conditioning term). Guards
    against a small loss flushed to 0 (the difference of log-sum-exps returns exactly 0 below
    ~1e-16) and against float64 code paths that round through float32."""
    _assert_accurate(case, torch.float64, seed, max_margin=700.0, tol=1e-12)
