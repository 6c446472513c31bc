"""The harness's small parts: decoding presets, the resumable answers file, run names, and the
MT-bench conversation a second turn is generated from."""

from __future__ import annotations

import json

import pytest

from evaluation.answering import _conversation
from evaluation.decoding import ALPACA_EVAL_PRESETS, alpaca_eval_decoding, mt_bench_sampling
from evaluation.progress import Progress
from evaluation.runs import check_run_name, default_run_name, file_stem


def test_presets_and_overrides_are_recorded():
    simpo = alpaca_eval_decoding("simpo-llama3-instruct")
    assert (simpo.temperature, simpo.top_p, simpo.max_new_tokens) == (0.9, 1.0, 4096)
    assert alpaca_eval_decoding().temperature == 0.7  # the default preset
    changed = alpaca_eval_decoding("greedy", max_new_tokens=64, temperature=None)
    assert (changed.temperature, changed.max_new_tokens) == (0.0, 64)
    assert "max_new_tokens=64" in changed.source and "'greedy'" in changed.source
    assert changed.sampling(seed=5).greedy and changed.sampling(seed=5).seed == 5
    with pytest.raises(ValueError, match=r"unknown decoding preset 'x'.*alpaca_eval, "):
        alpaca_eval_decoding("x")
    assert all(p.source for p in ALPACA_EVAL_PRESETS.values())


@pytest.mark.parametrize(
    ("category", "temperature"),
    [("writing", 0.7), ("roleplay", 0.7), ("math", 0.0), ("coding", 0.0), ("stem", 0.1),
     ("humanities", 0.1), ("reasoning", 0.0), ("extraction", 0.0), ("unknown", 0.7)],
)  # fmt: skip
def test_mt_bench_decodes_as_fastchat(category, temperature):
    s = mt_bench_sampling(category, seed=3)
    assert (s.temperature, s.max_new_tokens, s.n) == (temperature, 1024, 1)


def test_second_turn_sees_the_models_first_answer():
    assert _conversation(("Q1", "Q2"), ["A1"]) == [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
    ]
    assert _conversation(("Q1", "Q2"), []) == [{"role": "user", "content": "Q1"}]


def test_progress_resumes_and_refuses_other_settings(tmp_path):
    out = tmp_path / "model_outputs.json"
    first = Progress(out, {"model": "a", "t": 0.7})
    first.add({"q1": "x", "q2": "y"})
    first.add({"q2": "z"})  # a later value of the same key wins (MT-bench's second turn)
    again = Progress(out, {"t": 0.7, "model": "a"})  # key order does not matter
    assert again.done == {"q1": "x", "q2": "z"}
    with pytest.raises(ValueError, match="unfinished generation with other settings"):
        Progress(out, {"model": "b", "t": 0.7})
    again.finish()
    assert not again.path.exists() and Progress(out, {"model": "b"}).done == {}


def test_progress_redoes_a_line_cut_by_the_interruption(tmp_path):
    out = tmp_path / "a.jsonl"
    Progress(out, {"m": 1}).add({"q1": "x"})
    path = out.with_name("a.jsonl.partial.jsonl")
    path.write_text(path.read_text() + json.dumps({"key": "q2", "value": "y"})[:10])
    assert Progress(out, {"m": 1}).done == {"q1": "x"}
    path.write_text(path.read_text() + "\nnot json\n" + json.dumps({"key": "q3", "value": "w"}))
    with pytest.raises(ValueError, match="line 3: not JSON"):
        Progress(out, {"m": 1})


def test_run_names():
    assert default_run_name("out/run/train/checkpoints/step-000003/") == "step-000003"
    assert default_run_name("builtin:smollm2-135m-instruct") == "smollm2-135m-instruct"
    assert default_run_name("meta-llama/Meta-Llama-3-8B-Instruct") == "Meta-Llama-3-8B-Instruct"
    assert file_stem("gpt-4") == "gpt-4"  # FastChat's show_result reads gpt-4_single.jsonl
    assert file_stem("builtin:smollm2/x") == "builtin_smollm2_x"
    assert check_run_name("ampo-coreset_v2.1") == "ampo-coreset_v2.1"
    for bad in ("", "../up", "a/b", ".hidden", "a b"):
        with pytest.raises(ValueError, match="run name"):
            check_run_name(bad)
