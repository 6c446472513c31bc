"""Reward from a sequence-classification model (Skywork-Reward, ArmoRM and the like).

The conversation [user prompt, assistant response] is rendered with the REWARD model's own chat
template (not the policy's), tokenised without extra special tokens (the template holds BOS),
and run in length-sorted batches padded with the model's pad id; the reward is
`output.<output_field>[:, logit_index]` (default `logits[:, 0]`), in float64, in input order.

The classification head reads the last non-pad token of each row (transformers finds it as the
rightmost id != config.pad_token_id, so either padding side works); left-padded rows get
position ids counted from their first real token, so a decoder sees exactly the positions of the
unpadded sequence. Conversations longer than `max_length` are truncated; every truncation is
counted, logged and reported by `describe()`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from training.chat import check_pairs, conversation_text, encode
from training.models import (
    ModelSpec,
    describe_loaded,
    load_model,
    load_tokenizer,
    resolve_device,
    spec_and_options,
)
from training.padded_batches import (
    PADDING_SIDES,
    TRUNCATION_SIDES,
    length_sorted_batches,
    pad_batch,
    progress,
    truncate,
)

log = logging.getLogger(__name__)

# A tokenizer's model_max_length above this is transformers' "no limit" sentinel.
_NO_LIMIT = 10**9


@dataclass(frozen=True)
class RewardModelOptions:
    """How pairs are batched and read out (the model itself is a ModelSpec)."""

    batch_size: int = 8
    max_length: int | None = None  # tokens; None: the tokenizer's / model's own limit
    truncation_side: str = "right"  # right keeps the start of the conversation, left its end
    padding_side: str | None = None  # None: the reward tokenizer's own
    logit_index: int = 0  # which column of the output: 0 for single-head reward models
    output_field: str = "logits"  # ArmoRM's custom output holds its preference score in `score`
    progress: bool = True

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError(f"reward_model: batch_size must be >= 1, got {self.batch_size}")
        if self.max_length is not None and self.max_length < 1:
            raise ValueError(f"reward_model: max_length must be >= 1, got {self.max_length}")
        if self.truncation_side not in TRUNCATION_SIDES:
            raise ValueError(
                f"reward_model: truncation_side {self.truncation_side!r} not one of "
                f"{', '.join(TRUNCATION_SIDES)}"
            )
        if self.padding_side is not None and self.padding_side not in PADDING_SIDES:
            raise ValueError(
                f"reward_model: padding_side {self.padding_side!r} not one of "
                f"{', '.join(PADDING_SIDES)} (or None for the tokenizer's)"
            )
        if self.logit_index < 0:
            raise ValueError(f"reward_model: logit_index must be >= 0, got {self.logit_index}")


class RewardModelScorer:
    """`AutoModelForSequenceClassification` as a Scorer."""

    backend = "reward_model"

    def __init__(self, spec: ModelSpec, options: RewardModelOptions = RewardModelOptions()):
        self.spec, self.options = spec, options
        self.tokenizer = load_tokenizer(spec)
        self.model = load_model(spec, kind="reward")
        config = self.model.config.get_text_config()
        # The head looks for config.pad_token_id; a model saved without one cannot find the last
        # token of a padded row, so it gets the tokenizer's (recorded in describe()).
        self.pad_token_id_set = config.pad_token_id is None
        if self.pad_token_id_set:
            config.pad_token_id = self.tokenizer.pad_token_id
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.pad_token_id = int(config.pad_token_id)
        if self.pad_token_id == self.tokenizer.eos_token_id:
            log.warning(
                "reward_model %s: pad id is the EOS id, so the head reads the last token that is "
                "not EOS (a conversation ending in EOS is scored at the token before it)",
                spec.name_or_path,
            )
        num_labels = getattr(self.model.config, "num_labels", None)
        if options.output_field == "logits" and num_labels is not None:
            if options.logit_index >= num_labels:
                raise ValueError(
                    f"reward_model {spec.name_or_path}: logit_index {options.logit_index} but "
                    f"the model has {num_labels} label(s)"
                )
        self.padding_side = options.padding_side or self.tokenizer.padding_side
        self.max_length = options.max_length or self._model_limit()
        self.device = resolve_device(spec.device)
        self.n_scored = 0
        self.n_truncated = 0

    @classmethod
    def from_options(cls, **options) -> RewardModelScorer:
        spec, opts = spec_and_options("reward_model", RewardModelOptions, options)
        return cls(spec, opts)

    def _model_limit(self) -> int | None:
        limits = [getattr(self.model.config, "max_position_embeddings", None)]
        if self.tokenizer.model_max_length < _NO_LIMIT:
            limits.append(self.tokenizer.model_max_length)
        limits = [int(n) for n in limits if n]
        return min(limits) if limits else None

    def encode(self, prompts: Sequence, responses: Sequence[str]) -> tuple[list[list[int]], int]:
        """Token ids of each rendered conversation, truncated; and how many were truncated."""
        check_pairs(prompts, responses)
        seqs, cut = [], 0
        for prompt, response in zip(prompts, responses, strict=True):
            ids = encode(self.tokenizer, conversation_text(self.tokenizer, prompt, response))
            ids, was_cut = truncate(ids, self.max_length, self.options.truncation_side)
            seqs.append(ids)
            cut += was_cut
        return seqs, cut

    def score(self, prompts: Sequence, responses: Sequence[str]) -> np.ndarray:
        import torch

        seqs, cut = self.encode(prompts, responses)
        if cut:
            log.warning(
                "reward_model %s: %d of %d conversations longer than %d tokens truncated (%s)",
                self.spec.name_or_path,
                cut,
                len(seqs),
                self.max_length,
                self.options.truncation_side,
            )
        scores = np.empty(len(seqs), dtype=np.float64)
        batches = length_sorted_batches([len(s) for s in seqs], self.options.batch_size)
        for idx in progress(batches, self.options.progress, "reward"):
            batch = pad_batch(
                [seqs[i] for i in idx], self.pad_token_id, self.padding_side, self.device
            )
            kwargs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
            if self.padding_side == "left":
                kwargs["position_ids"] = batch.position_ids
            with torch.inference_mode():
                out = getattr(self.model(**kwargs), self.options.output_field)
            out = out if out.ndim == 2 else out[:, None]  # (B, labels)
            scores[idx] = out[:, self.options.logit_index].float().cpu().numpy()
        self.n_scored += len(seqs)
        self.n_truncated += cut
        return scores

    def describe(self) -> dict:
        return {
            "backend": self.backend,
            **describe_loaded(self.spec, self.model, self.device),
            **asdict(self.options),
            "max_length": self.max_length,
            "padding_side": self.padding_side,
            "pad_token_id": self.pad_token_id,
            "pad_token_id_from_tokenizer": self.pad_token_id_set,
            "pad_is_eos": self.pad_token_id == self.tokenizer.eos_token_id,
            "scored": self.n_scored,
            "truncated": self.n_truncated,
        }
