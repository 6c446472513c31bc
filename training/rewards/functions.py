"""Programmatic rewards: plain functions `(prompt: str, response: str, *, params) -> float`,
registered by name and wrapped as a Scorer.

    @reward_function("shouting")
    def shouting(prompt: str, response: str) -> float:
        '''Fraction of letters in upper case.'''
        ...

    make_scorer("function", name="word_count", target=20).score(prompts, responses)

A message-list prompt reaches the function as the content of its last user turn. Parameters
after `*` are set when the scorer is built and recorded by `describe()`. A function that returns
something other than a finite number is an error, not a silent NaN in the pool.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from training.chat import check_pairs, last_user_text
from training.padded_batches import progress
from training.rewards.base import RewardValueError


@dataclass(frozen=True)
class RewardFunction:
    name: str
    fn: Callable[..., float]
    summary: str  # the first line of the docstring

    def params(self) -> dict[str, object]:
        """Keyword parameters and their defaults (inspect.Parameter.empty when required)."""
        sig = inspect.signature(self.fn)
        return {p.name: p.default for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY}


REWARD_FUNCTIONS: dict[str, RewardFunction] = {}


def reward_function(name: str) -> Callable:
    """Decorator registering `fn(prompt, response, *, params) -> float` under `name`."""

    def add(fn: Callable) -> Callable:
        if name in REWARD_FUNCTIONS:
            raise ValueError(f"reward function {name!r} is registered twice")
        positional = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if len(positional) != 2:
            raise ValueError(
                f"reward function {name!r}: signature must be (prompt, response, *, params)"
            )
        summary = (inspect.getdoc(fn) or "").split("\n")[0]
        REWARD_FUNCTIONS[name] = RewardFunction(name=name, fn=fn, summary=summary)
        return fn

    return add


def reward_function_names() -> list[str]:
    return sorted(REWARD_FUNCTIONS)


def get_reward_function(name: str) -> RewardFunction:
    """The registered function `name`, or a ValueError listing the registered names."""
    if name not in REWARD_FUNCTIONS:
        raise ValueError(
            f"reward function {name!r} unknown; registered: {', '.join(reward_function_names())}"
        )
    return REWARD_FUNCTIONS[name]


class FunctionScorer:
    """A registered reward function, with its parameters bound, as a Scorer."""

    backend = "function"

    def __init__(self, name: str, *, progress: bool = False, **params):
        self.entry = get_reward_function(name)
        accepted = self.entry.params()
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise ValueError(
                f"reward function {name!r} has no parameter {unknown[0]!r} "
                f"(its parameters: {', '.join(sorted(accepted)) or 'none'})"
            )
        missing = sorted(
            k for k, v in accepted.items() if v is inspect.Parameter.empty and k not in params
        )
        if missing:
            raise ValueError(f"reward function {name!r}: parameter {missing[0]!r} is required")
        self.params = params
        self.progress = progress
        self.n_scored = 0

    @classmethod
    def from_options(cls, **options) -> FunctionScorer:
        if "name" not in options:
            raise ValueError(
                "function: `name` is required; registered: " + ", ".join(reward_function_names())
            )
        return cls(**options)

    def score(self, prompts: Sequence, responses: Sequence[str]) -> np.ndarray:
        check_pairs(prompts, responses)
        out = np.empty(len(responses), dtype=np.float64)
        pairs = zip(prompts, responses, strict=True)
        for i, (prompt, response) in enumerate(
            progress(pairs, self.progress, f"reward {self.entry.name}", total=len(responses))
        ):
            value = self.entry.fn(last_user_text(prompt), response, **self.params)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise RewardValueError(
                    f"reward function {self.entry.name!r} returned {value!r}, not a number", i
                )
            if not math.isfinite(value):
                raise RewardValueError(f"reward function {self.entry.name!r} returned {value}", i)
            out[i] = value
        self.n_scored += len(responses)
        return out

    def describe(self) -> dict:
        return {
            "backend": self.backend,
            "function": self.entry.name,
            "summary": self.entry.summary,
            "module": self.entry.fn.__module__,
            "params": dict(self.params),
            "scored": self.n_scored,
        }


# ---------------------------------------------------------------------------------------------
# Built-in reward functions.

_WORD = re.compile(r"\S+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def words(text: str) -> list[str]:
    """Whitespace-separated words."""
    return _WORD.findall(text)


def numbers(text: str) -> list[float]:
    """The numbers written in `text`, in order (integers and decimals, optional minus sign)."""
    return [float(m) for m in _NUMBER.findall(text)]


@reward_function("word_count")
def word_count(prompt: str, response: str, *, target: int = 50) -> float:
    """Closeness of the response's word count n to `target`: -|n - target| / target.

    0 at the target, -1 for an empty response, linear either side (a length-control task)."""
    if target < 1:
        raise ValueError(f"word_count: target must be >= 1, got {target}")
    return -abs(len(words(response)) - target) / target


@reward_function("keyword_inclusion")
def keyword_inclusion(
    prompt: str, response: str, *, keywords: Sequence[str], case_sensitive: bool = False
) -> float:
    """Fraction of `keywords` that occur in the response as whole words (0 to 1)."""
    if isinstance(keywords, str) or not keywords:
        raise ValueError("keyword_inclusion: keywords must be a non-empty list of strings")
    flags = 0 if case_sensitive else re.IGNORECASE
    found = [re.search(rf"(?<!\w){re.escape(k)}(?!\w)", response, flags) for k in keywords]
    return sum(f is not None for f in found) / len(keywords)


@reward_function("sorted_numbers")
def sorted_numbers(prompt: str, response: str, *, descending: bool = False) -> float:
    """Fraction of positions at which the response's numbers equal the prompt's numbers sorted.

    The target is every number of the prompt, sorted (ascending unless `descending`); the score
    counts positions i where response[i] == target[i] and divides by the longer of the two
    lists, so a missing, extra or misplaced number costs. 1 exactly for the sorted list; 1 for a
    prompt and response without numbers."""
    target = sorted(numbers(prompt), reverse=descending)
    got = numbers(response)
    width = max(len(target), len(got))
    if width == 0:
        return 1.0
    return sum(a == b for a, b in zip(target, got, strict=False)) / width
