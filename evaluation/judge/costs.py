"""Token and cost counters for a run's metrics, with a small per-model price table.

Prices are US dollars per million tokens (prompt, completion), list prices at the time of the
papers' evaluations; pass `prices=` to `Counters` to override or extend. A model missing from
the table (a local judge) costs nothing and is reported under `unpriced_models`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "gpt-4": (30.0, 60.0),
    "gpt-4-0613": (30.0, 60.0),
    "gpt-4-1106-preview": (10.0, 30.0),  # AlpacaEval 2.0's annotator
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
}


@dataclass
class Counters:
    prices: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(PRICES_PER_MTOK))
    requests_sent: int = 0  # replies received from the backend (retries not counted)
    cache_hits: int = 0
    failures: int = 0
    prompt_tokens: int = 0  # of the replies received, not of the cache hits
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_models: set[str] = field(default_factory=set)

    def __post_init__(self):
        self._lock = threading.Lock()

    def add_hit(self) -> None:
        with self._lock:
            self.cache_hits += 1

    def add_failure(self) -> None:
        with self._lock:
            self.failures += 1

    def add_sent(self, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        with self._lock:
            self.requests_sent += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            price = self.prices.get(model)
            if price is None:
                self.unpriced_models.add(model)
            else:
                self.cost_usd += (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6

    def to_dict(self) -> dict:
        """For the run's metrics."""
        with self._lock:
            return {
                "requests_sent": self.requests_sent,
                "cache_hits": self.cache_hits,
                "failures": self.failures,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "cost_usd": self.cost_usd,
                "unpriced_models": sorted(self.unpriced_models),
            }
