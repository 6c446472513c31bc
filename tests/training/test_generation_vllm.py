"""The vLLM backend without vLLM: request building is a pure function, the module imports
cleanly, construction explains how to install, and the adapter glue runs against a fake `vllm`."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from training.chat import encode_prompt
from training.generation import Sampling, make_generator
from training.generation.sampling import request_seeds
from training.generation.vllm_backend import build_requests, sampling_params_kwargs

PROMPTS = [
    "sort 3 1 2",
    [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
]


def test_sampling_params_carry_every_field_and_neutralise_model_defaults():
    s = Sampling(n=4, temperature=0.7, top_p=0.9, max_new_tokens=33, seed=1, stop=["###"])
    assert sampling_params_kwargs(s, seed=123) == {
        "n": 4,
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": -1,
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "max_tokens": 33,
        "seed": 123,
        "stop": ["###"],
        "skip_special_tokens": True,
    }


def test_requests_hold_template_token_ids_and_per_prompt_seeds(tiny_tokenizer):
    s = Sampling(n=3, temperature=1.0, max_new_tokens=8, seed=9)
    requests = build_requests(tiny_tokenizer, PROMPTS, s)
    assert [r.prompt["prompt_token_ids"] for r in requests] == [
        encode_prompt(tiny_tokenizer, p) for p in PROMPTS
    ]
    texts = [tiny_tokenizer.decode(r.prompt["prompt_token_ids"]) for r in requests]
    assert [r.params["seed"] for r in requests] == request_seeds(s, texts, None)
    assert all(r.params["n"] == 3 and r.repeat == 1 for r in requests)
    assert [r.params["seed"] for r in build_requests(tiny_tokenizer, PROMPTS, s, [7, 8])] == [7, 8]
    # one BOS at most: the template's, none added in front of it
    ids = requests[0].prompt["prompt_token_ids"]
    assert ids.count(tiny_tokenizer.bos_token_id) <= 1


def test_greedy_draws_once_and_repeats(tiny_tokenizer):
    (r,) = build_requests(tiny_tokenizer, ["hi"], Sampling(n=5, temperature=0))
    assert r.params["n"] == 1 and r.params["temperature"] == 0.0 and r.repeat == 5


def test_module_and_registry_import_without_vllm():
    code = (
        "import sys; sys.modules['vllm'] = None\n"
        "import training.generation.vllm_backend, training.generation as g\n"
        "from training.generation.registry import resolve_backend\n"
        "assert 'vllm' in g.BACKENDS and resolve_backend('auto') == 'transformers'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_constructing_without_vllm_says_how_to_install(monkeypatch, tiny_spec):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ImportError, match=r"pip install ampo\[vllm\]"):
        make_generator("vllm", tiny_spec)


def fake_vllm(calls):
    """A stand-in `vllm` module recording what the backend hands it."""

    class SamplingParams:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    class LLM:
        def __init__(self, **kwargs):
            calls["llm"] = kwargs

        def generate(self, prompts, params, use_tqdm=True):
            calls["generate"] = (prompts, [p.kwargs for p in params])
            outs = []
            for i, p in enumerate(params):
                samples = [
                    types.SimpleNamespace(index=j, text=f"p{i}s{j}") for j in range(p.kwargs["n"])
                ]
                outs.append(types.SimpleNamespace(outputs=samples[::-1]))  # any order
            return outs

    return types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams)


def test_adapter_glue_against_a_fake_vllm(monkeypatch, tiny_spec, tiny_tokenizer):
    calls = {}
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(calls))
    gen = make_generator("vllm", tiny_spec, gpu_memory_utilization=0.5)
    assert calls["llm"]["model"] == tiny_spec.name_or_path and calls["llm"]["dtype"] == "float32"
    assert calls["llm"]["gpu_memory_utilization"] == 0.5
    s = Sampling(n=2, max_new_tokens=4, seed=3)
    assert gen.generate(PROMPTS, s, seeds=[1, 2]) == [["p0s0", "p0s1"], ["p1s0", "p1s1"]]
    prompts, params = calls["generate"]
    assert prompts == [r.prompt for r in build_requests(tiny_tokenizer, PROMPTS, s, [1, 2])]
    assert [p["seed"] for p in params] == [1, 2]
    assert gen.generate(["hi"], Sampling(n=3, temperature=0)) == [["p0s0"] * 3]
    d = gen.describe(s)
    assert d["backend"] == "vllm" and d["sampling"]["n"] == 2 and "vllm" in d["versions"]
    gen.close()
