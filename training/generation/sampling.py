"""What to draw: the sampling settings every backend honours, and how seeds are derived.

Seeds, the same rule for every backend. Prompt i of a call has a *request seed*: `seeds[i]`
when the caller gives per-prompt seeds, else `prompt_seed(sampling.seed, key_i)`, a hash of the
call's seed and the prompt itself (its rendered text, or the canonical JSON of its messages when
no tokenizer is at hand). A prompt's draws then depend on (seed, prompt, sampling) only, not on
its position or on the other prompts of the call — so a stage can be resumed on a subset of its
prompts. vLLM and OpenAI-compatible servers receive the request seed on each request; the
transformers backend, which batches prompts through one torch RNG stream, documents its own
(weaker) rule in `transformers_backend.py`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

SEED_BITS = 31  # request seeds fit a signed 32-bit integer: every server accepts them


@dataclass(frozen=True)
class Sampling:
    """How to sample: the fields of an OpenAI chat-completions request, with the same meaning."""

    n: int = 1  # samples per prompt (AMPO's pool size N is n)
    temperature: float = 1.0  # 0 = greedy (the n samples are then identical)
    top_p: float = 1.0  # nucleus mass, in (0, 1]
    max_new_tokens: int = 256  # completion tokens per sample, EOS included
    seed: int = 0  # the call's seed; see the module docstring for what it determines
    stop: tuple[str, ...] | None = None  # text stops here; the stop string is not included

    def __post_init__(self):
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"sampling: n must be an integer >= 1, got {self.n!r}")
        if not isinstance(self.temperature, int | float) or not self.temperature >= 0:
            raise ValueError(
                f"sampling: temperature must be a number >= 0 (0 = greedy), got {self.temperature!r}"
            )
        if not isinstance(self.top_p, int | float) or not 0 < self.top_p <= 1:
            raise ValueError(f"sampling: top_p must be in (0, 1], got {self.top_p!r}")
        if (
            isinstance(self.max_new_tokens, bool)
            or not isinstance(self.max_new_tokens, int)
            or self.max_new_tokens < 1
        ):
            raise ValueError(
                f"sampling: max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"sampling: seed must be an integer >= 0, got {self.seed!r}")
        if self.stop is not None:
            if isinstance(self.stop, str):
                raise ValueError(
                    f"sampling: stop must be a list of strings, got the string {self.stop!r}"
                )
            stop = tuple(self.stop)
            if not all(isinstance(s, str) and s for s in stop):
                raise ValueError(f"sampling: stop strings must be non-empty strings, got {stop!r}")
            object.__setattr__(self, "stop", stop or None)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stop"] = list(self.stop) if self.stop else None
        return d


def derive_seed(*parts) -> int:
    """A seed in [0, 2**31) from JSON-serialisable parts (sha256: stable across processes)."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:8], "big") % (1 << SEED_BITS)


def prompt_key(prompt: str | Sequence[dict]) -> str:
    """A canonical string for a prompt when no rendered text is at hand."""
    return prompt if isinstance(prompt, str) else json.dumps(list(prompt), sort_keys=True)


def prompt_seed(seed: int, key: str) -> int:
    """The request seed of one prompt, keyed by its rendered text (or `prompt_key`)."""
    return derive_seed("prompt", seed, key)


def request_seeds(
    sampling: Sampling, keys: Sequence[str], seeds: Sequence[int] | None
) -> list[int]:
    """Per-prompt request seeds: `seeds` as given, else derived from `sampling.seed` and keys."""
    if seeds is None:
        return [prompt_seed(sampling.seed, k) for k in keys]
    if len(seeds) != len(keys):
        raise ValueError(f"generate: {len(seeds)} seeds for {len(keys)} prompts")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or s < 0]
    if bad:
        raise ValueError(f"generate: seeds must be integers >= 0, got {bad[:3]!r}")
    return list(seeds)


def truncate_at_stop(text: str, stop: Sequence[str] | None) -> tuple[str, bool]:
    """`text` cut before the earliest stop string (OpenAI's semantics) and whether one occurred."""
    cut = min((i for i in (text.find(s) for s in stop or ()) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
