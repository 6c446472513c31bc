"""The OpenAI-compatible judge and its cache against a scripted server on 127.0.0.1 that counts
the requests it sees: re-runs are free, interrupted runs resume without repeating a request,
429/500 are retried, top-k log-probs come through, and the API key is written nowhere."""

from __future__ import annotations

import json
import logging
import sqlite3

import pytest
from judge_server import TOP

from evaluation.judge import JudgeCache, JudgeError, JudgeRequest, make_judge
from evaluation.judge.cache import canonical

pytest.importorskip("openai")

FAST = {"backoff_base": 0.01, "backoff_max": 0.05}


def requests(n=6, **decoding):
    return [
        JudgeRequest(({"role": "user", "content": f"compare pair {i}"},), **decoding)
        for i in range(n)
    ]


def judge(server, cache=None, **options):
    options = {"concurrency": 3, "max_retries": 3, **FAST, **options}
    return make_judge("openai", model="gpt-4o", base_url=server.url, cache=cache, **options)


def test_replies_come_back_in_order_with_usage_and_cost(judge_server):
    server = judge_server()
    j = judge(server)
    replies = j.judge_many(requests())
    assert [r.text for r in replies] == [f"verdict: compare pair {i}" for i in range(6)]
    assert not any(r.cached for r in replies)
    c = j.counters.to_dict()
    assert (c["requests_sent"], c["cache_hits"], c["failures"]) == (6, 0, 0)
    assert (c["prompt_tokens"], c["completion_tokens"]) == (600, 60)
    # gpt-4o: $2.5 / $10 per Mtok: 600 * 2.5e-6 + 60 * 10e-6 = 0.0015 + 0.0006
    assert c["cost_usd"] == pytest.approx(0.0021)


def test_at_most_concurrency_requests_are_in_flight(judge_server):
    server = judge_server()
    server.delay = 0.15
    replies = judge(server, concurrency=3).judge_many(requests(9))
    assert server.max_in_flight == 3 and len(replies) == 9


def test_a_rerun_sends_nothing(judge_server, tmp_path):
    server = judge_server()
    with JudgeCache(tmp_path / "judge.sqlite") as cache:
        first = judge(server, cache).judge_many(requests())
    assert len(server.seen) == 6
    with JudgeCache(tmp_path / "judge.sqlite") as cache:  # a new process would reopen the file
        j = judge(server, cache)
        again = j.judge_many(requests())
    assert len(server.seen) == 6  # not one more
    assert [r.text for r in again] == [r.text for r in first] and all(r.cached for r in again)
    assert j.counters.to_dict()["cache_hits"] == 6 and j.counters.to_dict()["cost_usd"] == 0


@pytest.mark.parametrize("concurrency", [1, 3])
def test_an_interrupted_run_resumes_without_repeating_a_request(
    judge_server, tmp_path, concurrency
):
    """The server fails for good after 4 replies (a crash stand-in): those 4 are already in the
    cache (each row is written when its reply arrives, not at the end), so the re-run sends
    exactly the missing ones, and no request is answered twice across both runs."""
    path = tmp_path / "judge.sqlite"
    server = judge_server(fail_after=4)
    with JudgeCache(path) as cache, pytest.raises(JudgeError, match="BadRequestError"):
        judge(server, cache, concurrency=concurrency).judge_many(requests(10))
    with JudgeCache(path) as cache:
        assert len(cache) == 4
    server.fail_after = None
    with JudgeCache(path) as cache:
        j = judge(server, cache, concurrency=concurrency)
        replies = j.judge_many(requests(10))
    answered = [json.dumps(b, sort_keys=True) for b in server.ok()]
    assert len(answered) == 10 and len(set(answered)) == 10  # each paid for exactly once
    assert sum(r.cached for r in replies) == 4 and j.counters.to_dict()["requests_sent"] == 6
    assert [r.text for r in replies] == [f"verdict: compare pair {i}" for i in range(10)]


