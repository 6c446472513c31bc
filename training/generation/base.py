"""The one generation interface: `generate(prompts, sampling, seeds) -> n texts per prompt`.

Every backend (transformers, OpenAI-compatible HTTP, vLLM) subclasses `Generator`; the pipeline's
generate stage and the evaluation harness call nothing else. A prompt is a string (one user turn)
or a message list, rendered with the model's own chat template (`training.chat.prompt_text`) by
the backend or the server. Texts come back in prompt order, n per prompt, special tokens
stripped, cut before the first stop string.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from training.generation.sampling import Sampling

Prompt = str | list[dict]


class FinishReason(str, Enum):
    """Why a sample ended (OpenAI's `finish_reason` values)."""

    STOP = "stop"  # EOS or a stop string
    LENGTH = "length"  # max_new_tokens reached


@dataclass(frozen=True)
class TopLogprob:
    token: str
    token_id: int
    logprob: float


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token's log-prob under the model (raw logits, before temperature/top-p)."""

    token: str
    token_id: int
    logprob: float
    top: tuple[TopLogprob, ...]  # the k most likely tokens at this step, best first


@dataclass(frozen=True)
class Completion:
    """One sample with what a server needs to report it."""

    text: str
    token_ids: tuple[int, ...]  # generated ids, EOS included when it ended the sample
    finish_reason: FinishReason
    # one per generated token, EOS included when it ended the sample (as vLLM reports them; a
    # stop string trims `text`, not these); None unless asked
    logprobs: tuple[TokenLogprob, ...] | None = None


class GenerationError(RuntimeError):
    """A prompt could not be completed (the message names its index in the call)."""


def check_prompts(prompts: Sequence[Prompt]) -> list[Prompt]:
    """The prompts as a list, each a non-empty string or a list of {role, content} messages."""
    if isinstance(prompts, str | dict):
        raise TypeError("generate: prompts must be a list of prompts, not a single prompt")
    out = list(prompts)
    for i, p in enumerate(out):
        if isinstance(p, str):
            continue
        if not isinstance(p, list | tuple) or not p:
            raise TypeError(f"generate: prompt {i} must be a string or a non-empty message list")
        for m in p:
            if not (isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m):
                raise TypeError(f"generate: prompt {i} has a message without role/content: {m!r}")
    return out


def library_versions(*packages: str) -> dict[str, str | None]:
    from selection.provenance import versions

    return versions(("ampo", *packages))


class Generator(ABC):
    """A backend. Construct through `training.generation.make_generator`."""

    name: ClassVar[str]

    @abstractmethod
    def generate(
        self, prompts: Sequence[Prompt], sampling: Sampling, seeds: Sequence[int] | None = None
    ) -> list[list[str]]:
        """n texts per prompt, in prompt order; `seeds` are per-prompt request seeds."""

    @abstractmethod
    def describe(self, sampling: Sampling | None = None) -> dict:
        """What produces the text (backend, model, options, sampling, versions): for metadata.
        Never holds credentials."""

    def close(self) -> None:  # noqa: B027 (optional hook: most backends hold nothing)
        """Release the model or connections (idempotent)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
