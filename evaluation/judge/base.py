"""The judge interface: `judge_many(requests) -> replies`, in order, served from a persistent
cache where it can, the rest sent `concurrency` at a time, each reply cached as it arrives.

A `JudgeRequest` is one chat request (messages, decoding parameters); `top_logprobs=k` asks for
the k most likely first tokens with their log-probs (AlpacaEval's weighted protocol: max_tokens
1, k = 5). MT-bench asks for plain text (temperature 0, max_tokens 2048). Backends implement
`identity()` (what answers: the cache key's first part) and `send(request) -> JudgeReply`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import ClassVar

from evaluation.judge.cache import JudgeCache
from evaluation.judge.costs import PRICES_PER_MTOK, Counters


class JudgeError(RuntimeError):
    """A request could not be judged (the message names its index in the call)."""


@dataclass(frozen=True)
class JudgeRequest:
    messages: tuple[dict, ...]  # OpenAI chat messages: {"role", "content"}
    model: str | None = None  # None: the judge's own model
    temperature: float = 0.0
    max_tokens: int = 2048
    top_logprobs: int | None = None  # k most likely first tokens, k in 1..20; None: not asked
    attempt: int = 0  # k > 0: the k-th retry of an unusable reply, cached apart (never sent)

    def __post_init__(self):
        messages = tuple(dict(m) for m in self.messages)
        if not messages or not all(
            isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in messages
        ):
            raise ValueError("judge request: messages must be non-empty {role, content} strings")
        object.__setattr__(self, "messages", messages)
        if isinstance(self.attempt, bool) or not isinstance(self.attempt, int) or self.attempt < 0:
            raise ValueError(
                f"judge request: attempt must be an integer >= 0, got {self.attempt!r}"
            )
        if not self.temperature >= 0:
            raise ValueError(f"judge request: temperature must be >= 0, got {self.temperature!r}")
        if isinstance(self.max_tokens, bool) or self.max_tokens < 1:
            raise ValueError(f"judge request: max_tokens must be >= 1, got {self.max_tokens!r}")
        if self.top_logprobs is not None and not 1 <= self.top_logprobs <= 20:
            raise ValueError(
                f"judge request: top_logprobs must be in 1..20, got {self.top_logprobs}"
            )

    def decoding(self) -> dict:
        """Every decoding parameter: all of them belong in the cache key."""
        return {
            "temperature": float(self.temperature),
            "max_tokens": self.max_tokens,
            "top_logprobs": self.top_logprobs,
        }


@dataclass(frozen=True)
class JudgeReply:
    text: str
    top_logprobs: tuple[tuple[str, float], ...] | None  # first token's k best, best first
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "top_logprobs": None
            if self.top_logprobs is None
            else [list(t) for t in self.top_logprobs],
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }

    @classmethod
    def from_dict(cls, d: dict, cached: bool = False) -> JudgeReply:
        top = d["top_logprobs"]
        return cls(
            d["text"],
            None if top is None else tuple((str(t), float(lp)) for t, lp in top),
            d["prompt_tokens"],
            d["completion_tokens"],
            cached,
        )


class Judge(ABC):
    """A backend plus its cache and counters. Construct through `evaluation.judge.make_judge`."""

    name: ClassVar[str]

    def __init__(
        self,
        model: str,
        cache: JudgeCache | None = None,
        concurrency: int = 8,
        prices: dict[str, tuple[float, float]] | None = None,
    ):
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"judge: concurrency must be an integer >= 1, got {concurrency!r}")
        self.model, self.cache, self.concurrency = model, cache, concurrency
        self.counters = Counters() if prices is None else Counters({**PRICES_PER_MTOK, **prices})

    @abstractmethod
    def identity(self) -> dict:
        """What answers (backend, base_url or model path): never a credential."""

    @abstractmethod
    def send(self, request: JudgeRequest) -> JudgeReply:
        """One request to the backend (retried by the backend as it sees fit)."""

    def describe(self) -> dict:
        return {**self.identity(), "model": self.model, "concurrency": self.concurrency}

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections or the model."""

    # ---- the interface ----
    def judge_many(self, requests: list[JudgeRequest], refresh: bool = False) -> list[JudgeReply]:
        """One reply per request, in order: cached ones without a request, the others sent.
        `refresh=True` sends every request again (a retry of an unusable reply at temperature 0
        would otherwise get the cached one back); the new reply replaces the cached one."""
        resolved = [r if r.model else replace(r, model=self.model) for r in requests]
        replies: list[JudgeReply | None] = [None] * len(resolved)
        identity = self.identity()
        keys = [JudgeCache.key(identity, r) for r in resolved]
        for i, key in enumerate(keys):
            hit = self.cache.get(key) if self.cache is not None and not refresh else None
            if hit is not None:
                replies[i] = hit
                self.counters.add_hit()
        missing = [i for i, r in enumerate(replies) if r is None]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {i: pool.submit(self._one, i, keys[i], resolved[i]) for i in missing}
            try:
                for i, future in futures.items():
                    replies[i] = future.result()
            except BaseException:
                for future in futures.values():
                    future.cancel()  # queued ones; those in flight finish and are cached
                raise
        return replies  # type: ignore[return-value]

    def _one(self, index: int, key: str, request: JudgeRequest) -> JudgeReply:
        try:
            reply = self.send(request)
        except Exception as error:
            self.counters.add_failure()
            if isinstance(error, JudgeError):
                raise
            raise JudgeError(f"{self.name} judge: request {index}: {error}") from error
        if self.cache is not None:
            self.cache.put(key, self.identity(), request, reply)  # now, not at the end
        self.counters.add_sent(request.model, reply.prompt_tokens, reply.completion_tokens)
        return reply
