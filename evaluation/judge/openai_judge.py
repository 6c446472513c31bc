"""The OpenAI-compatible judge: the official `openai` client against OpenAI's GPT-4 family or
any OpenAI-compatible server (`vllm serve`, `python -m training.generation.serve`).

Retries (408/409/429/5xx, timeouts, dropped connections; capped exponential backoff with
jitter) and the API key (only from the environment variable `api_key_env`, never stored here,
logged, cached or described) come from `training.generation.http_retry`, shared with the
generation backend.
"""

from __future__ import annotations

import random

from evaluation.judge.base import Judge, JudgeError, JudgeReply, JudgeRequest
from evaluation.judge.cache import JudgeCache
from training.generation.http_retry import RetryPolicy, openai_client, with_retries

OPENAI_BASE_URL = "https://api.openai.com/v1"  # the identity of `base_url=None`


class OpenAIJudge(Judge):
    name = "openai"

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        cache: JudgeCache | None = None,
        concurrency: int = 8,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 600.0,
        prices: dict[str, tuple[float, float]] | None = None,
    ):
        super().__init__(model, cache, concurrency, prices)
        self.base_url, self.api_key_env, self.timeout = base_url, api_key_env, timeout
        self.policy = RetryPolicy(max_retries, backoff_base, backoff_max)
        self._client = openai_client("openai judge", base_url, api_key_env, timeout)
        self._rng = random.Random()  # jitter only

    def identity(self) -> dict:
        return {"backend": self.name, "base_url": (self.base_url or OPENAI_BASE_URL).rstrip("/")}

    def describe(self) -> dict:
        return {
            **super().describe(),
            "api_key_env": self.api_key_env,  # the variable's name, never its value
            "retries": {**self.policy.__dict__, "timeout": self.timeout},
        }

    def send(self, request: JudgeRequest) -> JudgeReply:
        body = {
            "model": request.model,
            "messages": [dict(m) for m in request.messages],
            "temperature": float(request.temperature),
            "max_tokens": request.max_tokens,
        }
        if request.top_logprobs is not None:
            body.update(logprobs=True, top_logprobs=request.top_logprobs)
        label = f"openai judge ({request.model})"
        reply = with_retries(
            lambda: self._client.chat.completions.create(**body),
            self.policy,
            self._rng,
            label,
            JudgeError,
        )
        if not reply.choices:
            raise JudgeError(f"{label}: the server returned no choices")
        choice = reply.choices[0]
        top = None
        if request.top_logprobs is not None:
            content = choice.logprobs.content if choice.logprobs is not None else None
            if not content:
                raise JudgeError(f"{label}: top_logprobs asked for but not returned")
            top = tuple((t.token, float(t.logprob)) for t in content[0].top_logprobs)
        usage = reply.usage
        return JudgeReply(
            choice.message.content or "",
            top,
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
        )

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"OpenAIJudge(model={self.model!r}, base_url={self.base_url!r})"
