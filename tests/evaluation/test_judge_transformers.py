"""The in-process transformers judge (builtin:tiny-llama): its first-token top-k log-probs are
the model's log_softmax at the last prompt position, and it shares the cache's behaviour."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from evaluation.judge import JudgeCache, JudgeRequest, make_judge  # noqa: E402
from training.chat import encode  # noqa: E402
from training.models import ModelSpec  # noqa: E402

MESSAGES = ({"role": "user", "content": "Which output is better, (a) or (b)? Answer a or b."},)


@pytest.fixture(scope="module")
def tiny_judge():
    spec = ModelSpec("builtin:tiny-llama", dtype="float32", device="cpu")
    judge = make_judge("transformers", spec=spec, num_threads=1)
    yield judge
    judge.close()


def test_top_logprobs_are_the_models_log_softmax(tiny_judge):
    (reply,) = tiny_judge.judge_many([JudgeRequest(MESSAGES, max_tokens=1, top_logprobs=5)])
    gen = tiny_judge.generator
    ids = encode(gen.tokenizer, gen.render([list(MESSAGES)])[0])
    with torch.no_grad():
        logits = gen.model(torch.tensor([ids])).logits[0, -1]
    values, indices = torch.log_softmax(logits.float(), -1).topk(5)
    assert [t for t, _ in reply.top_logprobs] == [gen.tokenizer.decode([i]) for i in indices]
    assert [lp for _, lp in reply.top_logprobs] == pytest.approx(values.tolist(), abs=1e-5)
    assert reply.prompt_tokens == len(ids) and reply.completion_tokens == 1
    assert reply.text == gen.tokenizer.decode([indices[0]], skip_special_tokens=True)


def test_a_rerun_is_served_from_the_cache(tiny_judge, tmp_path):
    requests = [JudgeRequest(MESSAGES, max_tokens=4), JudgeRequest(MESSAGES, max_tokens=2)]
    with JudgeCache(tmp_path / "j.sqlite") as cache:
        tiny_judge.cache = cache
        try:
            first = tiny_judge.judge_many(requests)
            again = tiny_judge.judge_many(requests)
        finally:
            tiny_judge.cache = None
    assert [r.text for r in again] == [r.text for r in first] and all(r.cached for r in again)
    assert not any(r.cached for r in first) and len(cache_rows(tmp_path / "j.sqlite")) == 2
    assert tiny_judge.describe()["backend"] == "transformers"


def cache_rows(path):
    import sqlite3

    return sqlite3.connect(path).execute("SELECT key FROM replies").fetchall()


def test_a_request_for_another_model_is_refused(tiny_judge):
    with pytest.raises(Exception, match="this judge runs"):
        tiny_judge.judge_many([JudgeRequest(MESSAGES, model="gpt-4o", max_tokens=1)])


@pytest.mark.parametrize("favoured", ["eos", "pad"])
def test_a_first_token_eos_or_pad_still_reports_the_first_steps_top_k(tiny_judge, favoured):
    """A weak judge may put EOS (or, a random model, the pad token) first; the protocol reads
    the first step's top-k all the same: the backend reports a log-prob for every generated
    token, EOS included, and a drawn pad token is a generated token, not padding."""
    gen = tiny_judge.generator
    token = gen.eos_ids[0] if favoured == "eos" else gen.pad_id
    assert gen.pad_id not in gen.eos_ids  # else the two cases are one

    def favour(module, args, logits):  # (B, T, V): the token far ahead at every position
        logits = logits.clone()
        logits[..., token] += 100.0
        return logits

    handle = gen.model.lm_head.register_forward_hook(favour)
    try:
        (reply,) = tiny_judge.judge_many([JudgeRequest(MESSAGES, max_tokens=1, top_logprobs=5)])
    finally:
        handle.remove()
    assert reply.text == "" and reply.completion_tokens == 1
    assert reply.top_logprobs[0] == (gen.tokenizer.decode([token]), pytest.approx(0.0, abs=1e-6))
    assert len(reply.top_logprobs) == 5
