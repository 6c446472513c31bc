"""Rewards of (prompt, response) pairs behind one interface (`Scorer`), backends by name.

    from training.rewards import make_scorer
    scorer = make_scorer("reward_model", model="path/or/hub-name", batch_size=16)
    scorer = make_scorer("function", name="sorted_numbers")
    rewards = scorer.score(prompts, responses)  # (n,) float64
    meta = scorer.describe()

Programmatic rewards register with `@reward_function("name")` (see `functions.py`).
"""

from training.rewards.base import SCORERS, RewardValueError, Scorer, make_scorer, scorer_names
from training.rewards.functions import (
    REWARD_FUNCTIONS,
    FunctionScorer,
    RewardFunction,
    get_reward_function,
    reward_function,
    reward_function_names,
)

__all__ = [
    "REWARD_FUNCTIONS",
    "SCORERS",
    "FunctionScorer",
    "RewardFunction",
    "RewardValueError",
    "Scorer",
    "get_reward_function",
    "make_scorer",
    "reward_function",
    "reward_function_names",
    "scorer_names",
]
