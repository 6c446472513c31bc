"""The SFT reference policy: its loss mask, its cache, and — measured by sampling — its spread
over several modes of the transform task."""

import json

import pytest

from benchmarks.alignment.measure import measure_policy
from benchmarks.alignment.sft import IGNORE, SFTConfig, sft_policy, supervised_example
from benchmarks.alignment.task import make_prompts
from training.chat import encode_pair
from training.models import ModelSpec, load_model, load_tokenizer

# the default recipe with fewer prompts and half the steps: ~28 s of training on one thread
FAST = SFTConfig(n_prompts=600, steps=700, seed=0)


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return sft_policy(FAST, cache=tmp_path_factory.mktemp("sft"))


def test_loss_mask_covers_exactly_the_response_tokens(policy):
    """Labels are IGNORE on every prompt token and the token id on every response token (the
    answer and the template's end of turn), as the pipeline's log-probs split them."""
    tok = load_tokenizer(ModelSpec(str(policy)))
    prompt, response = "sort: 3 1 2", "answer: 1 2 3"
    prompt_ids, response_ids = encode_pair(tok, prompt, response)
    ids, labels = supervised_example(tok, prompt, response)
    assert ids == prompt_ids + response_ids
    assert labels[: len(prompt_ids)] == [IGNORE] * len(prompt_ids)
    assert labels[len(prompt_ids) :] == response_ids
    assert tok.decode(response_ids).startswith("answer: 1 2 3")


def test_policy_is_cached_and_loads_through_the_pipeline(policy, tmp_path):
    again = sft_policy(FAST, cache=policy.parent)  # instant: the folder exists
    assert again == policy
    meta = json.loads((policy / "sft.json").read_text())
    assert meta["config"]["steps"] == FAST.steps and meta["stats"]["loss_last10"] < 1.5
    model = load_model(ModelSpec(str(policy), device="cpu"))
    assert sum(p.numel() for p in model.parameters()) == meta["stats"]["parameters"]
    assert SFTConfig(n_prompts=601).key() != FAST.key()


def test_policy_samples_several_modes(policy):
    """At least 3 modes hold >= 5% of the samples each, and the mean true reward lies strictly
    between the worst and the best mode's mean reward (the policy is a mixture, not one island)."""
    report = measure_policy(policy, make_prompts(40, seed=1, split="heldout"), m=16, threads=1)
    assert len(report.modes_at_least(0.05)) >= 3, report.mode_fractions
    per_mode = report.mode_mean_reward.values()
    assert min(per_mode) < report.mean_reward < max(per_mode)
    assert report.mode_fractions["correct"] >= 0.05
