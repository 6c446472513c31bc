"""Retries and credentials for OpenAI-compatible HTTP clients: the generation backend and the
evaluation judge share this one policy.

Retries are ours, not the client's (build it with `max_retries=0`), so every attempt is visible
and the policy is the same for every server: 408/409/429/5xx responses, connection errors and
timeouts are retried up to `max_retries` times, sleeping `min(backoff_max, backoff_base *
2**attempt)` scaled by a uniform jitter in [0.5, 1]; other errors (400, 401, 404, ...) fail at
once.

Credentials: the API key is read from the environment variable named `api_key_env` and handed
to the client only; callers keep the variable's name, never its value. When the variable is
unset and a `base_url` is given (a local server that needs no key) a placeholder is sent;
against api.openai.com a missing key is an error.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)

NO_KEY_PLACEHOLDER = "no-key-needed"
RETRY_STATUS = frozenset({408, 409, 429})  # and every status >= 500
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    backoff_base: float = 0.5  # seconds before the first retry (before jitter)
    backoff_max: float = 30.0  # cap on one wait

    def __post_init__(self):
        if self.max_retries < 0 or self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError("retry policy: max_retries, backoff_base and backoff_max must be >= 0")


def is_retryable(error: Exception) -> bool:
    """Rate limits, server errors, timeouts and dropped connections are worth another try."""
    import openai

    if isinstance(error, openai.APIStatusError):
        return error.status_code in RETRY_STATUS or error.status_code >= 500
    return isinstance(error, openai.APIConnectionError)  # APITimeoutError is one


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before retry `attempt` (0-based): exponential, capped, jittered."""
    return min(cap, base * 2.0**attempt) * rng.uniform(0.5, 1.0)


def with_retries(
    send: Callable[[], T],
    policy: RetryPolicy,
    rng: random.Random,
    label: str,
    error_type: type[Exception],
) -> T:
    """`send()`, retried under `policy`; the final failure raises `error_type` naming `label`."""
    for attempt in range(policy.max_retries + 1):
        try:
            return send()
        except Exception as error:
            if not is_retryable(error) or attempt == policy.max_retries:
                raise error_type(
                    f"{label} failed after {attempt + 1} attempt(s): "
                    f"{type(error).__name__}: {short(error)}"
                ) from error
            delay = backoff_delay(attempt, policy.backoff_base, policy.backoff_max, rng)
            log.warning(
                "%s: %s, retry %d/%d in %.2fs",
                label,
                type(error).__name__,
                attempt + 1,
                policy.max_retries,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


def openai_client(who: str, base_url: str | None, api_key_env: str, timeout: float):
    """An `openai.OpenAI` client (no client-side retries) with the key from `api_key_env`."""
    import openai

    key = os.environ.get(api_key_env)
    if not key:
        if base_url is None:
            raise ValueError(
                f"{who}: environment variable {api_key_env} is not set "
                "(the API key is read only from the environment)"
            )
        key = NO_KEY_PLACEHOLDER
    return openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=timeout)


def short(error: Exception, limit: int = 300) -> str:
    text = str(error)
    return text if len(text) <= limit else text[:limit] + "..."
