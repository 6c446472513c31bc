"""A small OpenAI-compatible HTTP server backed by the transformers backend.

    python -m training.generation.serve --model PATH [--port 0]   # prints the bound base URL

Endpoints, with OpenAI's request fields and response shapes (the official client parses them):
- `POST /v1/chat/completions`: messages, n, temperature, top_p, max_tokens (or
  max_completion_tokens), seed, stop, logprobs + top_logprobs (0..20: each generated token's
  log-prob under the model's raw logits and the k most likely tokens);
- `POST /v1/completions`: prompt (a string or a list of strings, used verbatim: no template), the
  same sampling fields, logprobs (an integer 0..20);
- `GET /v1/models`.
A request's `seed` is its request seed (`training.generation.sampling`): the same request gives
the same texts, equal to the in-process transformers backend called with `seeds=[seed]`; without
a seed a random one is drawn. Streaming, `echo`, tools and token-id prompts are refused with 400.
Requests are served one at a time by the model (the backend holds a lock); the API key, if the
client sends one, is ignored and never logged. Stdlib only (`http.server`).

In tests: `with serving(generator) as base_url: ...` starts it on 127.0.0.1, port 0, in a thread.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from training.generation.base import Completion, TokenLogprob
from training.generation.sampling import SEED_BITS, Sampling
from training.generation.transformers_backend import TransformersGenerator

log = logging.getLogger(__name__)

MAX_TOP_LOGPROBS = 20
DEFAULT_MAX_TOKENS = 256


class RequestError(ValueError):
    """A request the server refuses (400), with the offending field."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


def _field(body: dict, name: str, kind, default, check=lambda v: True, hint=""):
    value = body.get(name, default)
    if value is None:
        value = default
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise RequestError(f"{name} must be {hint or kind}", name)
    if not check(value):
        raise RequestError(f"{name} {hint}, got {value!r}", name)
    return value


def parse_sampling(body: dict, default_max_tokens: int) -> tuple[Sampling, int]:
    """(Sampling, request seed) from an OpenAI request body."""
    for unsupported in ("stream", "echo", "tools", "functions", "response_format"):
        if body.get(unsupported):
            raise RequestError(f"{unsupported} is not supported by this server", unsupported)
    if body.get("best_of") not in (None, 1) or isinstance(body.get("best_of"), bool):
        raise RequestError("best_of is not supported by this server", "best_of")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    seed = body.get("seed")
    if seed is None:
        seed = secrets.randbelow(1 << SEED_BITS)
    try:
        sampling = Sampling(
            n=_field(body, "n", int, 1),
            temperature=_field(body, "temperature", int | float, 1.0),
            top_p=_field(body, "top_p", int | float, 1.0),
            max_new_tokens=default_max_tokens if max_tokens is None else max_tokens,
            seed=seed,
            stop=stop or None,
        )
    except ValueError as error:
        raise RequestError(str(error).removeprefix("sampling: ")) from error
    return sampling, seed


def _message_text(message: dict) -> dict:
    """A message with string content (OpenAI's list-of-parts content joined)."""
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(message.get("role"), str) or not isinstance(content, str):
        raise RequestError("each message needs a role and text content", "messages")
    return {"role": message["role"], "content": content}


def _token_entry(token: str, logprob: float) -> dict:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


def chat_logprobs(logprobs: tuple[TokenLogprob, ...]) -> dict:
    return {
        "content": [
            {
                **_token_entry(t.token, t.logprob),
                "top_logprobs": [_token_entry(c.token, c.logprob) for c in t.top],
            }
            for t in logprobs
        ],
        "refusal": None,
    }


def completion_logprobs(logprobs: tuple[TokenLogprob, ...]) -> dict:
    offsets, at = [], 0
    for t in logprobs:
        offsets.append(at)
        at += len(t.token)
    return {
        "tokens": [t.token for t in logprobs],
        "token_logprobs": [t.logprob for t in logprobs],
        "top_logprobs": [{c.token: c.logprob for c in t.top} for t in logprobs],
        "text_offset": offsets,
    }


