"""The base of every loss's hyperparameter dataclass, and the checks its fields share.

Each loss owns one frozen dataclass whose fields are named after the paper's symbols (beta,
gamma, alpha, tau, ...). A field's `metadata["help"]` cites the paper and the recommended value;
`__post_init__` validates and raises a ValueError that names the loss and the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import Enum
from typing import ClassVar


@dataclass(frozen=True)
class LossConfig:
    """Hyperparameters of one loss; subclasses set `loss_name` (the registry key)."""

    loss_name: ClassVar[str] = ""

    @property
    def uses_reference(self) -> bool:
        """Whether the loss reads `ref_logps` (a frozen reference model is needed)."""
        return False

    @property
    def uses_lengths(self) -> bool:
        """Whether the loss divides log-probabilities by response lengths."""
        return False

    @property
    def uses_rewards(self) -> bool:
        """Whether the loss reads the reward-model scores."""
        return False

    @classmethod
    def field_help(cls) -> dict[str, str]:
        """Field name -> help text, in declaration order."""
        return {f.name: f.metadata.get("help", "") for f in fields(cls)}

    # -- checks shared by the subclasses' __post_init__ ------------------------------------
    def _fail(self, name: str, requirement: str) -> None:
        value = getattr(self, name)
        raise ValueError(f"{self.loss_name}: {name} must be {requirement}, got {value!r}")

    def _real(self, name: str) -> float:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self._fail(name, "a real number")
        if not math.isfinite(value):
            self._fail(name, "finite")
        object.__setattr__(self, name, float(value))
        return float(value)

    def _require_positive(self, *names: str) -> None:
        for name in names:
            if not self._real(name) > 0:
                self._fail(name, "> 0")

    def _require_nonnegative(self, *names: str) -> None:
        for name in names:
            if not self._real(name) >= 0:
                self._fail(name, ">= 0")

    def _require_choice(self, name: str, choices: type[Enum]) -> None:
        value = getattr(self, name)
        try:
            object.__setattr__(self, name, choices(value))
        except ValueError:
            valid = ", ".join(repr(c.value) for c in choices)
            raise ValueError(
                f"{self.loss_name}: {name} must be one of {valid}, got {value!r}"
            ) from None
