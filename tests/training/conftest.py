"""Fixtures of the model half: a tiny Llama-shaped model and tokenizer built locally, once."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _ampo_cache(tmp_path_factory):
    """Built-in models are written under a temporary cache, never the user's home."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AMPO_CACHE", str(tmp_path_factory.mktemp("ampo-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A folder written by `save_pretrained`: the tiny model, its tokenizer, generation config."""
    pytest.importorskip("transformers")
    from training.tiny import TinyConfig, write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("models") / "tiny", TinyConfig())


@pytest.fixture(scope="session")
def tiny_spec(tiny_model_dir):
    from training.models import ModelSpec

    return ModelSpec(str(tiny_model_dir), dtype="float32", device="cpu")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_spec):
    from training.models import load_tokenizer

    return load_tokenizer(tiny_spec)
