"""Embeddings of responses behind one interface (`Embedder`), backends by name.

from training.embeddings import make_embedder
embedder = make_embedder("sentence_transformers", model="path/or/hub-name")
embedder = make_embedder("policy", model="path/of/the/policy")
vectors = embedder.embed(prompts, responses)  # (n, d) float32
meta = embedder.describe()
"""

from training.embeddings.base import EMBEDDERS, Embedder, embedder_names, make_embedder

__all__ = ["EMBEDDERS", "Embedder", "embedder_names", "make_embedder"]
