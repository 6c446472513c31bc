"""Our trainer against TRL: the same 20-step loss and grad-norm trajectory on the tiny model.

TRL's `DPOTrainer` (sigmoid, IPO) and `CPOTrainer` (SimPO, cpo_alpha = 0) are run by
`trl_peer` with everything that would make them differ from our trainer pinned (precision, token
ids, data order, schedule; see its docstring). Before comparing our trainer with TRL, TRL itself
is checked against a plain-torch recomputation of the same steps (`trl_peer.by_hand`), so a
failure in the comparison points at our trainer, not at a misunderstanding of TRL.

Tolerances (relative, on every step of the loss and of the pre-clip grad norm):
- fp32: 1e-5. TRL in fp32 and the float64 recomputation by hand differ by at most 1e-6 over the
  20 steps on this data (measured: loss 8e-7, grad norm 1e-6; TRL fp32 against TRL fp64 <= 2e-6):
  fp32 rounding in implementations that batch, pad and reduce differently does not grow over 20
  Adam steps here. 1e-5 leaves 5x for a third fp32 implementation and still fails on small real
  discrepancies (measured with a plain-torch stand-in for our trainer: warmup lr step/W instead of
  (step+1)/W: 1e-1; Adam eps 1e-7 instead of 1e-8: 9e-5; gradient scaled by 1 + 1e-4: 1.1e-4).
- fp64 (SimPO only): TRL's CPO path is float64 throughout, so grad norms agree to 1e-10 (measured
  4e-16 by hand); transformers accumulates the logged loss in a float32 tensor, so losses agree to
  its rounding (3e-7). Prefix-shared batches run the same float64 arithmetic in another order,
  and transformers' `LlamaRMSNorm` rounds its input to float32 (`hidden_states.to(float32)`)
  whatever the model's dtype: float64-level differences in the incoming gradients flip float32
  roundings, so the prefix-shared grad norm is float32-exact only (measured 1.3e-7 over 20
  steps; the gradients of one batch in the two layouts differ by 2e-8 relative): 1e-6 there.
  DPO/IPO are not compared in fp64: TRL's fused LM head keeps its log-softmax
  statistics in float32 even for a float64 model, so it is no more exact there than in fp32.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trainer_files
from trainer_files import Group
from trl_peer import (
    PeerConfig,
    by_hand,
    contract_lr_lambda,
    contract_order,
    dpo_token_rows,
    our_ids,
    run_trl,
)

pytest.importorskip("trl")

# (prompt, chosen, rejected): answers of different lengths, so length normalisation matters.
PAIRS = [
    ("reverse the word cat", "tac", "the word cat reversed is cat, I think"),
    ("count to three", "one two three", "one two"),
    ("is the river blue?", "yes, the river is blue.", "no"),
    ("sort 3 1 2", "1 2 3", "3 2 1 because 3 is first"),
    ("give a short word", "dog", "a short word is a word that is short"),
    ("what is first: day or night?", "day is first.", "night, then day, then night."),
    ("list two colours", "red and green", "red"),
    ("upper case of tree", "TREE", "tree in upper case is tree"),
]

STEPS, BATCH, ACCUM, LR = 20, 2, 2, 1e-3
FP32_RTOL = 1e-5
FP64_LOSS_RTOL, FP64_GRAD_RTOL = 3e-7, {"padded": 1e-10, "prefix_shared": 1e-6}

# TRL loss -> hyperparameters; SimPO's gamma / beta = 0.5 is exact in binary.
PEER = {
    "sigmoid": dict(loss="sigmoid", beta=0.1),
    "ipo": dict(loss="ipo", beta=0.1),
    "simpo": dict(loss="simpo", beta=2.0, simpo_gamma=1.0),
}


def peer_config(loss: str, dtype: str = "float32", **kw) -> PeerConfig:
    base = dict(lr=LR, warmup_ratio=0.1, min_lr_ratio=0.1, max_steps=STEPS, batch_size=BATCH)
    return PeerConfig(**(base | dict(grad_accum=ACCUM, dtype=dtype) | PEER[loss] | kw))


def our_loss(cfg: PeerConfig) -> tuple[str, dict]:
    """Our registry's loss and options for TRL's loss in `cfg`."""
    if cfg.loss == "sigmoid":
        return "dpo", {"beta": cfg.beta}
    if cfg.loss == "ipo":  # TRL divides each log-ratio by its completion length
        return "ipo", {"tau": cfg.beta, "length_normalised": True}
    return "simpo", {"beta": cfg.beta, "gamma_beta_ratio": cfg.simpo_gamma / cfg.beta}


def assert_trajectories_equal(ours, theirs, loss_rtol, grad_rtol, what):
    np.testing.assert_allclose(ours.loss, theirs.loss, rtol=loss_rtol, atol=0, err_msg=what)
    np.testing.assert_allclose(
        ours.grad_norm, theirs.grad_norm, rtol=grad_rtol, atol=0, err_msg=what
    )


@pytest.fixture(scope="module")
def ref_model_dir(tiny_ref_model_dir):
    return tiny_ref_model_dir


@pytest.fixture(scope="module")
def trl_runs(tiny_model_dir, ref_model_dir):
    """TRL's trajectories, run once per (loss, dtype) and shared by the tests below."""
    cache = {}

    def get(loss: str, dtype: str = "float32"):
        if (loss, dtype) not in cache:
            cache[loss, dtype] = run_trl(
                tiny_model_dir, PAIRS, peer_config(loss, dtype), ref_model_dir
            )
        return cache[loss, dtype]

    return get


