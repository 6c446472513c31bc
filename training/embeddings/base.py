"""The embedding contract: `Embedder.embed(prompts, responses) -> (n, d) float32`, and its
backends.

Embeddings place each response of a pool in a space where the selection strategies measure
diversity (AMPO's coreset and DPP rules). `describe()` returns what a `*.meta.json` records:
backend, model, options, dimension and counts (responses embedded, responses truncated).

Backends are registered here by name; `make_embedder(backend, **options)` builds one, and config
choices, CLI choices and error messages derive from `EMBEDDERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from training.chat import Message

Prompt = str | Sequence[Message]


@runtime_checkable
class Embedder(Protocol):
    backend: str

    def embed(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> np.ndarray:
        """(n, d) float32: row i embeds responses[i] (given prompts[i], for backends that read
        the prompt)."""
        ...

    def describe(self) -> dict:
        """JSON-ready metadata: backend, model, options, dimension, counts."""
        ...


def _sentence_transformers(**options) -> Embedder:
    from training.embeddings.sentence_encoder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder.from_options(**options)


def _policy(**options) -> Embedder:
    from training.embeddings.policy import PolicyEmbedder

    return PolicyEmbedder.from_options(**options)


# backend name -> factory(**options); imports stay lazy (each backend imports its framework).
EMBEDDERS: dict[str, Callable[..., Embedder]] = {
    "sentence_transformers": _sentence_transformers,
    "policy": _policy,
}


def embedder_names() -> list[str]:
    return list(EMBEDDERS)


def make_embedder(backend: str, **options) -> Embedder:
    """The embedder `backend` built from `options`, e.g. `make_embedder("sentence_transformers",
    model="sentence-transformers/all-MiniLM-L6-v2")` or `make_embedder("policy",
    model="builtin:tiny-llama")`."""
    if backend not in EMBEDDERS:
        raise ValueError(
            f"embedding backend {backend!r} unknown; registered: {', '.join(embedder_names())}"
        )
    return EMBEDDERS[backend](**options)
