"""The OpenAI-compatible HTTP backend: the official `openai` client against any server.

One request per prompt (its n samples via `n`), `concurrency` requests in flight (a thread
pool), results in prompt order. Two endpoints:
- `chat` (default): `/v1/chat/completions` with the messages; the server applies the template.
- `completions`: `/v1/completions` with the prompt pre-rendered by the local tokenizer's chat
  template (`training.chat.prompt_text` on `spec`), for servers without a chat template or to
  keep the exact prompt text of the other backends.

Credentials: the API key is read from the environment variable named by `api_key_env` (default
OPENAI_API_KEY) and handed to the client; it is never stored on this object, logged, or put in
`describe()`. When the variable is unset and a `base_url` is given (a local server that needs
no key) a placeholder is sent; against api.openai.com a missing key is an error.

Retries: ours, not the client's (the client is built with `max_retries=0`), so that every
attempt is visible and the policy is the same for every server: 408/409/429/5xx responses,
connection errors and timeouts are retried up to `max_retries` times, sleeping
`min(backoff_max, backoff_base * 2**attempt)` scaled by a uniform jitter in [0.5, 1]; other
errors (400, 401, 404, ...) fail at once. A prompt that finally fails raises GenerationError
naming its index in the call.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from training.generation.base import (
    GenerationError,
    Generator,
    Prompt,
    check_prompts,
    library_versions,
)
from training.generation.sampling import Sampling, prompt_key, request_seeds

log = logging.getLogger(__name__)

NO_KEY_PLACEHOLDER = "no-key-needed"
RETRY_STATUS = frozenset({408, 409, 429})  # and every status >= 500


def is_retryable(error: Exception) -> bool:
    """Rate limits, server errors, timeouts and dropped connections are worth another try."""
    import openai

    if isinstance(error, openai.APIStatusError):
        return error.status_code in RETRY_STATUS or error.status_code >= 500
    return isinstance(error, openai.APIConnectionError)  # APITimeoutError is one


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before retry `attempt` (0-based): exponential, capped, jittered."""
    return min(cap, base * 2.0**attempt) * rng.uniform(0.5, 1.0)


def chat_request(messages: list[dict], sampling: Sampling, seed: int) -> dict:
    return {"messages": messages, **_sampling_fields(sampling, seed)}


def completion_request(text: str, sampling: Sampling, seed: int) -> dict:
    return {"prompt": text, **_sampling_fields(sampling, seed)}


def _sampling_fields(sampling: Sampling, seed: int) -> dict:
    fields = {
        "n": sampling.n,
        "temperature": float(sampling.temperature),
        "top_p": float(sampling.top_p),
        "max_tokens": sampling.max_new_tokens,
        "seed": seed,
    }
    if sampling.stop:
        fields["stop"] = list(sampling.stop)
    return fields


