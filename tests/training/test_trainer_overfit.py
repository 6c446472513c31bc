"""The trainer learns, and what it writes is a model: overfitting one fixed batch.

AMPO (beta 2, gamma 0.5) on 4 groups of k = 4, batch 4 x accum 1, so every step sees the same
4 groups; lr 3e-3, 30 steps, fp32. Measured: the loss falls from 1.83 to 3e-4 (x 1.7e-4) and the
implicit-reward accuracy (positive above negative, over every pair) goes from 0.42 at step 1
to 1.0 from step 2 on; the recomputed initial loss is the logged one to 3e-7.
Asserted: final logged loss < 0.01 x the first, accuracy 1.0 on the last 10 steps, and the
first step's accuracy below 1 (there is something to learn). The final checkpoint reloads with
`AutoModelForCausalLM.from_pretrained` and its tokenizer; recomputed by plain torch, one
unpadded forward per response (`trl_peer.response_logps`), the AMPO loss of the batch is the
first logged loss under the initial weights (to 1e-5 relative: fp32 in another layout) and
< 0.01 x it under the checkpoint's; and the checkpoint generates through the transformers
backend of `training.generation`.
"""

from __future__ import annotations

import pytest
import torch
from trainer_files import make_groups, read_metrics, run_trainer, write_groups, write_recipe
from trl_peer import response_logps

from training import checkpoint
from training.losses import get_loss

OPTIONS = dict(beta=2.0, gamma=0.5)
STEPS = 30


def batch_loss(model_dir, groups) -> float:
    """Mean AMPO loss of `groups` under the model in `model_dir`, by plain torch."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(model_dir)
    logps, lengths = [], []
    with torch.no_grad():
        for g in groups:
            lp, n = response_logps(model, tok, [(g.prompt, r) for r in g.responses])
            logps.append(lp)
            lengths.append(n)
    entry = get_loss("ampo")
    k = len(groups[0].responses)
    loss, _ = entry(
        torch.stack(logps),
        None,
        torch.stack(lengths),
        torch.tensor([g.rewards for g in groups], dtype=torch.float64),
        torch.ones(len(groups), k, dtype=torch.bool),
        torch.tensor([g.positive for g in groups]),
        entry.config(**OPTIONS),
    )
    return float(loss.mean())


@pytest.fixture(scope="module")
def overfit(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("overfit")
    groups = make_groups(4, (4,), seed=4)
    path = write_groups(root / "groups.jsonl", groups, None)
    train = dict(
        loss="ampo",
        loss_options=OPTIONS,
        lr=3e-3,
        batch_size=4,
        grad_accum=1,
        max_steps=STEPS,
        precision="fp32",
    )
    out = root / "out"
    final = run_trainer(write_recipe(root / "recipe.yaml", tiny_model_dir, train), path, out)
    return groups, out, final


def test_loss_falls_on_a_fixed_batch(overfit):
    _, out, final = overfit
    rows = read_metrics(out)
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    assert rows[-1]["loss"] < 0.01 * rows[0]["loss"], (rows[0]["loss"], rows[-1]["loss"])
    assert rows[0]["rewards/accuracies"] < 1.0
    assert all(r["rewards/accuracies"] == 1.0 for r in rows[-10:])
    assert final == checkpoint.step_dir(out, STEPS)


def test_checkpoint_reloads_with_the_trained_weights(overfit, tiny_model_dir):
    groups, out, final = overfit
    first = read_metrics(out)[0]["loss"]
    assert batch_loss(tiny_model_dir, groups) == pytest.approx(first, rel=1e-5)
    assert batch_loss(final, groups) < 0.01 * first


def test_checkpoint_generates(overfit, tiny_model_dir):
    from transformers import AutoTokenizer

    from training.generation import Sampling, make_generator
    from training.models import ModelSpec

    groups, _, final = overfit
    tok, original = (
        AutoTokenizer.from_pretrained(final),
        AutoTokenizer.from_pretrained(tiny_model_dir),
    )
    assert tok.chat_template == original.chat_template and tok.get_vocab() == original.get_vocab()
    gen = make_generator("transformers", ModelSpec(str(final)))
    with gen:
        texts = gen.generate([g.prompt for g in groups[:2]], Sampling(n=2, max_new_tokens=8))
    assert [len(t) for t in texts] == [2, 2]
    assert all(isinstance(t, str) for pair in texts for t in pair)
