"""One process against two (gloo on CPU): the same global batch gives the same training.

Fast: the data schedule, which is what makes the split invisible (every (rank, micro-step)
takes the same groups out of the same global batch, whatever the split; the order ignores the
global RNG), and the gradient-sync switch. Slow (torchrun start-up is ~7 s): the CLI under
`torchrun --standalone --nproc_per_node 2` with batch 2 x accum 2 x world 2 against one process
with batch 2 x accum 4, for DDP and FSDP2 (`fully_shard` per decoder layer, then the model),
on AMPO with ragged groups, 6 steps:

- fp64: every micro-batch is the same float64 computation in both runs; only the gradient
  reduction is grouped differently (two partial sums averaged by the all-reduce, or FSDP2's
  reduce-scatter). Measured, 1 process against 2: loss and grad norm <= 3.3e-16 relative,
  weights <= 7e-16, for DDP and FSDP2; DDP against FSDP2 the same. Asserted: 1e-10 relative
  and 1e-10 absolute. (While FSDP2 reduced in float32 whatever the parameters' dtype, fp64
  gradients were rounded to float32: grad norm 5e-9, weights 5e-7 off after 5 steps.)
- fp32 (FSDP2): reductions in float32 in another order. Measured: loss <= 1.8e-7, grad norm
  <= 2.5e-7 relative, weights <= 2.1e-7 absolute (DDP the same; DDP against FSDP2 2.7e-7).
  Asserted: 1e-5 relative and 1e-5 absolute.
The FSDP2 checkpoint (full state dict gathered on rank 0) loads with
`AutoModelForCausalLM.from_pretrained` and equals its safetensors; a FSDP2 run rolled back to
an intermediate checkpoint and resumed under torchrun ends on the uninterrupted run's weights.
`accelerate launch --multi_gpu --num_processes 2` (torch.distributed.run underneath, gloo on
CPU) gives the torchrun DDP run; `accelerate launch --cpu --num_processes 2` is not used: it
starts one process (accelerate's multi-CPU launch needs mpirun and a hostfile).
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from trainer_files import (
    checkpoint_weights,
    launch,
    make_groups,
    read_metrics,
    run_trainer,
    trajectory,
    write_groups,
    write_recipe,
)

from training import checkpoint
from training.distributed import gradient_sync
from training.groupdata import Schedule

STEPS, SAVE_EVERY = 6, 3
TOLERANCES = {"fp64": (1e-10, 1e-10), "fp32": (1e-5, 1e-5)}  # (trajectory rtol, weights atol)
AMPO = dict(loss="ampo", loss_options=dict(beta=2.0, gamma=0.5, alpha=0.5), lr=1e-3)

# -- fast: the schedule and the sync switch ----------------------------------------------------

SPLITS = [(8, 1, 1), (1, 8, 1), (2, 4, 1), (2, 2, 2), (1, 4, 2), (2, 1, 4), (1, 1, 8)]


def global_batch(sched: Schedule, step: int) -> list[int]:
    """The groups of one optimizer step, in (rank, micro-step) order."""
    return [
        i
        for rank in range(sched.world_size)
        for micro in range(sched.grad_accum)
        for i in sched.micro_batch(step, micro, rank)
    ]


@pytest.mark.parametrize(("batch", "accum", "world"), SPLITS)
def test_every_split_of_a_global_batch_of_8_takes_the_same_groups(batch, accum, world):
    """Each step's groups, in (rank, micro-step) order, are the 8 x 1 x 1 step's, for 3 epochs
    of 20 groups (2 steps per epoch, 4 groups left out of each epoch); each epoch is a fresh
    permutation, so no group repeats within an epoch."""
    base = Schedule(20, 8, 1, 1, seed=5)
    sched = Schedule(20, batch, accum, world, seed=5)
    assert sched.global_batch == 8 and sched.steps_per_epoch == 2
    for step in range(6):
        assert global_batch(sched, step) == global_batch(base, step), step
    for epoch in range(3):
        seen = global_batch(sched, 2 * epoch) + global_batch(sched, 2 * epoch + 1)
        assert len(set(seen)) == 16


def test_data_order_ignores_the_global_rng():
    """The order depends on (seed, epoch) only: a resumed or re-split run, which draws from the
    global RNGs a different number of times, still sees the same groups."""
    sched = Schedule(20, 2, 2, 2, seed=5)
    orders = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed)  # noqa: NPY002 (the legacy global state is what must not matter)
        orders.append(
            [sched.micro_batch(s, m, r) for s in range(4) for m in (0, 1) for r in (0, 1)]
        )
        torch.rand(7)  # and draws in between
    assert orders[0] == orders[1]
    assert Schedule(20, 2, 2, 2, seed=6).micro_batch(0, 0, 0) != orders[0][0]


class _DDPLike:
    def __init__(self):
        self.synced = []

    @contextlib.contextmanager
    def no_sync(self):
        self.synced.append(False)
        yield


class _FSDPLike:
    def __init__(self):
        self.flags = []

    def set_requires_gradient_sync(self, flag):
        self.flags.append(flag)


def test_gradient_sync_skips_the_reduction_on_accumulation_micro_steps():
    """A missing no_sync leaves the trajectory unchanged (the all-reduce of an accumulated
    gradient still averages it), so only this check sees it: DDP's `no_sync` is entered on the
    micro-steps that do not end a step; FSDP2's flag is switched off there and back on."""
    ddp, fsdp = _DDPLike(), _FSDPLike()
    for last in (False, False, True):
        with gradient_sync(ddp, last), gradient_sync(fsdp, last):
            pass
    assert ddp.synced == [False, False]
    assert fsdp.flags == [False, True, False, True]


