"""The OpenAI-compatible HTTP backend: the official `openai` client against any server.

One request per prompt (its n samples via `n`), `concurrency` requests in flight (a thread
pool), results in prompt order. Two endpoints:
- `chat` (default): `/v1/chat/completions` with the messages; the server applies the template.
- `completions`: `/v1/completions` with the prompt pre-rendered by the local tokenizer's chat
  template (`training.chat.prompt_text` on `spec`), for servers without a chat template or to
  keep the exact prompt text of the other backends.

Credentials and retries: `training.generation.http_retry` (shared with the evaluation judge):
the API key only from the environment variable `api_key_env` (default OPENAI_API_KEY), never
stored here, logged or put in `describe()`; 408/409/429/5xx, connection errors and timeouts
retried with capped exponential backoff and jitter. A prompt that finally fails raises
GenerationError naming its index in the call.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from training.generation.base import (
    GenerationError,
    Generator,
    Prompt,
    check_prompts,
    library_versions,
)
from training.generation.http_retry import RetryPolicy, openai_client, with_retries
from training.generation.sampling import Sampling, prompt_key, request_seeds


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
        self._policy = RetryPolicy(max_retries, backoff_base, backoff_max)
        self._client = openai_client("openai backend", base_url, api_key_env, timeout)
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
        label = f"openai backend: prompt {index}"
        return with_retries(lambda: send(body), self._policy, self._rng, label, GenerationError)
