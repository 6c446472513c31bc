"""The one registry of selection strategies: the API, CLI, configs and tests derive from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .validate import SelectionInputError, check_options, option_kinds


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
    needs_embeddings: bool = False  # uses the pool geometry (and so collapses duplicates)
    uses_rng: bool = False  # draws random numbers (keyed per prompt by seed and key)
    keeps_best: bool = True  # the pool's highest-reward response is the positive
    group_size: int | None = None  # the only k it accepts, if fixed

    def __post_init__(self):
        option_kinds(self.options)  # every option has a kind `check_options` can check

    def make_options(self, **values):
        """Build the options dataclass from values checked by kind against its annotations,
        naming the valid fields on a typo."""
        return self.options(**check_options(self.name, self.options, values))


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

    if isinstance(name, str) and name in STRATEGIES:
        return STRATEGIES[name]
    valid = ", ".join(sorted(STRATEGIES))
    what = "unknown selection strategy" if isinstance(name, str) else "strategy must be a str, got"
    raise SelectionInputError(f"{what} {name!r}; choose one of: {valid}", field="strategy")


def strategy_names() -> list[str]:
    """Sorted names of every registered strategy."""
    from . import strategies  # noqa: F401

    return sorted(STRATEGIES)
