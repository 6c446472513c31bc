"""Equivalence classes of trainer configurations: the same loss and grad-norm trajectory.

Each class holds configurations that compute the same optimizer steps by another route: the
global batch of 8 groups as 8 x 1, 1 x 8 or 2 x 4 (batch_size x grad_accum); the output head in
chunks of 1 row or all at once; gradient checkpointing on or off; the padded or the
prefix-shared layout. Every member is compared with the base (8 x 1, padded, one chunk) on every
logged step's `loss` and pre-clip `grad_norm`, and on the final weights. The losses: AMPO on
groups of k = 4 with every third group of k = 3 (ragged: masked slots, a mean reward over 3 or
4), and DPO on pairs (k = 2, reference log-probs from a perturbed model).

Precision fp64, so that only the order of operations differs between members:
- batch split, chunking, checkpointing: every response row goes through the same float64
  arithmetic; only sums over rows and micro-batches are grouped differently. Measured over 30
  steps: loss and grad norm <= 1.5e-15 relative, weights <= 2e-15 (checkpointing: 0.0).
  Asserted: 1e-10 relative and 1e-10 absolute. (transformers' LlamaRMSNorm rounds its input
  to float32 whatever the model's dtype, so a float64 difference could flip a float32 rounding;
  1e-10 leaves room for a few flips and still fails on any change of the arithmetic: the same
  members in fp32 differ by ~1e-6.)
- layouts: prefix sharing computes a response's rows in another tensor shape, so float64
  differences reach the float32 RMSNorm roundings on every step. Measured over 30 steps: loss
  <= 4.4e-8, grad norm <= 1.6e-6 relative (AMPO at step 21, its loss down to 0.02: a small
  gradient made of nearly cancelling terms), weights <= 2.3e-7 absolute. Asserted: 1e-5
  relative and 1e-5 absolute; a layout bug (a response attending to a sibling, a shifted
  position id) moves the first step's loss by more than 1e-3.
Breaking the normalisation (dividing a micro-batch's loss by batch_size, not batch_size x
grad_accum) moves the grad norm of 1 x 8 by a factor 8; taking the data order from the global
RNG changes which groups a step sees: both fail here by orders of magnitude.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from trainer_files import (
    checkpoint_weights,
    make_groups,
    run_trainer,
    trajectory,
    write_groups,
    write_recipe,
)

SAME_ARITHMETIC_RTOL, SAME_ARITHMETIC_WEIGHTS_ATOL = 1e-10, 1e-10
LAYOUT_RTOL, LAYOUT_WEIGHTS_ATOL = 1e-5, 1e-5
FAST_STEPS, SLOW_STEPS = 4, 30

LOSSES = {  # name -> (train fields, responses per group cycled over the 16 groups)
    "ampo": (dict(loss="ampo", loss_options=dict(beta=2.0, gamma=0.5, alpha=0.5)), (4, 4, 3)),
    "dpo": (dict(loss="dpo", loss_options=dict(beta=0.1)), (2,)),
}
BASE = dict(batch_size=8, grad_accum=1, layout="padded", logprob_chunk=4096)
# member -> (fields changed from BASE, tolerance class)
MEMBERS = {
    "1x8": (dict(batch_size=1, grad_accum=8), "same"),
    "2x4": (dict(batch_size=2, grad_accum=4), "same"),
    "chunk1": (dict(logprob_chunk=1), "same"),
    "checkpointing": (dict(gradient_checkpointing=True), "same"),
    "prefix_shared": (dict(layout="prefix_shared"), "layout"),
    "2x4-prefix_shared-chunk1": (
        dict(batch_size=2, grad_accum=4, layout="prefix_shared", logprob_chunk=1),
        "layout",
    ),
}
TOLERANCES = {
    "same": (SAME_ARITHMETIC_RTOL, SAME_ARITHMETIC_WEIGHTS_ATOL),
    "layout": (LAYOUT_RTOL, LAYOUT_WEIGHTS_ATOL),
}


@dataclass(frozen=True)
class Run:
    loss: list[float]
    grad_norm: list[float]
    final: Path  # the final checkpoint folder


@pytest.fixture(scope="module")
def runs(tiny_model_dir, tiny_ref_model_dir, tmp_path_factory):
    """run(loss, steps, member) -> Run, each configuration trained once per module."""
    root = tmp_path_factory.mktemp("invariants")
    groups = {
        name: write_groups(root / f"{name}.jsonl", make_groups(16, ks, seed=1), tiny_ref_model_dir)
        for name, (_, ks) in LOSSES.items()
    }
    cache: dict[tuple, Run] = {}

    def run(loss: str, steps: int, member: str = "base") -> Run:
        key = (loss, steps, member)
        if key not in cache:
            changes = {} if member == "base" else MEMBERS[member][0]
            train = LOSSES[loss][0] | BASE | changes | dict(precision="fp64", lr=1e-3)
            name = f"{loss}-{steps}-{member}"
            recipe = write_recipe(
                root / f"{name}.yaml",
                tiny_model_dir,
                train | dict(max_steps=steps),
                tiny_ref_model_dir,
            )
            out = root / name
            final = run_trainer(recipe, groups[loss], out)
            cache[key] = Run(trajectory(out, "loss"), trajectory(out, "grad_norm"), final)
        return cache[key]

    return run


def assert_same_run(base: Run, other: Run, member: str, steps: int) -> None:
    rtol, atol = TOLERANCES[MEMBERS[member][1]]
    assert len(base.loss) == len(other.loss) == steps
    np.testing.assert_allclose(other.loss, base.loss, rtol=rtol, atol=0, err_msg=member)
    np.testing.assert_allclose(other.grad_norm, base.grad_norm, rtol=rtol, atol=0, err_msg=member)
    wa, wb = checkpoint_weights(base.final), checkpoint_weights(other.final)
    assert wa.keys() == wb.keys()
    worst = max(float((wa[k] - wb[k]).abs().max()) for k in wa)
    assert worst <= atol, f"{member}: final weights differ by {worst:.3g} > {atol:g}"


@pytest.mark.parametrize("member", ["1x8", "2x4", "chunk1", "prefix_shared"])
def test_ampo_ragged_members_agree_fast(runs, member):
    """The cheap version: AMPO on ragged groups, 4 steps, against 8 x 1 padded."""
    assert_same_run(runs("ampo", FAST_STEPS), runs("ampo", FAST_STEPS, member), member, FAST_STEPS)


@pytest.mark.slow
@pytest.mark.parametrize("member", list(MEMBERS))
@pytest.mark.parametrize("loss", list(LOSSES))
def test_members_agree_over_30_steps(runs, loss, member):
    base = runs(loss, SLOW_STEPS)
    assert base.loss[-1] < 0.7 * base.loss[0], "the trajectory must move for the test to bite"
    assert_same_run(base, runs(loss, SLOW_STEPS, member), member, SLOW_STEPS)
