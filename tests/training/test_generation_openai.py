"""The OpenAI-compatible server (backed by the tiny model) and the openai backend against it, on
127.0.0.1; retries and credentials against a small scripted fake server."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

openai = pytest.importorskip("openai")

from training.chat import encode  # noqa: E402
from training.generation import GenerationError, Sampling, make_generator  # noqa: E402
from training.generation.http_retry import backoff_delay  # noqa: E402
from training.generation.serve import serving  # noqa: E402

PROMPTS = [
    "sort 3 1 2",
    "explain why the river is long and the city is red, in three short steps please",
    [{"role": "system", "content": "be brief"}, {"role": "user", "content": "count to five"}],
]
GREEDY = Sampling(n=2, temperature=0, max_new_tokens=8)


@pytest.fixture(scope="module")
def gen(tiny_spec):
    return make_generator("transformers", tiny_spec, batch_size=8, num_threads=1)


@pytest.fixture(scope="module")
def base_url(gen):
    with serving(gen, model_name="tiny") as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url):
    with openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0) as c:
        yield c


def remote(base_url, spec=None, **options):
    return make_generator("openai", spec, base_url=base_url, model="tiny", **options)


# ---- the server through the official client ----
def test_models_lists_the_served_name(client):
    assert [m.id for m in client.models.list().data] == ["tiny"]


def test_n_samples_per_prompt(base_url):
    texts = remote(base_url).generate(PROMPTS, Sampling(n=3, max_new_tokens=6))
    assert [len(t) for t in texts] == [3, 3, 3]
    assert all(len(set(group)) > 1 for group in texts)


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_greedy_through_the_server_equals_greedy_in_process(gen, base_url, tiny_spec, endpoint):
    """Same model, same template: the server (chat template applied server-side, or the prompt
    pre-rendered by the local tokenizer for /v1/completions) reproduces in-process decoding."""
    via_http = remote(base_url, tiny_spec, endpoint=endpoint).generate(PROMPTS, GREEDY)
    assert via_http == gen.generate(PROMPTS, GREEDY)


def test_seeded_sampling_is_reproducible_and_equals_in_process(gen, base_url):
    """A request's seed is its request seed: the server equals the in-process backend given the
    same per-prompt seeds, the same seed repeats, another seed differs."""
    s = Sampling(n=2, temperature=1.0, max_new_tokens=8, seed=5)
    backend = remote(base_url, concurrency=3)
    first = backend.generate(PROMPTS, s)
    assert backend.generate(PROMPTS, s) == first
    assert backend.generate(PROMPTS, Sampling(n=2, max_new_tokens=8, seed=6)) != first
    seeds = [101, 102, 103]
    assert backend.generate(PROMPTS, s, seeds=seeds) == gen.generate(PROMPTS, s, seeds=seeds)


def test_stop_strings_through_the_server(gen, base_url):
    (text,) = gen.generate(["hi"], Sampling(temperature=0, max_new_tokens=12))[0]
    stop = text.strip()[3:6] or text[-2:]
    s = Sampling(temperature=0, max_new_tokens=12, stop=[stop])
    assert remote(base_url).generate(["hi"], s) == gen.generate(["hi"], s)
    assert stop not in remote(base_url).generate(["hi"], s)[0][0]


def test_top_logprobs_of_a_one_token_answer_match_log_softmax(client, gen, tiny_tokenizer):
    """What the evaluation harness reads: top-5 log-probs of a 1-token greedy answer."""
    messages = [{"role": "user", "content": "yes or no?"}]
    reply = client.chat.completions.create(
        model="tiny", messages=messages, max_tokens=1, temperature=0, logprobs=True, top_logprobs=5
    )
    (choice,) = reply.choices
    (token,) = choice.logprobs.content
    rendered = gen.render([messages])[0]
    with torch.no_grad():
        logits = gen.model(torch.tensor([encode(tiny_tokenizer, rendered)])).logits[0, -1]
    values, indices = torch.log_softmax(logits.float(), -1).topk(5)
    assert [t.token for t in token.top_logprobs] == [tiny_tokenizer.decode([i]) for i in indices]
    assert [t.logprob for t in token.top_logprobs] == pytest.approx(values.tolist(), abs=1e-5)
    assert token.token == choice.message.content == tiny_tokenizer.decode([indices[0]])
    assert token.logprob == pytest.approx(values[0].item(), abs=1e-5)
    assert choice.finish_reason == "length" and reply.usage.completion_tokens == 1
    assert reply.usage.prompt_tokens == len(encode(tiny_tokenizer, rendered))


def test_completions_endpoint_shapes_and_usage(client, tiny_tokenizer):
    reply = client.completions.create(
        model="tiny", prompt=["a b", "the cat"], n=2, max_tokens=4, temperature=0, logprobs=3
    )
    assert [c.index for c in reply.choices] == [0, 1, 2, 3]
    assert reply.choices[0].text == reply.choices[1].text  # greedy: n copies
    assert all(len(c.logprobs.tokens) == 4 for c in reply.choices)
    assert all(len(top) <= 3 for c in reply.choices for top in c.logprobs.top_logprobs)
    prompt_tokens = len(encode(tiny_tokenizer, "a b")) + len(encode(tiny_tokenizer, "the cat"))
    assert reply.usage.prompt_tokens == prompt_tokens and reply.usage.completion_tokens == 16


@pytest.mark.parametrize(
    "extra, match",
    [
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs must be in 0..20"),
        ({"top_logprobs": 3}, "top_logprobs needs logprobs: true"),
        ({"temperature": -1}, "temperature must be a number >= 0"),
        ({"stream": True}, "stream is not supported"),
    ],
)
def test_server_refuses_bad_requests_with_400(client, extra, match):
    with pytest.raises(openai.BadRequestError, match=match):
        client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=2, **extra
        )


def test_a_refused_prompt_fails_at_once_naming_its_index(base_url):
    prompts = ["fine", [{"role": "user", "content": None}]]
    with pytest.raises(GenerationError, match=r"prompt 1 failed after 1 attempt\(s\).*BadRequest"):
        remote(base_url, max_retries=3).generate(prompts, Sampling(max_new_tokens=2))


# ---- retries and credentials against a scripted fake server ----
class Scripted(ThreadingHTTPServer):
    """Answers POSTs with the next scripted status (200 when the script is empty); 'slow'
    sleeps past the client's timeout first. Records every request's Authorization header."""

    daemon_threads = True

    def __init__(self, script):
        super().__init__(("127.0.0.1", 0), ScriptedHandler)
        self.script, self.seen, self.lock = list(script), [], threading.Lock()


class ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.seen.append(self.headers.get("Authorization"))
            step = self.server.script.pop(0) if self.server.script else 200
        if step == "slow":
            time.sleep(0.6)
            step = 200
        if step == 200:
            choices = [
                {
                    "index": j,
                    "message": {"role": "assistant", "content": f"ok {j}"},
                    "finish_reason": "stop",
                }
                for j in range(body.get("n", 1))
            ]
            payload = {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": choices,
            }
        else:
            payload = {
                "error": {"message": f"scripted {step}", "type": "x", "param": None, "code": None}
            }
        data = json.dumps(payload).encode()
        self.send_response(step)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def scripted():
    servers = []

    def start(script):
        server = Scripted(script)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        host, port = server.server_address[:2]
        return server, f"http://{host}:{port}/v1"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


FAST = {"backoff_base": 0.01, "backoff_max": 0.05}


def test_retries_rate_limits_server_errors_and_timeouts_then_succeeds(scripted):
    server, url = scripted([429, 500, "slow", 503])
    backend = remote(url, max_retries=4, timeout=0.3, concurrency=1, **FAST)
    assert backend.generate(["hi"], Sampling(n=2)) == [["ok 0", "ok 1"]]
    assert len(server.seen) == 5


def test_gives_up_after_max_retries_naming_the_prompt(scripted):
    server, url = scripted([200] + [503] * 10)
    backend = remote(url, max_retries=2, concurrency=1, **FAST)
    with pytest.raises(
        GenerationError, match=r"prompt 1 failed after 3 attempt\(s\): InternalServerError"
    ):
        backend.generate(["first", "second"], Sampling())
    assert len(server.seen) == 4


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    import random

    rng = random.Random(0)
    delays = [[backoff_delay(a, 0.5, 4.0, rng) for a in range(6)] for _ in range(50)]
    for row in delays:
        for attempt, d in enumerate(row):
            cap = min(4.0, 0.5 * 2**attempt)
            assert cap / 2 <= d <= cap
    assert len({row[0] for row in delays}) > 1  # jittered


def test_api_key_comes_from_the_environment_and_is_never_written(
    scripted, monkeypatch, caplog, capsys
):
    secret = "sk-ampo-test-SECRET-4242"
    monkeypatch.setenv("AMPO_TEST_KEY", secret)
    server, url = scripted([429])
    caplog.set_level(logging.DEBUG)
    backend = remote(url, api_key_env="AMPO_TEST_KEY", **FAST)
    assert backend.generate(["hi"], Sampling()) == [["ok 0"]]
    assert server.seen == [f"Bearer {secret}"] * 2  # it was sent, on every attempt
    written = [json.dumps(backend.describe(Sampling())), repr(backend), caplog.text]
    written += list(capsys.readouterr())
    assert "AMPO_TEST_KEY" in written[0]
    assert not any(secret in w for w in written)


def test_missing_key_is_an_error_only_without_a_local_base_url(monkeypatch):
    monkeypatch.delenv("AMPO_NO_SUCH_KEY", raising=False)
    with pytest.raises(ValueError, match="AMPO_NO_SUCH_KEY is not set"):
        make_generator("openai", None, model="gpt-x", api_key_env="AMPO_NO_SUCH_KEY")
    local = make_generator(
        "openai", None, model="m", base_url="http://127.0.0.1:9/v1", api_key_env="AMPO_NO_SUCH_KEY"
    )
    assert local.describe()["api_key_env"] == "AMPO_NO_SUCH_KEY"


def test_completions_endpoint_needs_a_local_tokenizer():
    with pytest.raises(ValueError, match="give a spec"):
        make_generator("openai", None, model="m", base_url="http://x/v1", endpoint="completions")


@pytest.mark.slow
def test_serve_cli_prints_its_url_and_answers(tiny_model_dir):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "training.generation.serve", "--model", str(tiny_model_dir),
         "--port", "0", "--dtype", "float32", "--device", "cpu", "--served-model-name", "tiny"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving tiny at http://127.0.0.1:"), line
        url = line.split(" at ")[1].strip()
        with openai.OpenAI(base_url=url, api_key="unused", max_retries=0) as c:
            assert [m.id for m in c.models.list().data] == ["tiny"]
            reply = c.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=3, n=2
            )
            assert len(reply.choices) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=10)
