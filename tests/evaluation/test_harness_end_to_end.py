"""The harness end to end on a checkpoint of the trainer's tiny recipe: `python -m evaluation
generate` (in-process, and over HTTP through `training.generation.serve`), `judge` through a
scripted OpenAI-compatible judge on 127.0.0.1, `report` from the saved files alone. The judge's
replies are scripted per request (tests/evaluation/scripted_verdicts.py), so every metric is
known by hand; the files are checked against the formats alpaca_eval and FastChat read."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import scripted_verdicts as sv
from bench_files import QUESTIONS
from harness_cli import (
    bench_data,
    fastchat_answers,
    generate,
    judge,
    read_json,
    record_generation,
)

from evaluation.__main__ import main as cli
from evaluation.alpacaeval.protocol import is_swapped
from evaluation.mtbench import MISSING

FASTCHAT_ANSWER_KEYS = ["question_id", "answer_id", "model_id", "choices", "tstamp"]


@pytest.fixture
def recorded(monkeypatch):
    return record_generation(monkeypatch)


@pytest.fixture
def data(tmp_path, monkeypatch):
    return bench_data(tmp_path, monkeypatch)


def test_generate_judge_report_gives_the_metrics_worked_out_by_hand(
    tiny_checkpoint, data, recorded, judge_server
):
    run, results = "tiny", data["results"]
    generate(data, tiny_checkpoint, run, "--backend", "transformers")

    # ---- answers, in the formats alpaca_eval and FastChat read ----
    outputs = read_json(results / run / "alpaca_eval" / "model_outputs.json")
    assert [list(o) for o in outputs] == [["dataset", "instruction", "output", "generator"]] * 4
    assert [(o["dataset"], o["instruction"], o["generator"]) for o in outputs] == [
        (r["dataset"], r["instruction"], run) for r in sv.ROWS
    ]
    answers = fastchat_answers(data, run)
    assert sorted(answers) == [q["question_id"] for q in QUESTIONS]
    for a in answers.values():
        assert list(a) == FASTCHAT_ANSWER_KEYS and a["model_id"] == run
        assert len(a["choices"][0]["turns"]) == 2 and isinstance(a["tstamp"], float)
    # turn 2 is generated from the conversation holding the model's own first answer
    second_turns = [p for call in recorded for p in call if isinstance(p, list) and len(p) == 3]
    assert len(second_turns) == len(QUESTIONS)
    for messages in second_turns:
        q = next(q for q in QUESTIONS if q["turns"][1] == messages[2]["content"])
        first = answers[q["question_id"]]["choices"][0]["turns"][0]
        assert messages[:2] == [
            {"role": "user", "content": q["turns"][0]},
            {"role": "assistant", "content": first},
        ]

    # ---- judge: the scripted server; preferences and verdicts known ----
    server = judge_server()
    server.answer = sv.reply
    judge(data, server, run)
    assert len(server.seen) == sv.N_ALPACA_REQUESTS + sv.N_MT_BENCH_REQUESTS
    assert all(auth == "Bearer sk-dummy" for _, _, auth in server.seen)

    annotations = read_json(results / run / "alpaca_eval" / "annotations.json")
    assert [r["is_switched_outputs"] for r in annotations] == sv.SWAPPED
    assert sv.SWAPPED == [is_swapped(r["instruction"]) for r in sv.ROWS]  # alpaca_eval's orders
    assert [r["preference"] for r in annotations] == pytest.approx([1.8, 1.0, 1.25, 1.5])
    assert {r["preference_parser"] for r in annotations} == {"logprobs"}
    metrics = read_json(results / run / "alpaca_eval" / "metrics.json")["metrics"]
    assert metrics["win_rate"] == pytest.approx(sv.WIN_RATE)
    assert metrics["standard_error"] == pytest.approx(sv.STANDARD_ERROR, abs=1e-4)
    assert metrics["discrete_win_rate"] == pytest.approx(sv.DISCRETE_WIN_RATE)
    assert metrics["counts"] == sv.COUNTS and (metrics["n"], metrics["n_failed"]) == (4, 0)
    assert metrics["length_controlled_winrate"] is None
    assert "df_gamed" in metrics["lc_unavailable"]
    # the annotations re-score with alpaca_eval itself
    from alpaca_eval.metrics import get_winrate

    direct = get_winrate(pd.read_json(results / run / "alpaca_eval" / "annotations.json"))
    assert float(direct["win_rate"]) == pytest.approx(metrics["win_rate"])

    judgments = results / run / "mt_bench" / "model_judgment" / "gpt-4-1106-preview_single.jsonl"
    rows = [json.loads(line) for line in judgments.read_text().splitlines()]
    scores = {(r["question_id"], r["turn"]): r["score"] for r in rows}
    assert scores[(101, 2)] == MISSING and scores[(111, 2)] == 2 and len(rows) == 6
    mt = read_json(results / run / "mt_bench" / "metrics.json")
    for key, value in sv.MT_BENCH.items():
        assert mt["metrics"][key] == pytest.approx(value), key
    mt_judge = read_json(results / run / "mt_bench" / "judge.json")
    assert (mt_judge["n_retried"], mt_judge["judge_max_tokens"]) == (2, 2048)  # FastChat's

    # ---- a second judge run: every reply from the cache, the same metrics ----
    seen = len(server.seen)
    judge(data, server, run)
    assert len(server.seen) == seen
    for bench, first in (("alpaca_eval", metrics), ("mt_bench", mt["metrics"])):
        assert read_json(results / run / bench / "metrics.json")["metrics"] == first

    # ---- report alone, no judge anywhere: metrics.json rebuilt from the saved files ----
    server.shutdown()
    server.server_close()
    for bench in ("alpaca_eval", "mt_bench"):
        (results / run / bench / "metrics.json").unlink()
    cli(["report", "--results", str(results)])
    assert read_json(results / run / "alpaca_eval" / "metrics.json")["metrics"] == metrics
    assert read_json(results / run / "mt_bench" / "metrics.json")["metrics"] == mt["metrics"]
    assert (results / "leaderboard.md").is_file()


def test_generation_over_http_equals_the_in_process_backend(tiny_checkpoint, data, recorded):
    """`--backend openai` against `training.generation.serve` of the same checkpoint gives the
    in-process transformers backend's answers: the request seeds travel with the requests."""
    from training.generation.serve import serving
    from training.generation.transformers_backend import TransformersGenerator
    from training.models import ModelSpec

    generate(data, tiny_checkpoint, "local", "--backend", "transformers", "--preset", "greedy")
    served = TransformersGenerator.from_spec(ModelSpec(str(tiny_checkpoint)))
    with serving(served, model_name="tiny-served") as url:
        generate(
            data, tiny_checkpoint, "http", "--backend", "openai", "--preset", "greedy",
            "--base-url", url, "--served-model", "tiny-served",
        )  # fmt: skip
    results = data["results"]
    local = read_json(results / "local" / "alpaca_eval" / "model_outputs.json")
    http = read_json(results / "http" / "alpaca_eval" / "model_outputs.json")
    assert [o["output"] for o in http] == [o["output"] for o in local]
    assert any(o["output"] for o in local)  # not vacuous: the model says something
    local_turns = {q: a["choices"][0]["turns"] for q, a in fastchat_answers(data, "local").items()}
    http_turns = {q: a["choices"][0]["turns"] for q, a in fastchat_answers(data, "http").items()}
    assert http_turns == local_turns  # writing is sampled (temperature 0.7): seeds agree too
    generation = read_json(results / "http" / "alpaca_eval" / "generation.json")["generation"]
    assert generation["backend"] == "openai" and "tiny-served" in json.dumps(generation)
