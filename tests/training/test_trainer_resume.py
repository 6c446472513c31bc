"""Stop and resume: a resumed run is the uninterrupted run.

The run: AMPO on 16 ragged groups, fp32, batch 2 x accum 2 (4 steps an epoch), 20 steps,
checkpoints every 10. Stopping is simulated two ways: rolling the run back to its step-10
checkpoint (as if killed after writing it: metrics.jsonl still has the later rows), and SIGTERM
after the first logged step (in this process, and to the CLI in a subprocess, slow). A resume
repeats the same float32 operations in the same order from restored weights (safetensors,
exact), optimizer, scheduler and RNG states, so the continuation is bit-identical: measured
0.0 in loss, grad norm and weights. Asserted: 1e-9 relative on the trajectory and 1e-7
absolute on the weights (below the 1e-6 of an fp32 "same run"; a lost optimizer state moves the
weights by ~1e-3 at lr 1e-3).

What may change on resume (`training.config.RESUME_MAY_CHANGE`): how the steps are computed,
not which. A resume with another split of the same global batch, layout and chunking is held
to the invariance tests' fp32 agreement (measured 3.4e-7 in the trajectory and 6e-8 in the
weights; asserted 1e-5 and 1e-5); another lr, max_steps, seed, loss option, precision, global
batch or groups file is refused with the field named.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from trainer_files import (
    checkpoint_weights,
    cli_args,
    cli_env,
    make_groups,
    read_metrics,
    run_trainer,
    write_groups,
    write_recipe,
)

from training import checkpoint

STEPS, SAVE_EVERY = 20, 10
CLI_STEPS = 100  # the subprocess run: long enough for SIGTERM to land mid-run
TRAIN = dict(
    loss="ampo",
    loss_options=dict(beta=2.0, gamma=0.5, alpha=0.5),
    lr=1e-3,
    precision="fp32",
    batch_size=2,
    grad_accum=2,
    max_steps=STEPS,
    save_every=SAVE_EVERY,
)
EXACT_RTOL, EXACT_WEIGHTS_ATOL = 1e-9, 1e-7
SPLIT_RTOL, SPLIT_WEIGHTS_ATOL = 1e-5, 1e-5


@pytest.fixture(scope="module")
def setup(tiny_model_dir, tmp_path_factory):
    """(groups file, recipe writer, the straight run's output folder)."""
    root = tmp_path_factory.mktemp("resume")
    groups = write_groups(root / "groups.jsonl", make_groups(16, (4, 4, 3), seed=3), None)

    def recipe(name: str, **changes) -> Path:
        return write_recipe(root / f"{name}.yaml", tiny_model_dir, TRAIN | changes)

    straight = root / "straight"
    run_trainer(recipe("straight"), groups, straight)
    return groups, recipe, straight


def rolled_back(straight: Path, dest: Path, step: int) -> Path:
    """A copy of a finished run as if killed right after checkpoint `step`: the later
    checkpoints gone, `latest` naming `step`, metrics.jsonl keeping every row."""
    shutil.copytree(straight, dest)
    for folder in (dest / "checkpoints").glob("step-*"):
        if int(folder.name.removeprefix("step-")) > step:
            shutil.rmtree(folder)
    (dest / "checkpoints" / checkpoint.LATEST).write_text(f"step-{step:06d}\n")
    return dest


def assert_continues(
    straight: Path, resumed: Path, rtol: float, atol: float, steps: int = STEPS
) -> None:
    """One metrics row per step 1..steps, the straight run's trajectory, its final weights."""
    rows, ref = read_metrics(resumed), read_metrics(straight)
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    for key in ("loss", "grad_norm", "lr"):
        got, want = [r[key] for r in rows], [r[key] for r in ref]
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0, err_msg=key)
    assert checkpoint.latest(resumed) == checkpoint.step_dir(resumed, steps)
    wa = checkpoint_weights(checkpoint.step_dir(straight, steps))
    wb = checkpoint_weights(checkpoint.step_dir(resumed, steps))
    worst = max(float((wa[k] - wb[k]).abs().max()) for k in wa)
    assert worst <= atol, f"final weights differ by {worst:.3g} > {atol:g}"


def test_resume_from_a_mid_run_checkpoint_is_the_straight_run(setup, tmp_path):
    groups, recipe, straight = setup
    out = rolled_back(straight, tmp_path / "run", SAVE_EVERY)
    assert len(read_metrics(out)) == STEPS  # rows past the checkpoint, to be dropped
    run_trainer(recipe("straight"), groups, out, resume=True)
    assert_continues(straight, out, EXACT_RTOL, EXACT_WEIGHTS_ATOL)