class OpenAICompatibleApp:
    """The endpoints as functions of a JSON body (no HTTP here)."""

    def __init__(
        self,
        generator: TransformersGenerator,
        model_name: str | None = None,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
    ):
        self.generator = generator
        self.model_name = model_name or generator.model_name
        self.default_max_tokens = default_max_tokens
        self.created = int(time.time())

    def models(self, body: dict | None = None) -> dict:
        card = {
            "id": self.model_name,
            "object": "model",
            "created": self.created,
            "owned_by": "ampo",
        }
        return {"object": "list", "data": [card]}

    def chat_completions(self, body: dict) -> dict:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("messages must be a non-empty list", "messages")
        messages = [_message_text(m) for m in messages]
        sampling, seed = parse_sampling(body, self.default_max_tokens)
        top = self._top_logprobs(body)
        text = self.generator.render([messages])[0]
        (group,) = self.generator.complete([text], sampling, seeds=[seed], top_logprobs=top)
        choices = [
            {
                "index": j,
                "message": {"role": "assistant", "content": c.text, "refusal": None},
                "logprobs": chat_logprobs(c.logprobs) if top is not None else None,
                "finish_reason": c.finish_reason.value,
            }
            for j, c in enumerate(group)
        ]
        return self._reply("chat.completion", "chatcmpl", choices, [text], [group])

    def completions(self, body: dict) -> dict:
        prompts = body.get("prompt")
        prompts = [prompts] if isinstance(prompts, str) else prompts
        if (
            not isinstance(prompts, list)
            or not prompts
            or not all(isinstance(p, str) for p in prompts)
        ):
            raise RequestError("prompt must be a string or a list of strings", "prompt")
        sampling, seed = parse_sampling(body, self.default_max_tokens)
        top = body.get("logprobs")
        if top is not None and (
            isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= MAX_TOP_LOGPROBS
        ):
            raise RequestError(f"logprobs must be an integer in 0..{MAX_TOP_LOGPROBS}", "logprobs")
        try:
            groups = self.generator.complete(prompts, sampling, [seed] * len(prompts), top)
        except ValueError as error:
            raise RequestError(str(error), "prompt") from error
        choices = [
            {
                "index": i * sampling.n + j,
                "text": c.text,
                "logprobs": completion_logprobs(c.logprobs) if top is not None else None,
                "finish_reason": c.finish_reason.value,
            }
            for i, group in enumerate(groups)
            for j, c in enumerate(group)
        ]
        return self._reply("text_completion", "cmpl", choices, prompts, groups)

    def _top_logprobs(self, body: dict) -> int | None:
        want = _field(body, "logprobs", bool, False, hint="a boolean")
        k = body.get("top_logprobs")
        if k is not None and not want:
            raise RequestError("top_logprobs needs logprobs: true", "top_logprobs")
        if not want:
            return None
        return _field(
            body,
            "top_logprobs",
            int,
            0,
            lambda v: 0 <= v <= MAX_TOP_LOGPROBS,
            f"must be in 0..{MAX_TOP_LOGPROBS}",
        )

    def _reply(self, kind, prefix, choices, texts, groups: list[list[Completion]]) -> dict:
        from training.chat import encode

        prompt_tokens = sum(len(encode(self.generator.tokenizer, t)) for t in texts)
        completion_tokens = sum(len(c.token_ids) for group in groups for c in group)
        return {
            "id": f"{prefix}-{uuid.uuid4().hex}",
            "object": kind,
            "created": int(time.time()),
            "model": self.model_name,
            "system_fingerprint": None,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


ROUTES = {
    ("GET", "/v1/models"): OpenAICompatibleApp.models,
    ("POST", "/v1/chat/completions"): OpenAICompatibleApp.chat_completions,
    ("POST", "/v1/completions"): OpenAICompatibleApp.completions,
}


def _error(message: str, kind: str, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every reply has a Content-Length
    server: AppServer

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method: str):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        route = ROUTES.get((method, self.path.split("?", 1)[0].rstrip("/")))
        if route is None:
            self._send(HTTPStatus.NOT_FOUND, _error(f"no route {method} {self.path}", "not_found"))
            return
        try:
            body = json.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise RequestError("the request body must be a JSON object")
            reply = route(self.server.app, body)
        except json.JSONDecodeError as error:
            self._send(
                HTTPStatus.BAD_REQUEST, _error(f"invalid JSON: {error}", "invalid_request_error")
            )
        except RequestError as error:
            status, payload = (
                HTTPStatus.BAD_REQUEST,
                _error(str(error), "invalid_request_error", error.param),
            )
            self._send(status, payload)
        except Exception as error:
            log.exception("request failed")
            self._send(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                _error(f"{type(error).__name__}: {error}", "server_error"),
            )
        else:
            self._send(HTTPStatus.OK, reply)

    def _send(self, status: HTTPStatus, payload: dict):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # request lines only (never headers), at debug level
        log.debug("%s %s", self.address_string(), format % args)


class AppServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app: OpenAICompatibleApp, host: str = "127.0.0.1", port: int = 0):
        super().__init__((host, port), Handler)
        self.app = app

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"


@contextmanager
def serving(
    generator: TransformersGenerator,
    host: str = "127.0.0.1",
    port: int = 0,
    model_name: str | None = None,
    server_class=AppServer,
) -> Iterator[str]:
    """Serve `generator` in a background thread; yields the base URL (`http://host:port/v1`)."""
    server = server_class(OpenAICompatibleApp(generator, model_name), host, port)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="ampo-serve", daemon=True
    )
    thread.start()
    try:
        yield server.base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def main(argv=None) -> None:
    from training.models import DTYPES, ModelSpec

    parser = argparse.ArgumentParser(
        prog="python -m training.generation.serve", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", required=True, help="path, hub name or builtin:tiny-llama")
    parser.add_argument("--gguf-file", default=None)
    parser.add_argument("--dtype", default="auto", choices=DTYPES)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--served-model-name", default=None, help="the name clients ask for")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-tokens-default", type=int, default=DEFAULT_MAX_TOKENS)
    args = parser.parse_args(argv)

    spec = ModelSpec(args.model, gguf_file=args.gguf_file, dtype=args.dtype, device=args.device)
    generator = TransformersGenerator.from_spec(spec, batch_size=args.batch_size)
    app = OpenAICompatibleApp(generator, args.served_model_name, args.max_tokens_default)
    server = AppServer(app, args.host, args.port)
    print(f"serving {app.model_name} at {server.base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
