"""What the trainer logs per step: metrics.jsonl, and the same scalars as TensorBoard events.

4 groups of k = 2 with the DPO loss, batch 2 x accum 1, 4 steps, warmup ratio 0.25: W =
ceil(0.25 x 4) = 1 warmup step, so step 1 runs at (0 + 1)/1 x lr = lr, and steps 2, 3, 4 at
lr x (1 + cos(pi s / 3))/2 for s = 0, 1, 2, i.e. lr x (1, 3/4, 1/4) (the logged lr is the one
the step used).
"""

from __future__ import annotations

import math

import pytest
from trainer_files import make_groups, read_metrics, run_trainer, write_groups, write_recipe

KEYS = {
    "step", "loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
    "rewards/accuracies", "grad_norm", "lr", "tokens_per_s", "padding_fraction",
    "truncated_responses",
}  # fmt: skip
DPO = dict(
    loss="dpo", loss_options=dict(beta=0.1), batch_size=2, grad_accum=1, lr=1e-3,
    warmup_ratio=0.25, max_steps=4, layout="padded",
)  # fmt: skip


@pytest.fixture(scope="module")
def groups(tiny_ref_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics")
    return write_groups(root / "groups.jsonl", make_groups(4, (2,), seed=3), tiny_ref_model_dir)


def test_one_row_per_step_with_every_metric(groups, tiny_model_dir, tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_model_dir, DPO)
    run_trainer(recipe, groups, tmp_path / "out")
    rows = read_metrics(tmp_path / "out")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for r in rows:
        assert set(r) == KEYS
        assert r["rewards/margins"] == pytest.approx(r["rewards/chosen"] - r["rewards/rejected"])
        assert 0.0 <= r["rewards/accuracies"] <= 1.0 and r["grad_norm"] > 0
        assert 0.0 < r["padding_fraction"] < 1.0 and r["tokens_per_s"] > 0
        assert r["truncated_responses"] == 0
    # W = ceil(0.25 x 4) = 1: step 1 already at the peak, then the cosine over 3 steps
    assert rows[0]["lr"] == pytest.approx(1e-3)
    cosine = [0.5 * (1 + math.cos(math.pi * s / 3)) for s in (0, 1, 2)]  # 1, 3/4, 1/4
    assert [r["lr"] for r in rows[1:]] == pytest.approx([1e-3 * c for c in cosine])


def test_tensorboard_events_hold_the_logged_scalars(groups, tiny_model_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    recipe = write_recipe(tmp_path / "r.yaml", tiny_model_dir, DPO | dict(tensorboard=True))
    run_trainer(recipe, groups, tmp_path / "out")
    rows = read_metrics(tmp_path / "out")
    events = EventAccumulator(str(tmp_path / "out" / "tensorboard"))
    events.Reload()
    loss = events.Scalars("loss")
    assert [e.step for e in loss] == [r["step"] for r in rows]
    assert [e.value for e in loss] == pytest.approx([r["loss"] for r in rows], rel=1e-6)
    assert {"lr", "grad_norm", "rewards/accuracies"} <= set(events.Tags()["scalars"])
