"""Embeddings from a sentence-transformers model (all-MiniLM-L6-v2 in the AMPO paper).

The only module that imports `sentence_transformers`. Each response is embedded on its own (the
prompt is not read), by `SentenceTransformer(path_or_name).encode`, L2-normalised unless
`normalize=False`. Texts longer than the model's `max_seq_length` are truncated by the model;
they are counted, logged and reported by `describe()`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from training.chat import check_pairs
from training.models import resolve_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentenceTransformerOptions:
    model: str  # local folder written by SentenceTransformer.save, or hub name
    batch_size: int = 32
    normalize: bool = True  # unit-norm rows: dot product = cosine similarity
    device: str = "auto"
    max_seq_length: int | None = None  # None: the model's own
    progress: bool = True
    trust_remote_code: bool = False

    def __post_init__(self):
        if not self.model:
            raise ValueError("sentence_transformers: `model` is empty")
        if self.batch_size < 1:
            raise ValueError(
                f"sentence_transformers: batch_size must be >= 1, got {self.batch_size}"
            )
        if self.max_seq_length is not None and self.max_seq_length < 1:
            raise ValueError(
                f"sentence_transformers: max_seq_length must be >= 1, got {self.max_seq_length}"
            )


class SentenceTransformerEmbedder:
    """`SentenceTransformer` as an Embedder of responses."""

    backend = "sentence_transformers"

    def __init__(self, options: SentenceTransformerOptions):
        from sentence_transformers import SentenceTransformer

        self.options = options
        self.device = resolve_device(options.device)
        self.model = SentenceTransformer(
            options.model, device=self.device, trust_remote_code=options.trust_remote_code
        )
        if options.max_seq_length is not None:
            self.model.max_seq_length = options.max_seq_length
        self.dim = self.model.get_embedding_dimension()
        self.n_embedded = 0
        self.n_truncated = 0

    @classmethod
    def from_options(cls, **options) -> SentenceTransformerEmbedder:
        return cls(SentenceTransformerOptions(**options))

    def count_truncated(self, texts: Sequence[str]) -> int | None:
        """How many texts exceed max_seq_length tokens (None when the model has no tokenizer)."""
        tokenizer, limit = self.model.tokenizer, self.model.max_seq_length
        if tokenizer is None or limit is None or not texts:
            return None if tokenizer is None or limit is None else 0
        lengths = [
            len(ids) for ids in tokenizer(list(texts), truncation=False, verbose=False)["input_ids"]
        ]
        return sum(n > limit for n in lengths)

    def embed(self, prompts: Sequence, responses: Sequence[str]) -> np.ndarray:
        check_pairs(prompts, responses)
        cut = self.count_truncated(responses)
        if cut:
            log.warning(
                "sentence_transformers %s: %d of %d responses longer than %d tokens truncated",
                self.options.model,
                cut,
                len(responses),
                self.model.max_seq_length,
            )
        if not responses:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(responses),
            batch_size=self.options.batch_size,
            normalize_embeddings=self.options.normalize,
            convert_to_numpy=True,
            show_progress_bar=self.options.progress,
        )
        self.n_embedded += len(responses)
        self.n_truncated = None if cut is None else self.n_truncated + cut
        return np.asarray(vectors, dtype=np.float32)

    def describe(self) -> dict:
        return {
            "backend": self.backend,
            **asdict(self.options),
            "device": self.device,
            "max_seq_length": self.model.max_seq_length,
            "dim": self.dim,
            "reads_prompt": False,
            "embedded": self.n_embedded,
            "truncated": self.n_truncated,
        }
