"""The one registry of selection strategies: the API, CLI, configs and tests derive from it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class NoOptions:
    """A strategy without options."""


@dataclass(frozen=True)
class Strategy:
    """A registered selection rule.

    fn(pool, k, options) -> (indices (B, k), positive (B,)); options is an instance of `options`.
    """

    name: str
    fn: Callable
    summary: str
    options: type = NoOptions
    needs_embeddings: bool = False  # uses the pool geometry (and so rejects duplicates)
    uses_rng: bool = False  # draws random numbers (keyed per prompt by seed and key)
    keeps_best: bool = True  # the pool's highest-reward response is the positive
    group_size: int | None = None  # the only k it accepts, if fixed

    def make_options(self, **values):
        """Build the options dataclass, naming the valid fields on a typo."""
        fields = {f.name for f in dataclasses.fields(self.options)}
        unknown = sorted(set(values) - fields)
        if unknown:
            valid = ", ".join(sorted(fields)) or "none"
            raise ValueError(
                f"strategy {self.name!r} has no option {unknown[0]!r} (its options: {valid})"
            )
        return self.options(**values)


STRATEGIES: dict[str, Strategy] = {}


def register(name: str, summary: str, **traits) -> Callable:
    """Decorator adding a strategy function to STRATEGIES under `name`."""

    def add(fn: Callable) -> Callable:
        if name in STRATEGIES:
            raise ValueError(f"selection strategy {name!r} is registered twice")
        STRATEGIES[name] = Strategy(name=name, fn=fn, summary=summary, **traits)
        return fn

    return add


def get_strategy(name: str) -> Strategy:
    """The registered strategy `name`, or a ValueError listing the valid names."""
    from . import strategies  # noqa: F401  (registers every strategy)

    try:
        return STRATEGIES[name]
    except KeyError:
        valid = ", ".join(sorted(STRATEGIES))
        raise ValueError(f"unknown selection strategy {name!r}; choose one of: {valid}") from None


def strategy_names() -> list[str]:
    """Sorted names of every registered strategy."""
    from . import strategies  # noqa: F401

    return sorted(STRATEGIES)
