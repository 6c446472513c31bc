"""Executable checks of the paper's theoretical claims: `python -m theory check` (`make bounds`).

One module per claim, each registering its check in `CHECKS` (theory/checks/registry.py):
lipschitz (Theorem 6.1's Lipschitz step), policy (Theorem 6.1 under the policy models of
theory/policy_model.py), local_search (Theorem 6.2), group_objective (SWEPO/MPO bias rate and
2-bin reliability), islands (island coverage per strategy).
"""

from . import (  # noqa: F401  (register)
    definitions,
    group_objective,
    islands,
    lipschitz,
    local_search,
    policy,
    reference,
)
from .registry import CHECKS, Check, CheckResult, Verdict, get_check

__all__ = ["CHECKS", "Check", "CheckResult", "Verdict", "get_check"]