# -- the schedule: ours against transformers' ------------------------------------------------


def test_contract_schedule_is_transformers_cosine_except_warmup_starts_at_one_step():
    """After warmup our LambdaLR is transformers' `cosine_with_min_lr`; during warmup ours is
    (step + 1) / W where transformers' is step / W (lr 0 at step 0). Guards `trl_peer`'s claim
    that schedule="contract" is the only difference it hands TRL."""
    from transformers import get_scheduler

    total, ratio, floor = 20, 0.1, 0.1
    warmup = math.ceil(ratio * total)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    hf = get_scheduler(
        "cosine_with_min_lr",
        opt,
        num_warmup_steps=warmup,
        num_training_steps=total,
        scheduler_specific_kwargs={"min_lr_rate": floor},
    )
    ours = contract_lr_lambda(total, ratio, floor)
    for step in range(total):
        theirs = hf.get_last_lr()[0]
        expected = step / warmup if step < warmup else ours(step)
        assert theirs == pytest.approx(expected, rel=1e-12, abs=1e-15), step
        if step < warmup:
            assert ours(step) == pytest.approx((step + 1) / warmup)
        opt.step()
        hf.step()


def test_contract_order_is_consecutive_seeded_permutations():
    order = contract_order(8, seed=3, rows=20)
    g = lambda e: torch.Generator().manual_seed(3 * 1_000_003 + e)  # noqa: E731
    expected = [*torch.randperm(8, generator=g(0)), *torch.randperm(8, generator=g(1))]
    expected += list(torch.randperm(8, generator=g(2))[:4])
    assert order == [int(i) for i in expected]


# -- TRL's tokens ------------------------------------------------------------------------------


def test_trl_dpo_conversational_rows_are_our_token_ids(tiny_model_dir, tiny_tokenizer):
    """Conversational rows give exactly our ids; the same conversation pre-rendered as text gains
    a second EOS on each response (TRL appends `eos_token` to a completion not ending in it, and
    ChatML's turn ends `<|im_end|>\\n`): why `trl_peer` hands DPOTrainer conversations. (CPO's
    additions, BOS and EOS, are checked on every row by `trl_peer._AlignedCPOTrainer`.)"""
    conversational = dpo_token_rows(tiny_model_dir, PAIRS)
    text = dpo_token_rows(tiny_model_dir, PAIRS, conversational=False)
    eos = tiny_tokenizer.eos_token_id
    for pair, conv, plain in zip(PAIRS, conversational, text, strict=True):
        prompt, chosen, rejected = our_ids(tiny_tokenizer, pair)
        assert conv == (prompt, chosen, rejected)
        assert plain == (prompt, [*chosen, eos], [*rejected, eos])


# -- TRL against the same steps by hand ------------------------------------------------------


@pytest.mark.parametrize("loss", list(PEER))
def test_trl_first_step_matches_hand_recomputation(loss, trl_runs, tiny_model_dir, ref_model_dir):
    """TRL's first logged loss and grad norm are the mean over our first global batch of the loss
    of the definitions, on log-probs summed over our response tokens (prompt excluded, the
    template's end of turn included, no extra BOS/EOS). fp32 against float64 log-softmax."""
    theirs = trl_runs(loss)
    mine = by_hand(tiny_model_dir, PAIRS, peer_config(loss), ref_model_dir, steps=1)
    assert theirs.loss[0] == pytest.approx(mine.loss[0], rel=1e-6)
    assert theirs.grad_norm[0] == pytest.approx(mine.grad_norm[0], rel=1e-6)
    assert theirs.lr[0] == mine.lr[0] == LR / 2  # warmup W = ceil(0.1 * 20) = 2: step 0 at 1/2
    if loss == "sigmoid":  # a reference unlike the policy: not the trivial log 2 of h = 0
        assert abs(theirs.loss[0] - math.log(2)) > 1e-2