def test_every_decoding_parameter_is_in_the_key(judge_server, tmp_path):
    """Same messages, one decoding parameter changed: a different key, so a new request."""
    server = judge_server()
    variants = [
        {},
        {"temperature": 0.7},
        {"max_tokens": 1},
        {"max_tokens": 1, "top_logprobs": 5},
        {"max_tokens": 1, "top_logprobs": 3},
        {"model": "gpt-4-1106-preview"},
    ]
    with JudgeCache(tmp_path / "judge.sqlite") as cache:
        j = judge(server, cache)
        for v in variants:
            j.judge_many(requests(1, **v))
        assert len(server.seen) == len(variants) and len(cache) == len(variants)
        for v in variants:
            j.judge_many(requests(1, **v))
        assert len(server.seen) == len(variants)


def test_the_key_names_the_backend_but_not_the_key(judge_server):
    a, b = judge_server(), judge_server()
    (r,) = requests(1)
    ja, jb = judge(a), judge(b)
    assert JudgeCache.key(ja.identity(), r) != JudgeCache.key(jb.identity(), r)
    assert a.url in canonical(ja.identity(), r)


def test_rate_limits_and_server_errors_are_retried(judge_server):
    server = judge_server(script=[429, 500, 503])
    j = judge(server, concurrency=1)
    (reply,) = j.judge_many(requests(1))
    assert reply.text == "verdict: compare pair 0"
    assert [s for s, _, _ in server.seen] == [429, 500, 503, 200]
    assert j.counters.to_dict()["requests_sent"] == 1


def test_gives_up_after_max_retries(judge_server):
    server = judge_server(script=[500] * 10)
    j = judge(server, concurrency=1, max_retries=2)
    with pytest.raises(JudgeError, match=r"failed after 3 attempt\(s\): InternalServerError"):
        j.judge_many(requests(1))
    assert len(server.seen) == 3 and j.counters.to_dict()["failures"] == 1


def test_top_logprobs_of_the_first_token_come_through(judge_server, tmp_path):
    """AlpacaEval's weighted protocol: max_tokens 1, the first token's top-5 log-probs."""
    server = judge_server()
    with JudgeCache(tmp_path / "judge.sqlite") as cache:
        j = judge(server, cache)
        (reply,) = j.judge_many(requests(1, max_tokens=1, top_logprobs=5))
        (cached,) = j.judge_many(requests(1, max_tokens=1, top_logprobs=5))
    assert reply.top_logprobs == tuple(TOP) and cached.top_logprobs == tuple(TOP)
    (_, body, _) = server.seen[0]
    assert body["logprobs"] is True and body["top_logprobs"] == 5 and body["max_tokens"] == 1
    (plain,) = judge(server).judge_many(requests(1))
    assert plain.top_logprobs is None and "logprobs" not in server.seen[-1][1]


def test_the_api_key_is_sent_but_written_nowhere(judge_server, tmp_path, monkeypatch, caplog):
    secret = "sk-ampo-judge-SECRET-9191"
    monkeypatch.setenv("AMPO_JUDGE_KEY", secret)
    caplog.set_level(logging.DEBUG)
    server = judge_server(script=[429])
    path = tmp_path / "judge.sqlite"
    with JudgeCache(path) as cache:
        j = judge(server, cache, api_key_env="AMPO_JUDGE_KEY")
        j.judge_many(requests(2))
        written = [json.dumps(j.describe()), repr(j), caplog.text]
        written += [p.read_bytes().decode("latin-1") for p in tmp_path.iterdir()]  # db + WAL
    assert {auth for _, _, auth in server.seen} == {f"Bearer {secret}"}
    assert "AMPO_JUDGE_KEY" in written[0] and "retry" in caplog.text
    assert not any(secret in w for w in written)
    rows = sqlite3.connect(path).execute("SELECT request FROM replies").fetchall()
    assert all(secret not in r[0] for r in rows) and len(rows) == 2


def test_a_missing_key_is_an_error_against_openai(monkeypatch):
    monkeypatch.delenv("AMPO_NO_SUCH_KEY", raising=False)
    with pytest.raises(ValueError, match="AMPO_NO_SUCH_KEY is not set"):
        make_judge("openai", model="gpt-4o", api_key_env="AMPO_NO_SUCH_KEY")


def test_the_cache_file_is_in_wal_mode(tmp_path):
    with JudgeCache(tmp_path / "j.sqlite") as cache:
        assert cache._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(ValueError, match="known: openai, transformers"):
        make_judge("claude")
