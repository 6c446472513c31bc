"""Embeddings from the policy itself: its last-layer hidden states, mean-pooled over the response.

The pair is rendered with the POLICY's chat template and split as every stage splits it
(`training.chat.encode_pair`: the response tokens are the answer and the template's end of turn).
The sequence prompt + response runs through the policy's backbone (`model.base_model`, the
transformer without the LM head: its output is the final-norm hidden state the head reads), and
the embedding is the mean of the hidden states at the response positions only. The prompt is
context (the same response after another prompt embeds differently), never pooled.

Pairs run in length-sorted batches padded on the tokenizer's side; left-padded rows get position
ids counted from their first real token. Pairs longer than `max_length` lose prompt tokens from
the left first (the response is what is embedded); a response longer than `max_length` by itself
keeps its first `max_length` tokens. Every truncation is counted, logged and reported.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from training.chat import check_pairs, encode_pair
from training.models import (
    ModelSpec,
    describe_loaded,
    load_model,
    load_tokenizer,
    resolve_device,
    spec_and_options,
)
from training.padded_batches import PADDING_SIDES, length_sorted_batches, pad_batch, progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PolicyEmbeddingOptions:
    batch_size: int = 8
    max_length: int | None = None  # prompt + response tokens; None: the model's context length
    padding_side: str | None = None  # None: the tokenizer's own
    progress: bool = True

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError(f"policy embedding: batch_size must be >= 1, got {self.batch_size}")
        if self.max_length is not None and self.max_length < 1:
            raise ValueError(f"policy embedding: max_length must be >= 1, got {self.max_length}")
        if self.padding_side is not None and self.padding_side not in PADDING_SIDES:
            raise ValueError(
                f"policy embedding: padding_side {self.padding_side!r} not one of "
                f"{', '.join(PADDING_SIDES)} (or None for the tokenizer's)"
            )


def fit(prompt_ids: list[int], response_ids: list[int], max_length: int | None):
    """(prompt ids, response ids, truncated?) with at most `max_length` tokens in all: prompt
    tokens go first, from the left; then the response keeps its start."""
    if max_length is None or len(prompt_ids) + len(response_ids) <= max_length:
        return prompt_ids, response_ids, False
    if len(response_ids) >= max_length:
        return [], response_ids[:max_length], True
    keep = max_length - len(response_ids)
    return prompt_ids[len(prompt_ids) - keep :], response_ids, True


class PolicyEmbedder:
    """A causal LM's hidden states, mean-pooled over response tokens, as an Embedder."""

    backend = "policy"

    def __init__(self, spec: ModelSpec, options: PolicyEmbeddingOptions = PolicyEmbeddingOptions()):
        self.spec, self.options = spec, options
        self.tokenizer = load_tokenizer(spec)
        self.model = load_model(spec, kind="causal_lm")
        self.backbone = self.model.base_model  # no LM head: (B, T, d) hidden states
        self.device = resolve_device(spec.device)
        self.padding_side = options.padding_side or self.tokenizer.padding_side
        self.max_length = options.max_length or getattr(
            self.model.config, "max_position_embeddings", None
        )
        self.dim = int(self.model.config.get_text_config().hidden_size)
        self.n_embedded = 0
        self.n_truncated = 0

    @classmethod
    def from_options(cls, **options) -> PolicyEmbedder:
        spec, opts = spec_and_options("policy embedding", PolicyEmbeddingOptions, options)
        return cls(spec, opts)

    def encode(self, prompts: Sequence, responses: Sequence[str]):
        """[(prompt ids, response ids)] per pair, fitted to max_length; and how many were cut."""
        check_pairs(prompts, responses)
        pairs, cut = [], 0
        for prompt, response in zip(prompts, responses, strict=True):
            p, r = encode_pair(self.tokenizer, prompt, response)
            if not r:
                raise ValueError("policy embedding: a response renders to no tokens")
            p, r, was_cut = fit(p, r, self.max_length)
            pairs.append((p, r))
            cut += was_cut
        return pairs, cut

    def embed(self, prompts: Sequence, responses: Sequence[str]) -> np.ndarray:
        import torch

        pairs, cut = self.encode(prompts, responses)
        if cut:
            log.warning(
                "policy embedding %s: %d of %d pairs longer than %d tokens truncated",
                self.spec.name_or_path,
                cut,
                len(pairs),
                self.max_length,
            )
        out = np.empty((len(pairs), self.dim), dtype=np.float32)
        lengths = [len(p) + len(r) for p, r in pairs]
        batches = length_sorted_batches(lengths, self.options.batch_size)
        pad_id = self.tokenizer.pad_token_id
        for idx in progress(batches, self.options.progress, "embed"):
            seqs = [pairs[i][0] + pairs[i][1] for i in idx]
            batch = pad_batch(seqs, pad_id, self.padding_side, self.device)
            # Response positions: a row's response is its last len(r) real tokens, which sit at
            # the end of the row (left padding) or just before the padding (right padding).
            width = batch.input_ids.shape[1]
            response = torch.zeros((len(idx), width), dtype=torch.bool)  # (B, T)
            for row, i in enumerate(idx):
                p, r = pairs[i]
                end = width if self.padding_side == "left" else len(p) + len(r)
                response[row, end - len(r) : end] = True
            kwargs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
            if self.padding_side == "left":
                kwargs["position_ids"] = batch.position_ids
            with torch.inference_mode():
                hidden = self.backbone(**kwargs).last_hidden_state.float()  # (B, T, d)
            keep = response.to(hidden.device)[..., None]  # (B, T, 1)
            total = hidden.masked_fill(~keep, 0.0).sum(1)  # (B, d); pads never enter, not even NaN
            mean = total / keep.sum(1)  # (B, d)
            out[idx] = mean.cpu().numpy()
        self.n_embedded += len(pairs)
        self.n_truncated += cut
        return out

    def describe(self) -> dict:
        return {
            "backend": self.backend,
            **describe_loaded(self.spec, self.model, self.device),
            **asdict(self.options),
            "max_length": self.max_length,
            "padding_side": self.padding_side,
            "dim": self.dim,
            "pooling": "mean over response tokens of the last hidden state",
            "reads_prompt": True,
            "embedded": self.n_embedded,
            "truncated": self.n_truncated,
        }