# -- slow: two processes -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    groups = write_groups(root / "groups.jsonl", make_groups(16, (4, 4, 3), seed=2), None)
    return root, groups, tiny_model_dir


@pytest.fixture(scope="module")
def runs(files):
    """run(launcher, strategy, precision) -> output folder; launcher None: one process."""
    root, groups, model_dir = files
    cache = {}

    def run(launcher: str | None, strategy: str, precision: str) -> Path:
        key = (launcher, strategy, precision)
        if key not in cache:
            name = f"{launcher or 'single'}-{strategy}-{precision}"
            accum = 4 if launcher is None else 2
            train = AMPO | dict(
                batch_size=2,
                grad_accum=accum,
                distributed=strategy,
                precision=precision,
                max_steps=STEPS,
                save_every=SAVE_EVERY,
            )
            recipe = write_recipe(root / f"{name}.yaml", model_dir, train)
            out = root / name
            if launcher is None:
                run_trainer(recipe, groups, out)
            else:
                proc = launch(launcher, recipe, groups, out)
                assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
            cache[key] = out
        return cache[key]

    return run


def assert_same_training(ref: Path, other: Path, precision: str) -> None:
    rtol, atol = TOLERANCES[precision]
    for key in ("loss", "grad_norm"):
        a, b = trajectory(ref, key), trajectory(other, key)
        assert len(a) == len(b) == STEPS
        np.testing.assert_allclose(b, a, rtol=rtol, atol=0, err_msg=key)
    wa = checkpoint_weights(checkpoint.latest(ref))
    wb = checkpoint_weights(checkpoint.latest(other))
    assert wa.keys() == wb.keys()
    worst = max(float((wa[k] - wb[k]).abs().max()) for k in wa)
    assert worst <= atol, f"final weights differ by {worst:.3g} > {atol:g}"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("strategy", "precision"), [("ddp", "fp64"), ("fsdp", "fp64"), ("fsdp", "fp32")]
)
def test_two_processes_train_as_one(runs, strategy, precision):
    single = runs(None, strategy, precision)
    two = runs("torchrun", strategy, precision)
    meta = json.loads((two / "train.meta.json").read_text())
    assert meta["world_size"] == 2 and meta["global_batch"] == 8
    assert [r["step"] for r in read_metrics(two)] == list(range(1, STEPS + 1))
    assert_same_training(single, two, precision)


@pytest.mark.slow
def test_ddp_and_fsdp_agree(runs):
    assert_same_training(runs("torchrun", "ddp", "fp64"), runs("torchrun", "fsdp", "fp64"), "fp64")


@pytest.mark.slow
def test_fsdp_checkpoints_are_full_hf_checkpoints(runs):
    """Every checkpoint of the FSDP2 run (mid-run and final) is a whole model: it loads with
    from_pretrained, its parameters are the safetensors' (none missing, none sharded), and its
    trainer_state holds its step."""
    from transformers import AutoModelForCausalLM

    out = runs("torchrun", "fsdp", "fp64")
    assert checkpoint.latest(out) == checkpoint.step_dir(out, STEPS)
    for step in (SAVE_EVERY, STEPS):
        folder = checkpoint.step_dir(out, step)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float64)
        saved = checkpoint_weights(folder)
        params = dict(model.named_parameters())
        assert params.keys() == saved.keys()
        for name, p in params.items():
            assert torch.equal(p.detach(), saved[name]), name
        assert checkpoint.load_state(folder)["step"] == step


@pytest.mark.slow
def test_fsdp_resume_under_torchrun_ends_on_the_uninterrupted_weights(runs, files, tmp_path):
    """The FSDP2 run rolled back to its step-3 checkpoint (as if killed after it) and resumed
    by torchrun: the sharded optimizer state is restored from the full one."""
    root, groups, _ = files
    straight = runs("torchrun", "fsdp", "fp64")
    out = tmp_path / "resumed"
    shutil.copytree(straight, out)
    shutil.rmtree(checkpoint.step_dir(out, STEPS))
    (out / "checkpoints" / checkpoint.LATEST).write_text(f"step-{SAVE_EVERY:06d}\n")
    proc = launch("torchrun", root / "torchrun-fsdp-fp64.yaml", groups, out, resume=True)
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert [r["step"] for r in read_metrics(out)] == list(range(1, STEPS + 1))
    assert_same_training(straight, out, "fp64")


@pytest.mark.slow
def test_accelerate_launch_trains_as_torchrun(runs):
    assert_same_training(runs("torchrun", "ddp", "fp64"), runs("accelerate", "ddp", "fp64"), "fp64")