@pytest.mark.parametrize("loss", list(PEER))
def test_trl_trajectory_matches_hand_recomputation(loss, trl_runs, tiny_model_dir, ref_model_dir):
    """All 20 steps: same order, accumulation, clipping, AdamW and schedule as `by_hand`."""
    theirs = trl_runs(loss)
    mine = by_hand(tiny_model_dir, PAIRS, peer_config(loss), ref_model_dir)
    assert_trajectories_equal(mine, theirs, FP32_RTOL, FP32_RTOL, loss)
    np.testing.assert_allclose(mine.lr, theirs.lr, rtol=1e-12)
    assert theirs.loss[-1] < 0.5 * theirs.loss[0]  # lr 1e-3 moves the trajectory


# -- our trainer against TRL -----------------------------------------------------------------


def write_groups(path, ref_model_dir):
    """Groups JSONL of k = 2 (positive 0) with reference log-probs and lengths."""
    groups = [Group(p, (chosen, rejected), (1.0, 0.0), 0) for p, chosen, rejected in PAIRS]
    return trainer_files.write_groups(path, groups, ref_model_dir, strategy="trl-peer")


def write_recipe(path, cfg: PeerConfig, model_dir, ref_model_dir, layout: str):
    loss, options = our_loss(cfg)
    train = {
        "loss": loss,
        "loss_options": options,
        "lr": cfg.lr,
        "warmup_ratio": cfg.warmup_ratio,
        "min_lr_ratio": cfg.min_lr_ratio,
        "max_steps": cfg.max_steps,
        "batch_size": cfg.batch_size,
        "grad_accum": cfg.grad_accum,
        "max_grad_norm": cfg.max_grad_norm,
        "weight_decay": cfg.weight_decay,
        "adam_betas": list(cfg.adam_betas),
        "adam_eps": cfg.adam_eps,
        "precision": {"float32": "fp32", "float64": "fp64"}[cfg.dtype],
        "layout": layout,
        "seed": cfg.seed,
        "threads": cfg.threads,
    }
    return trainer_files.write_recipe(path, model_dir, train, ref_model_dir)


def our_trajectory(tmp_path, cfg: PeerConfig, model_dir, ref_model_dir, layout: str):
    from trl_peer import Trajectory

    groups = write_groups(tmp_path / "groups.jsonl", ref_model_dir)
    recipe = write_recipe(tmp_path / "recipe.yaml", cfg, model_dir, ref_model_dir, layout)
    out = tmp_path / "train"
    trainer_files.run_trainer(recipe, groups, out)
    rows = trainer_files.read_metrics(out)
    rows = sorted((r for r in rows if "grad_norm" in r), key=lambda r: r["step"])
    assert len(rows) == cfg.max_steps
    return Trajectory(
        loss=[r["loss"] for r in rows],
        grad_norm=[r["grad_norm"] for r in rows],
        lr=[r["lr"] for r in rows],
    )


# slow: 8 runs of our trainer plus TRL's, ~20 s together on 2 cores (a plain-torch stand-in of
# the trainer took 1.5-3 s a run).
@pytest.mark.slow
@pytest.mark.parametrize("layout", ["padded", "prefix_shared"])
@pytest.mark.parametrize("loss", list(PEER))
def test_trainer_trajectory_equals_trl_fp32(
    loss, layout, trl_runs, tiny_model_dir, ref_model_dir, tmp_path
):
    """Our trainer's 20-step loss and grad norm are TRL's (DPO, IPO length-normalised, SimPO
    with cpo_alpha = 0), in both layouts, to FP32_RTOL; and the lr of each step is the same."""
    cfg = peer_config(loss)
    ours = our_trajectory(tmp_path, cfg, tiny_model_dir, ref_model_dir, layout)
    theirs = trl_runs(loss)
    assert_trajectories_equal(ours, theirs, FP32_RTOL, FP32_RTOL, f"{loss}/{layout}")
    # TRL logs the lr the step used (read before `scheduler.step()`)
    np.testing.assert_allclose(ours.lr, theirs.lr, rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["padded", "prefix_shared"])
def test_trainer_trajectory_equals_trl_simpo_fp64(
    layout, trl_runs, tiny_model_dir, ref_model_dir, tmp_path
):
    cfg = peer_config("simpo", dtype="float64")
    ours = our_trajectory(tmp_path, cfg, tiny_model_dir, ref_model_dir, layout)
    theirs = trl_runs("simpo", "float64")
    assert_trajectories_equal(
        ours, theirs, FP64_LOSS_RTOL, FP64_GRAD_RTOL[layout], f"simpo/{layout}"
    )
