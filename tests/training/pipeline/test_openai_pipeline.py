"""The generate stage on the openai backend, against the local OpenAI-compatible server backed by
the same tiny model: the pools equal the transformers backend's, greedy and sampled (the server
seeds each request with the stage's per-prompt seed)."""

from __future__ import annotations

import pytest
from pipeline_helpers import read_meta, small_recipe

from training.generation import make_generator
from training.stages import run_stage

pytest.importorskip("openai")


@pytest.fixture(scope="module")
def base_url(one_thread):
    from training.generation.serve import serving
    from training.models import ModelSpec

    generator = make_generator("transformers", ModelSpec("builtin:tiny-llama", device="cpu"))
    with serving(generator, host="127.0.0.1", model_name="tiny") as url:
        yield url
    generator.close()


def _openai(url):
    return [
        "--generate.backend",
        "openai",
        "--generate.options",
        f"{{base_url: '{url}', model: tiny}}",
    ]


def test_greedy_pools_equal_the_transformers_backends(base_url, tmp_path):
    greedy = ["--generate.temperature", "0", "--data.limit", "5"]
    local = run_stage("generate", small_recipe(tmp_path, *greedy), out=tmp_path / "local.jsonl")
    remote = run_stage(
        "generate",
        small_recipe(tmp_path, *greedy, *_openai(base_url)),
        out=tmp_path / "remote.jsonl",
    )
    assert remote.read_bytes() == local.read_bytes()
    meta = read_meta(remote)
    assert meta["config"]["backend"] == "openai" and meta["counts"]["samples"] == 5 * 6


def test_sampled_pools_equal_the_transformers_backends(base_url, tiny_run, tmp_path):
    remote = run_stage(
        "generate", small_recipe(tmp_path, *_openai(base_url)), out=tmp_path / "pools.jsonl"
    )
    assert remote.read_bytes() == (tiny_run / "pools.jsonl").read_bytes()
