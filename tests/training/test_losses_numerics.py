"""Numerics of every loss: finite-difference gradients, padding, float32 extremes."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from loss_cases import CASE_IDS, CASES, batches, props


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@given(batch=batches(max_b=2, max_k=4, multi_positive=True))
@props(6)
def test_gradcheck_float64(case, batch):
    """Property: autograd's gradient w.r.t. the policy (and reference) log-probs matches central
    finite differences in float64. Guards against a hand-written backward, a detach in the
    wrong place, or a gather/sort that breaks the gradient path."""
    inputs = [batch.policy.clone().requires_grad_()]
    if case.cfg.uses_reference:
        inputs.append(batch.ref.clone().requires_grad_())

    def f(policy, ref=batch.ref):
        return case(batch, policy=policy, ref=ref)[0]

    assert torch.autograd.gradcheck(f, tuple(inputs), eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.filterwarnings("ignore:Anomaly Detection has been enabled")
@given(batch=batches(multi_positive=True))
@props(15)
def test_padding_gets_exactly_zero_gradient_and_cannot_leak(case, batch):
    """Property: garbage in padded slots (NaN / inf log-probs and rewards, zero lengths) changes
    nothing: the loss equals the loss on the same values with clean padding and the loss of each
    row computed alone on its valid slots; padded slots and empty rows get exactly zero
    gradient, and no step of the backward pass computes a NaN (autograd's anomaly mode, which a
    trainer may switch on, would stop there). Guards against the torch.where-NaN-gradient trap,
    a log-sum-exp over an empty set (-inf, whose gradient is NaN before masking) and padding
    counted as negatives."""
    pad = ~batch.mask
    dirty = batch.with_(
        policy=batch.policy.masked_fill(pad, math.nan),
        ref=batch.ref.masked_fill(pad, -math.inf),
        rewards=batch.rewards.masked_fill(pad, math.inf),
        lengths=batch.lengths.masked_fill(pad, 0),
    )
    policy = dirty.policy.clone().requires_grad_()
    ref = dirty.ref.clone().requires_grad_()
    with torch.autograd.detect_anomaly(check_nan=True):  # no NaN anywhere in the backward pass
        loss = case(dirty, policy=policy, ref=ref)[0]
        loss.sum().backward()
    torch.testing.assert_close(loss, case(batch)[0], rtol=0, atol=0)
    grads = (policy.grad, ref.grad) if case.cfg.uses_reference else (policy.grad,)
    assert case.cfg.uses_reference or ref.grad is None
    for grad in grads:
        assert grad.isfinite().all() and (grad[pad] == 0).all()
    for b in range(batch.mask.shape[0]):
        if batch.mask[b].any():
            alone = case(batch.row(b))[0]
            torch.testing.assert_close(loss[b : b + 1], alone, rtol=1e-12, atol=1e-12)
        else:
            assert loss[b] == 0


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@given(batch=batches(multi_positive=True), data=st.data())
@props(15)
def test_float32_survives_log_ratio_gaps_of_1e4(case, batch, data):
    """Property: with log-prob differences of +-1e4 in float32 the loss and its gradient are
    finite and agree with float64 on the same (float32-rounded) inputs to float32 accuracy:
    scores of size beta * 1e4 carry an absolute rounding error of about beta * 1e-3, hence the
    absolute tolerance. Guards against log(sigmoid(x)) or log(sum(exp(x))) written naively,
    which overflow to inf or underflow to log(0)."""
    n = batch.mask.numel()
    signs = data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n))
    jump = 1e4 * torch.tensor(signs, dtype=torch.float64).reshape(batch.mask.shape)
    narrow = batch.with_(policy=batch.ref + jump).to(torch.float32)
    expected = case(narrow.to(torch.float64))[0]
    policy = narrow.policy.clone().requires_grad_()
    loss = case(narrow, policy=policy)[0]
    loss.sum().backward()
    assert loss.isfinite().all() and policy.grad.isfinite().all()
    torch.testing.assert_close(loss.double(), expected, rtol=1e-4, atol=2e-2)
