"""Importing this package registers every selection strategy (one module each)."""

from . import (  # noqa: F401
    ampo_bottomk,
    ampo_coreset,
    ampo_optselect,
    best_worst,
    bottom_k,
    dpp,
    kcenter,
    random_k,
    top_k,
)