class OpenAIGenerator(Generator):
    name = "openai"
    ENDPOINTS = ("chat", "completions")

    def __init__(
        self,
        spec=None,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        endpoint: str = "chat",
        concurrency: int = 8,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 600.0,
    ):
        import openai

        if endpoint not in self.ENDPOINTS:
            raise ValueError(
                f"openai backend: endpoint {endpoint!r} not one of {', '.join(self.ENDPOINTS)}"
            )
        self.model = model or (spec.name_or_path if spec is not None else None)
        if not self.model:
            raise ValueError("openai backend: give the served model's name (model=...) or a spec")
        if concurrency < 1 or max_retries < 0 or backoff_base < 0 or backoff_max < 0:
            raise ValueError("openai backend: concurrency >= 1, retries and backoff >= 0")
        self.base_url, self.api_key_env, self.endpoint = base_url, api_key_env, endpoint
        self.concurrency, self.max_retries = concurrency, max_retries
        self.backoff_base, self.backoff_max, self.timeout = backoff_base, backoff_max, timeout
        self.tokenizer = None
        if endpoint == "completions":
            if spec is None:
                raise ValueError(
                    "openai backend: endpoint 'completions' renders prompts with a local "
                    "tokenizer's chat template; give a spec"
                )
            from training.models import load_tokenizer

            self.tokenizer = load_tokenizer(spec)
        key = os.environ.get(api_key_env)
        if not key:
            if base_url is None:
                raise ValueError(
                    f"openai backend: environment variable {api_key_env} is not set "
                    "(the API key is read only from the environment)"
                )
            key = NO_KEY_PLACEHOLDER
        self._client = openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=timeout)
        self._rng = random.Random()  # jitter only; never shapes the texts

    # ---- the interface ----
    def generate(
        self, prompts: Sequence[Prompt], sampling: Sampling, seeds: Sequence[int] | None = None
    ) -> list[list[str]]:
        requests = self.build_requests(check_prompts(prompts), sampling, seeds)
        send = self._send_chat if self.endpoint == "chat" else self._send_completion
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [pool.submit(self._with_retries, i, send, r) for i, r in enumerate(requests)]
            try:
                results = [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        for i, texts in enumerate(results):
            if len(texts) != sampling.n:
                raise GenerationError(
                    f"openai backend: prompt {i}: the server returned {len(texts)} choices for "
                    f"n={sampling.n}"
                )
        return results

    def build_requests(
        self, prompts: list[Prompt], sampling: Sampling, seeds: Sequence[int] | None
    ) -> list[dict]:
        """The request bodies (without `model`), one per prompt, with its request seed."""
        if self.endpoint == "chat":
            from training.chat import as_messages

            keys = [prompt_key(as_messages(p)) for p in prompts]
            seeds = request_seeds(sampling, keys, seeds)
            return [
                chat_request(as_messages(p), sampling, s)
                for p, s in zip(prompts, seeds, strict=True)
            ]
        from training.chat import prompt_text

        texts = [prompt_text(self.tokenizer, p) for p in prompts]
        seeds = request_seeds(sampling, texts, seeds)
        return [completion_request(t, sampling, s) for t, s in zip(texts, seeds, strict=True)]

    def describe(self, sampling: Sampling | None = None) -> dict:
        return {
            "backend": self.name,
            "model": self.model,
            "base_url": self.base_url,
            "endpoint": self.endpoint,
            "api_key_env": self.api_key_env,  # the variable's name, never its value
            "concurrency": self.concurrency,
            "retries": {
                "max_retries": self.max_retries,
                "backoff_base": self.backoff_base,
                "backoff_max": self.backoff_max,
                "timeout": self.timeout,
            },
            "sampling": sampling.to_dict() if sampling else None,
            "versions": library_versions("openai"),
        }

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"OpenAIGenerator(model={self.model!r}, base_url={self.base_url!r})"

    # ---- requests ----
    def _send_chat(self, body: dict) -> list[str]:
        reply = self._client.chat.completions.create(model=self.model, **body)
        return [c.message.content or "" for c in sorted(reply.choices, key=lambda c: c.index)]

    def _send_completion(self, body: dict) -> list[str]:
        reply = self._client.completions.create(model=self.model, **body)
        return [c.text for c in sorted(reply.choices, key=lambda c: c.index)]

    def _with_retries(self, index: int, send: Callable[[dict], list[str]], body: dict):
        for attempt in range(self.max_retries + 1):
            try:
                return send(body)
            except Exception as error:
                if not is_retryable(error) or attempt == self.max_retries:
                    raise GenerationError(
                        f"openai backend: prompt {index} failed after {attempt + 1} attempt(s): "
                        f"{type(error).__name__}: {_short(error)}"
                    ) from error
                delay = backoff_delay(attempt, self.backoff_base, self.backoff_max, self._rng)
                log.warning(
                    "prompt %d: %s, retry %d/%d in %.2fs",
                    index,
                    type(error).__name__,
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")


def _short(error: Exception, limit: int = 300) -> str:
    text = str(error)
    return text if len(text) <= limit else text[:limit] + "..."
