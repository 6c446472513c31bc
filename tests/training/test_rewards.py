"""Reward backends: a tiny Llama reward model loaded from disk, and the programmatic registry.

The reward-model oracle shares no code with the scorer: it renders each conversation with the
tokenizer's own `apply_chat_template(tokenize=True)`, runs one unpadded sequence at a time
through the backbone, and applies the score head to the hidden state of the last token by hand,
so it does not rely on transformers' search for the last non-pad token either.
"""

from __future__ import annotations

import json
import logging
import math
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from model_pairs import PROMPTS, RESPONSES  # noqa: E402

from training.rewards import (  # noqa: E402
    REWARD_FUNCTIONS,
    SCORERS,
    FunctionScorer,
    Scorer,
    get_reward_function,
    make_scorer,
    reward_function,
)
from training.tiny import TinyConfig, write_tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def reward_dir(tmp_path_factory):
    """A one-label LlamaForSequenceClassification with the tiny tokenizer, saved by
    save_pretrained (pad_token_id set in its config)."""
    return write_tiny_model(
        tmp_path_factory.mktemp("rm") / "tiny-reward", TinyConfig(), kind="reward"
    )


@pytest.fixture(scope="module")
def gpt2_reward_dir(reward_dir, tmp_path_factory):
    """A one-label GPT2ForSequenceClassification (learned absolute positions: left padding
    without position ids shifts them) with the same tokenizer."""
    from transformers import AutoTokenizer, GPT2Config, GPT2ForSequenceClassification

    tok = AutoTokenizer.from_pretrained(reward_dir)
    config = GPT2Config(
        vocab_size=len(tok),
        n_embd=64,
        n_layer=2,
        n_head=4,
        n_positions=256,
        num_labels=1,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = GPT2ForSequenceClassification(config)
    out = tmp_path_factory.mktemp("rm") / "tiny-gpt2-reward"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def reward_dirs(reward_dir, gpt2_reward_dir):
    return {"llama": reward_dir, "gpt2": gpt2_reward_dir}


def messages(prompt, response):
    turns = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    return [*turns, {"role": "assistant", "content": response}]


def oracle_scores(model, tokenizer, prompts, responses, logit_index=0, keep=None):
    """One pair at a time, no padding: head(hidden state of the last token). `keep(ids)` cuts
    the ids as a truncation would."""
    out = []
    for p, r in zip(prompts, responses, strict=True):
        ids = tokenizer.apply_chat_template(messages(p, r), tokenize=True)["input_ids"]
        ids = keep(ids) if keep else ids
        with torch.no_grad():
            hidden = model.base_model(torch.tensor([ids])).last_hidden_state[0, -1]  # (d,)
            out.append(float(hidden @ model.score.weight[logit_index]))
    return np.array(out)


def load_oracle(path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32)
    return model.eval(), AutoTokenizer.from_pretrained(path)


def scorer(path, **options):
    return make_scorer("reward_model", model=str(path), device="cpu", progress=False, **options)


@pytest.fixture(scope="module")
def oracles(reward_dirs):
    return {arch: load_oracle(path) for arch, path in reward_dirs.items()}


@pytest.fixture(scope="module")
def expected_by_arch(oracles):
    return {arch: oracle_scores(*oracles[arch], PROMPTS, RESPONSES) for arch in oracles}


@pytest.fixture(scope="module")
def expected(expected_by_arch):
    return expected_by_arch["llama"]


@pytest.mark.parametrize("batch_size", [1, 3, 8])
@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_batched_scores_equal_one_pair_at_a_time_unpadded(
    reward_dirs, expected_by_arch, arch, batch_size
):
    s = scorer(reward_dirs[arch], batch_size=batch_size)
    got = s.score(PROMPTS, RESPONSES)
    expected = expected_by_arch[arch]
    assert isinstance(s, Scorer)
    assert got.dtype == np.float64 and got.shape == (len(PROMPTS),)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert np.ptp(expected) > 1e-3  # the pairs get distinct rewards: order is tested


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_tokenizer_padding_side_does_not_change_scores(
    reward_dirs, expected_by_arch, tmp_path, arch
):
    """The scorer pads on the side the reward tokenizer ships with; left-padded rows get
    position ids counted from their first real token. Both sides give the unpadded scores (GPT-2's
    absolute positions make this a real check; Llama's RoPE is shift-invariant)."""
    left = tmp_path / "left"
    shutil.copytree(reward_dirs[arch], left)
    cfg = json.loads((left / "tokenizer_config.json").read_text())
    (left / "tokenizer_config.json").write_text(json.dumps({**cfg, "padding_side": "left"}))
    expected = expected_by_arch[arch]
    by_side = {}
    for path in (reward_dirs[arch], left):
        s = scorer(path, batch_size=4)
        by_side[s.padding_side] = s.score(PROMPTS, RESPONSES)
    assert set(by_side) == {"left", "right"}
    for got in by_side.values():
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    forced = scorer(reward_dirs[arch], batch_size=4, padding_side="left")
    np.testing.assert_allclose(forced.score(PROMPTS, RESPONSES), expected, rtol=1e-5, atol=1e-6)


def test_order_is_restored_after_length_sorting(reward_dir, expected):
    s = scorer(reward_dir, batch_size=2)
    perm = np.array([4, 0, 5, 2, 1, 3])
    got = s.score([PROMPTS[i] for i in perm], [RESPONSES[i] for i in perm])
    np.testing.assert_allclose(got, expected[perm], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("side", ["right", "left"])
def test_truncation_is_counted_reported_and_scores_the_kept_tokens(
    reward_dir, oracles, caplog, side
):
    n = 25  # between the shortest (20 tokens) and the longest (38) conversation
    s = scorer(reward_dir, batch_size=4, max_length=n, truncation_side=side)
    with caplog.at_level(logging.WARNING, logger="training.rewards.reward_model"):
        got = s.score(PROMPTS, RESPONSES)
    oracle_model, tok = oracles["llama"]
    lengths = [
        len(tok.apply_chat_template(messages(p, r), tokenize=True)["input_ids"])
        for p, r in zip(PROMPTS, RESPONSES, strict=True)
    ]
    n_long = sum(length > n for length in lengths)
    assert 0 < n_long < len(PROMPTS)
    meta = s.describe()
    assert meta["truncated"] == n_long and meta["scored"] == len(PROMPTS)
    assert meta["max_length"] == n and meta["truncation_side"] == side
    assert f"{n_long} of {len(PROMPTS)} conversations longer than {n} tokens" in caplog.text
    keep = (lambda ids: ids[:n]) if side == "right" else (lambda ids: ids[-n:])
    want = oracle_scores(oracle_model, tok, PROMPTS, RESPONSES, keep=keep)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_no_truncation_under_the_model_limit_and_describe(reward_dir):
    s = scorer(reward_dir)
    s.score(PROMPTS, RESPONSES)
    s.score(PROMPTS[:2], RESPONSES[:2])
    meta = s.describe()
    assert meta["backend"] == "reward_model" and meta["model"] == str(reward_dir)
    assert meta["dtype"] == "float32"  # dtype auto on CPU
    assert meta["max_length"] == TinyConfig().max_position_embeddings
    assert meta["scored"] == len(PROMPTS) + 2 and meta["truncated"] == 0
    assert meta["logit_index"] == 0 and meta["output_field"] == "logits"
    assert meta["pad_is_eos"] is False and meta["pad_token_id_from_tokenizer"] is False
    json.dumps(meta)


def test_logit_index_and_a_config_without_pad_token_id(reward_dir, oracles, tmp_path):
    """A three-label model saved without config.pad_token_id: the scorer gives it the
    tokenizer's pad id (else batches could not be scored) and reads the chosen column."""
    from transformers import AutoConfig, LlamaForSequenceClassification

    config = AutoConfig.from_pretrained(reward_dir)
    config.num_labels, config.pad_token_id = 3, None
    torch.manual_seed(1)
    model = LlamaForSequenceClassification(config).eval()
    model.save_pretrained(tmp_path / "rm3")
    tok = oracles["llama"][1]
    tok.save_pretrained(tmp_path / "rm3")
    for index in range(3):
        s = scorer(tmp_path / "rm3", batch_size=4, logit_index=index)
        assert s.describe()["pad_token_id_from_tokenizer"] is True
        want = oracle_scores(model, tok, PROMPTS, RESPONSES, logit_index=index)
        np.testing.assert_allclose(s.score(PROMPTS, RESPONSES), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="logit_index 3 but the model has 3 label"):
        scorer(tmp_path / "rm3", logit_index=3)


def test_make_scorer_errors_name_the_valid_choices(reward_dir):
    with pytest.raises(ValueError, match="registered: " + ", ".join(SCORERS)):
        make_scorer("nope")
    with pytest.raises(ValueError, match=r"unknown option 'batchsize' \(valid: .*batch_size"):
        make_scorer("reward_model", model=str(reward_dir), batchsize=3)
    with pytest.raises(ValueError, match="`model`"):
        make_scorer("reward_model")
    with pytest.raises(ValueError, match="truncation_side 'middle'"):
        scorer(reward_dir, truncation_side="middle")
    s = scorer(reward_dir)
    with pytest.raises(ValueError, match="2 prompts but 1 responses"):
        s.score(PROMPTS[:2], RESPONSES[:1])


# --- programmatic rewards --------------------------------------------------------------------


def test_unknown_function_lists_the_registry():
    with pytest.raises(ValueError, match="registered: " + ", ".join(sorted(REWARD_FUNCTIONS))):
        get_reward_function("nope")
    with pytest.raises(ValueError, match="`name` is required; registered: "):
        make_scorer("function")


@pytest.mark.parametrize(
    ("name", "params", "prompt", "response", "want"),
    [
        # 3 words against a target of 4: -|3 - 4| / 4
        ("word_count", {"target": 4}, "p", "one two three", -0.25),
        ("word_count", {"target": 2}, "p", "a b c d e f", -2.0),
        ("word_count", {"target": 5}, "p", "", -1.0),
        # 2 of 3 keywords as whole words, case-insensitive ("Cats" is not "cat")
        ("keyword_inclusion", {"keywords": ["cat", "dog", "river"]}, "p", "A Dog, a CAT.", 2 / 3),
        ("keyword_inclusion", {"keywords": ["cat"]}, "p", "Cats", 0.0),
        ("keyword_inclusion", {"keywords": ["Cat"], "case_sensitive": True}, "p", "cat", 0.0),
        ("sorted_numbers", {}, "sort 3 1 2", "1, 2, 3", 1.0),
        # target 1 2 3; positions 0 and 2 match out of 3
        ("sorted_numbers", {}, "sort 3 1 2", "1 3 3", 2 / 3),
        # target 1 2 3, response 1 2: two matches over the longer list (3)
        ("sorted_numbers", {}, "sort 3 1 2", "1 2", 2 / 3),
        ("sorted_numbers", {"descending": True}, "sort 3 1 2", "3 2 1", 1.0),
        ("sorted_numbers", {}, "sort -1.5 10 2", "-1.5 2 10", 1.0),
        ("sorted_numbers", {}, "no numbers", "none here", 1.0),
    ],
)
def test_builtin_functions_known_answers(name, params, prompt, response, want):
    s = make_scorer("function", name=name, **params)
    got = s.score([prompt], [response])
    assert got.dtype == np.float64
    assert math.isclose(got[0], want, rel_tol=0, abs_tol=1e-12)


def test_every_builtin_documents_itself():
    for entry in REWARD_FUNCTIONS.values():
        assert entry.summary, entry.name


def test_registered_function_scores_message_prompts_by_their_last_user_turn():
    seen = []

    @reward_function("test_echo_length")
    def echo(prompt: str, response: str, *, scale: float = 1.0) -> float:
        """Length of the prompt times scale."""
        seen.append(prompt)
        return scale * len(prompt)

    try:
        s = FunctionScorer("test_echo_length", scale=2.0)
        conv = [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second!"},
        ]
        np.testing.assert_array_equal(s.score(["abc", conv], ["x", "y"]), [6.0, 14.0])
        assert seen == ["abc", "second!"]
        assert s.describe() == {
            "backend": "function",
            "function": "test_echo_length",
            "summary": "Length of the prompt times scale.",
            "module": __name__,
            "params": {"scale": 2.0},
            "scored": 2,
        }
        with pytest.raises(ValueError, match="registered twice"):
            reward_function("test_echo_length")(echo)
    finally:
        del REWARD_FUNCTIONS["test_echo_length"]


def test_function_parameters_and_results_are_checked():
    with pytest.raises(ValueError, match="no parameter 'traget' \\(its parameters: target\\)"):
        make_scorer("function", name="word_count", traget=3)
    with pytest.raises(ValueError, match="parameter 'keywords' is required"):
        make_scorer("function", name="keyword_inclusion")

    @reward_function("test_bad")
    def bad(prompt: str, response: str) -> float:
        """Not a finite number for some responses."""
        return {"nan": float("nan"), "str": "1.0"}.get(response, 1.0)

    try:
        s = FunctionScorer("test_bad")
        assert s.score(["p"], ["fine"])[0] == 1.0
        with pytest.raises(ValueError, match="returned nan for pair 1"):
            s.score(["p", "p"], ["fine", "nan"])
        with pytest.raises(ValueError, match=r"returned '1\.0', not a number for pair 0"):
            s.score(["p"], ["str"])
    finally:
        del REWARD_FUNCTIONS["test_bad"]
    with pytest.raises(ValueError, match="signature must be"):
        reward_function("test_one_arg")(lambda response: 0.0)
    assert "test_one_arg" not in REWARD_FUNCTIONS