def test_resume_may_change_the_split_layout_chunking_and_cadence(setup, tmp_path):
    """1 x 4 instead of 2 x 2 (the same global batch), prefix-shared, one-row chunks, another
    checkpoint cadence and strategy: the same run within the fp32 invariance tolerance."""
    groups, recipe, straight = setup
    out = rolled_back(straight, tmp_path / "run", SAVE_EVERY)
    changed = recipe(
        "changed",
        batch_size=1,
        grad_accum=4,
        layout="prefix_shared",
        logprob_chunk=1,
        save_every=4,
        distributed="fsdp",
    )
    run_trainer(changed, groups, out, resume=True)
    assert_continues(straight, out, SPLIT_RTOL, SPLIT_WEIGHTS_ATOL)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (dict(lr=2e-3), "train.lr"),
        (dict(max_steps=30), "train.max_steps"),
        (dict(seed=1), "train.seed"),
        (dict(loss_options=dict(beta=2.0, gamma=0.6, alpha=0.5)), "train.loss_options"),
        (dict(precision="fp64"), "train.precision"),
        (dict(batch_size=4), "global batch"),
    ],
)
def test_resume_refuses_another_run(setup, tmp_path, change, named):
    groups, recipe, straight = setup
    out = rolled_back(straight, tmp_path / "run", SAVE_EVERY)
    with pytest.raises(ValueError, match="belongs to another run") as err:
        run_trainer(recipe("other", **change), groups, out, resume=True)
    assert named in str(err.value)


def test_resume_refuses_another_groups_file(setup, tmp_path):
    groups, recipe, straight = setup
    out = rolled_back(straight, tmp_path / "run", SAVE_EVERY)
    other = tmp_path / "groups.jsonl"
    other.write_text(groups.read_text().replace('"p0"', '"q0"'))
    with pytest.raises(ValueError, match="groups file"):
        run_trainer(recipe("straight"), other, out, resume=True)


def test_sigterm_checkpoints_and_resume_finishes_the_run(setup, tmp_path):
    """SIGTERM once step 1 is logged (this process signals itself from a thread): the trainer
    ends the current step, checkpoints it and returns it; --resume then ends on the straight
    run's weights."""
    groups, recipe, straight = setup
    out = tmp_path / "run"
    quiet = signal.signal(signal.SIGTERM, lambda *_: None)  # a late signal must not end pytest
    done = threading.Event()

    def signal_after_first_row():
        path = out / "metrics.jsonl"
        while not done.is_set():
            if path.exists() and path.read_text().strip():
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.002)

    watcher = threading.Thread(target=signal_after_first_row)
    watcher.start()
    try:
        stopped = run_trainer(recipe("straight"), groups, out)
    finally:
        done.set()
        watcher.join()
        signal.signal(signal.SIGTERM, quiet)
    step = checkpoint.load_state(stopped)["step"]
    assert 1 <= step < STEPS and stopped == checkpoint.step_dir(out, step)
    assert [r["step"] for r in read_metrics(out)] == list(range(1, step + 1))
    run_trainer(recipe("straight"), groups, out, resume=True)
    assert_continues(straight, out, EXACT_RTOL, EXACT_WEIGHTS_ATOL)


@pytest.mark.slow
def test_sigterm_to_the_cli_exits_0_with_a_loadable_checkpoint(setup, tmp_path):
    """`python -m training train` signalled after its first logged step exits with 0, leaving a
    checkpoint that from_pretrained loads, whose trainer_state step is the last logged step;
    `--resume` (the CLI again) ends on the uninterrupted run's weights. 100 steps and no
    periodic checkpoint, so that the only checkpoint before the end is SIGTERM's."""
    from transformers import AutoModelForCausalLM

    groups, recipe, _ = setup
    long = recipe("cli", max_steps=CLI_STEPS, save_every=0)
    straight = tmp_path / "straight"
    run_trainer(long, groups, straight)
    out = tmp_path / "run"
    cmd = [sys.executable, *cli_args(long, groups, out)]
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.read_text().strip()):
        assert proc.poll() is None, proc.communicate()[1].decode()[-3000:]
        assert time.monotonic() < deadline, "no step logged in 120 s"
        time.sleep(0.002)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-3000:]

    last = checkpoint.latest(out)
    assert last is not None, "SIGTERM left no checkpoint"
    step = checkpoint.load_state(last)["step"]
    assert 1 <= step < CLI_STEPS and last == checkpoint.step_dir(out, step)
    assert [r["step"] for r in read_metrics(out)] == list(range(1, step + 1))
    model = AutoModelForCausalLM.from_pretrained(last)
    saved = checkpoint_weights(last)
    for name, p in model.named_parameters():
        assert torch.equal(p.detach().to(torch.float64), saved[name]), name

    resume = subprocess.run(
        [sys.executable, *cli_args(long, groups, out, resume=True)],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert resume.returncode == 0, resume.stderr[-3000:]
    assert_continues(straight, out, EXACT_RTOL, EXACT_WEIGHTS_ATOL, CLI_STEPS)
