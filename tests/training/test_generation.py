"""The generation interface: Sampling, seeds, the registry, and the transformers backend on the
tiny model (real `model.generate`, CPU, float32)."""

from __future__ import annotations

import json
import re

import pytest
import torch

from training.chat import encode, prompt_text
from training.generation import (
    AUTO,
    BACKENDS,
    FinishReason,
    Sampling,
    backend_options,
    make_generator,
)
from training.generation.registry import resolve_backend
from training.generation.sampling import derive_seed, request_seeds, truncate_at_stop
from training.generation.transformers_backend import TransformersGenerator, left_pad
from training.models import load_model, load_tokenizer
from training.tiny import IM_START

GREEDY = Sampling(n=1, temperature=0, max_new_tokens=10)
PROMPTS = [
    "sort 3 1 2",
    "explain why the river is long and the city is red, in three short steps please",
    [{"role": "system", "content": "be brief"}, {"role": "user", "content": "count to five"}],
    "hi",
]


@pytest.fixture(scope="module")
def gen(tiny_spec):
    return make_generator("transformers", tiny_spec, batch_size=8, num_threads=1)


# ---- Sampling and seeds ----
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, "n must be an integer >= 1"),
        ({"n": 2.0}, "n must be an integer >= 1"),
        ({"temperature": -0.1}, "temperature must be a number >= 0"),
        ({"temperature": float("nan")}, "temperature must be a number >= 0"),
        ({"top_p": 0}, r"top_p must be in \(0, 1\]"),
        ({"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
        ({"max_new_tokens": 0}, "max_new_tokens must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"stop": "###"}, "stop must be a list of strings"),
        ({"stop": ["ok", ""]}, "stop strings must be non-empty"),
    ],
)
def test_sampling_rejects_bad_values_with_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Sampling(**kwargs)


def test_sampling_is_frozen_and_normalises_stop():
    s = Sampling(stop=["a", "b"])
    assert s.stop == ("a", "b") and Sampling(stop=[]).stop is None
    assert s.to_dict()["stop"] == ["a", "b"] and json.dumps(s.to_dict())
    with pytest.raises(AttributeError):
        s.n = 3


def test_seeds_are_stable_and_keyed_by_prompt_not_position():
    """A prompt's request seed depends on (seed, prompt) only: reordering or dropping other
    prompts does not change it (so a stage can resume on a subset)."""
    s = Sampling(seed=7)
    ab, ba = request_seeds(s, ["a", "b"], None), request_seeds(s, ["b", "a"], None)
    assert ab == ba[::-1] and ab[0] != ab[1]
    assert request_seeds(s, ["a"], None) == ab[:1]
    assert request_seeds(Sampling(seed=8), ["a"], None) != ab[:1]
    assert request_seeds(s, ["a", "b"], [5, 6]) == [5, 6]
    assert 0 <= derive_seed("x", 1) < 2**31 and derive_seed("x", 1) == derive_seed("x", 1)
    with pytest.raises(ValueError, match="2 seeds for 1 prompts"):
        request_seeds(s, ["a"], [1, 2])


@pytest.mark.parametrize(
    "text, stop, expected",
    [
        ("one two. three", (".",), ("one two", True)),
        ("abcabc", ("c", "b"), ("a", True)),  # the earliest stop wins, whichever string it is
        ("abc", ("x",), ("abc", False)),
        ("abc", None, ("abc", False)),
    ],
)
def test_truncate_at_stop_cuts_before_the_earliest_stop(text, stop, expected):
    assert truncate_at_stop(text, stop) == expected


# ---- the registry ----
def test_registry_names_drive_errors_and_auto_falls_back_to_transformers(monkeypatch, tiny_spec):
    assert set(BACKENDS) == {"transformers", "openai", "vllm"}
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert resolve_backend(AUTO) == "transformers"
    with pytest.raises(ValueError, match=r"unknown backend 'hf'.*auto, transformers, openai, vllm"):
        make_generator("hf", tiny_spec)
    with pytest.raises(TypeError, match=r"no option.*base_url.*accepts: batch_size, num_threads"):
        make_generator("transformers", tiny_spec, base_url="http://x")
    assert "api_key_env" in backend_options("openai") and "api_key" not in backend_options("openai")


# ---- the transformers backend ----
def test_left_pad_right_aligns_rows():
    ids, mask = left_pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_shapes_counts_and_order(gen):
    texts = gen.generate(PROMPTS, Sampling(n=3, max_new_tokens=6, seed=1))
    assert [len(t) for t in texts] == [3] * len(PROMPTS)
    assert all(isinstance(x, str) for group in texts for x in group)
    # each prompt's samples differ (temperature 1 over ~500 tokens) and the prompts differ
    assert all(len(set(group)) > 1 for group in texts)


def test_each_sample_continues_its_own_prompt(gen):
    """In a sampled batch, every sample's first-step distribution is its own prompt's (guards
    the (prompt, sample) row order of num_return_sequences)."""
    texts = gen.render(PROMPTS)
    groups = gen.complete(texts, Sampling(n=3, max_new_tokens=2, seed=2), top_logprobs=3)
    for text, group in zip(texts, groups, strict=True):
        (alone,) = gen.complete([text], GREEDY, top_logprobs=3)[0][:1]
        expected = [t.token_id for t in alone.logprobs[0].top]
        assert all([t.token_id for t in c.logprobs[0].top] == expected for c in group)


def test_sampling_is_reproducible_and_leaves_the_global_rng_alone(gen):
    s = Sampling(n=2, max_new_tokens=8, seed=3)
    state = torch.get_rng_state()
    a = gen.generate(PROMPTS, s)
    assert torch.equal(torch.get_rng_state(), state)
    assert gen.generate(PROMPTS, s) == a
    assert gen.generate(PROMPTS, Sampling(n=2, max_new_tokens=8, seed=4)) != a


def test_per_prompt_seeds_make_a_prompt_independent_of_the_others(gen):
    s = Sampling(n=2, max_new_tokens=8)
    together = gen.generate(PROMPTS, s, seeds=[11, 12, 13, 14])
    alone = gen.generate(PROMPTS[1:2], s, seeds=[12])
    assert together[1] == alone[0]
    assert gen.generate(PROMPTS[1:2], s, seeds=[99])[0] != alone[0]


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_greedy_is_batch_invariant(gen, tiny_spec, batch_size):
    """A prompt decoded greedily alone equals the same prompt decoded in a batch with longer and
    shorter prompts: the guard against right-padding and a wrong attention mask or positions."""
    alone = [gen.generate([p], GREEDY)[0] for p in PROMPTS]
    batched = make_generator("transformers", tiny_spec, batch_size=batch_size, num_threads=1)
    assert batched.generate(PROMPTS, GREEDY) == alone


def test_greedy_repeats_one_decode_n_times(gen):
    (group,) = gen.generate(["sort 3 1 2"], Sampling(n=3, temperature=0, max_new_tokens=6))
    assert group == [group[0]] * 3


def test_prompts_go_through_the_chat_template(gen, tiny_tokenizer):
    rendered = prompt_text(tiny_tokenizer, "sort 3 1 2")
    assert rendered.startswith(IM_START) and rendered.endswith("assistant\n")
    via_template = gen.complete([rendered], GREEDY)[0][0].text
    assert gen.generate(["sort 3 1 2"], GREEDY)[0][0] == via_template
    assert gen.complete(["sort 3 1 2"], GREEDY)[0][0].text != via_template


def test_max_new_tokens_ends_with_length(gen):
    (c,) = gen.complete(gen.render(["hi"]), Sampling(temperature=0, max_new_tokens=5))[0]
    assert c.finish_reason is FinishReason.LENGTH and len(c.token_ids) == 5


def test_stop_string_cuts_text_and_ends_generation_early(gen):
    full = gen.complete(gen.render(["hi"]), Sampling(temperature=0, max_new_tokens=16))
    text = full[0][0].text
    word = re.search(r"[A-Za-z]{3,}", text[1:])  # a stop string inside the text, not at 0
    assert word, f"the tiny model's greedy text has no ASCII word: {text!r}"
    stop = word.group()
    (c,) = gen.complete(
        gen.render(["hi"]), Sampling(temperature=0, max_new_tokens=16, stop=["@@@", stop])
    )[0]
    assert c.text == text[: text.find(stop)] and c.finish_reason is FinishReason.STOP
    assert len(c.token_ids) < 16  # generation stopped, not only the text


def test_eos_ids_of_the_generation_config_end_the_sample(tiny_spec):
    """EOS is the tokenizer's EOS and every EOS id of the checkpoint's generation config."""
    model, tok = load_model(tiny_spec), load_tokenizer(tiny_spec)
    plain = TransformersGenerator(model, tok, model_name="tiny", num_threads=1)
    (c,) = plain.complete(plain.render(["hi"]), Sampling(temperature=0, max_new_tokens=8))[0]
    fourth = c.token_ids[3]
    assert fourth not in c.token_ids[:3]
    model.generation_config.eos_token_id = [tok.eos_token_id, fourth]
    ends = TransformersGenerator(model, tok, model_name="tiny", num_threads=1)
    (d,) = ends.complete(ends.render(["hi"]), Sampling(temperature=0, max_new_tokens=8))[0]
    assert d.token_ids == c.token_ids[:4] and d.finish_reason is FinishReason.STOP
    assert d.text == tok.decode(c.token_ids[:3])


def test_special_tokens_are_stripped_from_texts(tiny_spec):
    """A model that only ever emits <|im_start|> (a special token, not EOS) returns empty texts."""
    model, tok = load_model(tiny_spec), load_tokenizer(tiny_spec)
    special = tok.convert_tokens_to_ids(IM_START)
    bias = torch.zeros(len(tok))
    bias[special] = 1e4
    model.lm_head.register_forward_hook(lambda module, args, out: out + bias)
    g = TransformersGenerator(model, tok, model_name="tiny", num_threads=1)
    (c,) = g.complete(g.render(["hi"]), Sampling(temperature=0, max_new_tokens=3))[0]
    assert c.token_ids == (special,) * 3 and c.text == ""


def test_sampling_has_no_hidden_top_k(gen):
    """transformers' default top_k=50 must not leak in: some sampled token ranks below 50th."""
    groups = gen.complete(
        gen.render(PROMPTS[:2]), Sampling(n=2, max_new_tokens=12), top_logprobs=50
    )
    ranks_low = [
        t.logprob < t.top[-1].logprob for group in groups for c in group for t in c.logprobs
    ]
    assert any(ranks_low)


def test_top_logprobs_match_the_models_log_softmax(gen, tiny_tokenizer):
    rendered = gen.render(["sort 3 1 2"])
    (c,) = gen.complete(rendered, Sampling(temperature=0, max_new_tokens=1), top_logprobs=5)[0]
    ids = torch.tensor([encode(tiny_tokenizer, rendered[0])])
    with torch.no_grad():
        logp = torch.log_softmax(gen.model(ids).logits[0, -1].float(), -1)
    values, indices = logp.topk(5)
    (t,) = c.logprobs
    assert [x.token_id for x in t.top] == indices.tolist() and t.token_id == indices[0]
    assert [x.logprob for x in t.top] == pytest.approx(values.tolist(), abs=1e-5)


def test_describe_records_what_produced_the_text(gen):
    d = gen.describe(GREEDY)
    assert d["backend"] == "transformers" and d["sampling"]["temperature"] == 0
    assert d["versions"]["transformers"] and d["versions"]["torch"] and d["dtype"] == "float32"
    assert json.dumps(d)


def test_bad_prompts_are_refused(gen):
    with pytest.raises(TypeError, match="not a single prompt"):
        gen.generate("hi", GREEDY)
    with pytest.raises(TypeError, match="prompt 1 has a message without role/content"):
        gen.generate(["ok", [{"text": "x"}]], GREEDY)
    with pytest.raises(ValueError, match="2 seeds for 1 prompts"):
        gen.generate(["ok"], GREEDY, seeds=[1, 2])
