"""Every AMPO selection strategy behind one batched API (numpy and torch).

from selection import select, STRATEGIES
sel = select("ampo_coreset", rewards, embeddings, k=8)
"""

from . import strategies  # noqa: F401  (fills STRATEGIES)
from .api import Selection, select, select_one
from .objective import coverage_cost, coverage_weights
from .registry import STRATEGIES, Strategy, get_strategy, strategy_names
from .validate import SelectionInputError

__all__ = [
    "STRATEGIES",
    "Selection",
    "SelectionInputError",
    "Strategy",
    "coverage_cost",
    "coverage_weights",
    "get_strategy",
    "select",
    "select_one",
    "strategy_names",
]
