"""The model-loading module and the tiny model: real `from_pretrained` on a local folder."""

from __future__ import annotations

import json

import pytest
import torch

from training.chat import encode_pair, encode_prompt, split_text
from training.models import ModelSpec, load_model, load_tokenizer, resolve_dtype, save_pretrained
from training.tiny import EOS, TinyConfig, write_tiny_model


def test_tiny_model_round_trips_through_save_and_from_pretrained(tiny_spec, tmp_path):
    model = load_model(tiny_spec)
    tok = load_tokenizer(tiny_spec)
    assert model.config.model_type == "llama"
    assert model.dtype == torch.float32 and not model.training
    save_pretrained(model, tok, tmp_path / "copy")
    assert (tmp_path / "copy" / "model.safetensors").exists()
    assert (tmp_path / "copy" / "generation_config.json").exists()
    again = load_model(ModelSpec(str(tmp_path / "copy"), dtype="float32", device="cpu"))
    for (name, a), (_, b) in zip(
        model.state_dict().items(), again.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_tiny_model_is_deterministic_in_its_seed(tmp_path):
    a = write_tiny_model(tmp_path / "a", TinyConfig(seed=3))
    b = write_tiny_model(tmp_path / "b", TinyConfig(seed=3))
    c = write_tiny_model(tmp_path / "c", TinyConfig(seed=4))
    load = lambda p: load_model(ModelSpec(str(p), dtype="float32", device="cpu"))  # noqa: E731
    wa, wb, wc = (load(p).model.embed_tokens.weight for p in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert json.loads((a / "tiny_config.json").read_text())["seed"] == 3


def test_builtin_name_builds_into_the_cache_and_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("AMPO_CACHE", str(tmp_path))
    spec = ModelSpec("builtin:tiny-llama", dtype="float32", device="cpu")
    model = load_model(spec)
    assert any(p.name.startswith("tiny-llama-") for p in tmp_path.iterdir())
    assert model.config.hidden_size == TinyConfig().hidden_size
    with pytest.raises(ValueError, match="unknown built-in model 'huge'"):
        load_model(ModelSpec("builtin:huge"))


def test_tokenizer_covers_any_text_and_round_trips(tiny_tokenizer):
    text = "Ünïcödé ✓ and 12345, tabs\tand\nnewlines"
    ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tiny_tokenizer.unk_token_id is None or tiny_tokenizer.unk_token_id not in ids
    assert tiny_tokenizer.decode(ids) == text


def test_chat_split_puts_end_of_turn_in_the_response(tiny_tokenizer):
    head, tail = split_text(tiny_tokenizer, "sort 3 1 2", "1 2 3")
    assert head.endswith("assistant\n") and head.count("sort 3 1 2") == 1
    assert tail.startswith("1 2 3") and EOS in tail
    prompt_ids, response_ids = encode_pair(tiny_tokenizer, "sort 3 1 2", "1 2 3")
    assert prompt_ids == encode_prompt(tiny_tokenizer, "sort 3 1 2")
    assert response_ids.count(tiny_tokenizer.eos_token_id) == 1  # the answer's end of turn
    assert prompt_ids.count(tiny_tokenizer.eos_token_id) == 1  # the user's end of turn only


def test_spec_validates_dtype_and_auto_dtype_follows_device():
    with pytest.raises(ValueError, match="dtype 'fp8'"):
        ModelSpec("x", dtype="fp8")
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("auto", "cuda") == torch.bfloat16


def test_a_builtin_gguf_model_names_its_file_unless_told_otherwise():
    from training.models import SMOLLM2_GGUF

    assert ModelSpec("builtin:smollm2-135m-instruct").gguf_file == SMOLLM2_GGUF
    assert ModelSpec("builtin:smollm2-135m-instruct", gguf_file="x.gguf").gguf_file == "x.gguf"
    assert ModelSpec("builtin:tiny-llama").gguf_file is None
