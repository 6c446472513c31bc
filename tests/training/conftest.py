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


@pytest.fixture(scope="session")
def tiny_ref_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model with every weight perturbed (seeded): a reference unlike the initial policy,
    so DPO's and IPO's first-step loss already depends on the reference log-probs."""
    import torch

    from training.models import ModelSpec, load_model, load_tokenizer, save_pretrained

    spec = ModelSpec(str(tiny_model_dir), dtype="float32", device="cpu")
    model, tok = load_model(spec), load_tokenizer(spec)
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return save_pretrained(model, tok, tmp_path_factory.mktemp("ref") / "tiny-ref")
