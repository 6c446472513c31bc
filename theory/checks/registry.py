"""The one registry of executable checks of the paper's theoretical claims (`make bounds`).

A check is a function `fn(config, seed) -> CheckResult`, registered with its claim, the precise
formalisation it tests and a frozen config dataclass whose defaults size a run of a few minutes on
2 cores. The CLI (`python -m theory check`), the tests and `paper/INDEX.checks.md` derive their
lists of checks from `CHECKS`.

Slack convention: every check reduces its claim to statements `lhs <= rhs` and reports the slack
`rhs - lhs`, made dimensionless (relative to the statement's scale) so that statements compare; an
equality with a reference is the statement |value - reference| / |reference| <= 0, slack minus that
discrepancy. A negative slack beyond the numerical tolerance RTOL is a violation. `worst_slack` is
the minimum over ALL statements and instances of a check (`assess` computes it, with the worst slack
of each statement), so a check failing any of its statements never shows a healthy slack.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# Inequalities between float64 sums of O(N) terms hold up to rounding: a violation must exceed this
# relative tolerance (of the right-hand side's scale) to count.
RTOL = 1e-9


class Verdict(str, enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: what was claimed, how it was formalised, what was observed."""

    name: str
    claim: str  # the paper's statement, as PAPER.md paraphrases it
    formalisation: str  # the exact statement tested
    instances: int  # random instances (landscapes, groups, ...) tried
    worst_slack: float  # min over instances of (rhs - lhs); < 0 beyond tolerance is a violation
    passed: bool
    details: dict = field(default_factory=dict)  # per-variant slacks, findings, violations (seeds)

    @property
    def verdict(self) -> Verdict:
        return Verdict.PASS if self.passed else Verdict.FAIL

    def to_json(self) -> dict:
        return dataclasses.asdict(self) | {"verdict": self.verdict.value}


@dataclass(frozen=True)
class Check:
    name: str
    number: str  # the claim's number in the list of checks ("1", "4a", ...): the run order
    claim: str
    formalisation: str
    config: type  # frozen dataclass with an `instances` field
    fn: Callable  # fn(config, seed) -> CheckResult

    def run(self, config=None, seed: int = 0, **overrides) -> CheckResult:
        """Run with the default config (or `config`), fields replaced by `overrides`."""
        cfg = self.config() if config is None else config
        if overrides:
            cfg = dataclasses.replace(cfg, **overrides)
        return self.fn(cfg, seed)


CHECKS: dict[str, Check] = {}


def register(name: str, number: str, claim: str, formalisation: str, config: type) -> Callable:
    """Decorator adding a check function to CHECKS under `name`; CHECKS stays ordered by number."""

    def add(fn: Callable) -> Callable:
        if name in CHECKS:
            raise ValueError(f"check {name!r} is registered twice")
        if "instances" not in {f.name for f in dataclasses.fields(config)}:
            raise ValueError(f"the config of check {name!r} needs an `instances` field")
        CHECKS[name] = Check(name, number, claim, " ".join(formalisation.split()), config, fn)
        ordered = sorted(CHECKS.values(), key=lambda c: c.number)
        CHECKS.clear()
        CHECKS.update((c.name, c) for c in ordered)
        return fn

    return add


def get_check(name: str) -> Check:
    """The registered check `name`, or a ValueError listing the valid names."""
    try:
        return CHECKS[name]
    except KeyError:
        valid = ", ".join(sorted(CHECKS))
        raise ValueError(f"unknown check {name!r}; choose one of: {valid}") from None


def result(check_name: str, instances: int, worst_slack: float, passed: bool, **details):
    """A CheckResult carrying the registered claim and formalisation of `check_name`."""
    c = CHECKS[check_name]
    return CheckResult(
        name=c.name,
        claim=c.claim,
        formalisation=c.formalisation,
        instances=int(instances),
        worst_slack=float(worst_slack),
        passed=bool(passed),
        details=details,
    )


@dataclass(frozen=True, eq=False)
class Statement:
    """One statement of a check: its dimensionless slack per instance (M,) or for the run (1,)."""

    name: str
    slack: np.ndarray
    scale: np.ndarray | float = 1.0  # violations need slack < -RTOL * max(1, |scale|)


def assess(statements: list[Statement], seed: int) -> tuple[float, dict[str, float], list[dict]]:
    """(worst slack over every statement, worst slack per statement, violations with their seed,
    instance and statement)."""
    worst, by_statement, bad = np.inf, {}, []
    for st in statements:
        slack = np.asarray(st.slack, np.float64).reshape(-1)
        low = float(slack.min()) if slack.size else np.inf
        by_statement[st.name] = min(by_statement.get(st.name, np.inf), low)
        worst = min(worst, low)
        scale = np.broadcast_to(np.asarray(st.scale, np.float64), slack.shape)
        bad += violations(slack, scale, seed, statement=st.name)
    return float(worst), by_statement, bad


def violations(slack, scale, seed: int, limit: int = 10, **labels) -> list[dict]:
    """The first `limit` instances whose slack (M,) < -RTOL * max(1, scale (M,)).

    Each as {seed, instance, slack, **labels}: (config, seed, instance) reproduces the instance.
    """
    slack = np.asarray(slack, np.float64)
    bad = np.flatnonzero(slack < -RTOL * np.maximum(1.0, np.abs(np.asarray(scale, np.float64))))
    return [
        {"seed": seed, "instance": int(i), "slack": float(slack[i]), **labels} for i in bad[:limit]
    ]
