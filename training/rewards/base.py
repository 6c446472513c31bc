"""The reward contract: `Scorer.score(prompts, responses) -> (n,) float64`, and its backends.

A scorer gives one reward per (prompt, response) pair; a prompt is a string (one user turn) or a
message list (`training.chat`). `describe()` returns what a `*.meta.json` records about it:
backend, model or function, options, and counts (pairs scored, pairs truncated).

Backends are registered here by name; `make_scorer(backend, **options)` builds one, and config
choices, CLI choices and error messages derive from `SCORERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from training.chat import Message

Prompt = str | Sequence[Message]


class RewardValueError(ValueError):
    """A scorer produced no usable reward for pair `index` (of the call's pairs): `problem`
    says what it gave."""

    def __init__(self, problem: str, index: int):
        super().__init__(f"{problem} for pair {index}")
        self.problem, self.index = problem, index


@runtime_checkable
class Scorer(Protocol):
    backend: str

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> np.ndarray:
        """(n,) float64: the reward of responses[i] as an answer to prompts[i]."""
        ...

    def describe(self) -> dict:
        """JSON-ready metadata: backend, source, options, counts."""
        ...


def _reward_model(**options) -> Scorer:
    from training.rewards.reward_model import RewardModelScorer

    return RewardModelScorer.from_options(**options)


def _function(**options) -> Scorer:
    from training.rewards.functions import FunctionScorer

    return FunctionScorer.from_options(**options)


# backend name -> factory(**options); the imports stay lazy so that programmatic rewards need
# no torch or transformers.
SCORERS: dict[str, Callable[..., Scorer]] = {
    "reward_model": _reward_model,
    "function": _function,
}


def scorer_names() -> list[str]:
    return list(SCORERS)


def make_scorer(backend: str, **options) -> Scorer:
    """The scorer `backend` built from `options`, e.g. `make_scorer("reward_model",
    model="Skywork/Skywork-Reward-V2-Llama-3.1-8B", batch_size=16)` or
    `make_scorer("function", name="sorted_numbers")`."""
    if backend not in SCORERS:
        raise ValueError(
            f"reward backend {backend!r} unknown; registered: {', '.join(scorer_names())}"
        )
    return SCORERS[backend](**options)
