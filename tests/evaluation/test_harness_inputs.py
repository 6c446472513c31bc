"""The harness's CLI on the inputs around the happy path: an interrupted generation resumed, answers
made elsewhere imported (alpaca_eval and FastChat formats), and bad input refused with an error
that names the file, row or record and field."""

from __future__ import annotations

import json

import pytest
import scripted_verdicts as sv
from bench_files import QUESTIONS
from harness_cli import (
    Interrupted,
    bench_data,
    generate,
    judge,
    read_json,
    record_generation,
    run_args,
)

import evaluation.answering
from evaluation.__main__ import main as cli
from evaluation.data.files import BenchmarkDataError


@pytest.fixture
def data(tmp_path, monkeypatch):
    return bench_data(tmp_path, monkeypatch)


def answer_files(results, run: str) -> tuple[str, str]:
    return (
        (results / run / "alpaca_eval" / "model_outputs.json").read_text(),
        (results / run / "mt_bench" / "model_answer" / f"{run}.jsonl").read_text(),
    )


# ---- resume ----
def test_an_interrupted_generation_resumes_with_only_the_rest(
    tiny_checkpoint, data, tmp_path, monkeypatch
):
    monkeypatch.setattr(evaluation.answering, "CHUNK", 2)  # 4 instructions: two calls
    # the second call is interrupted: the first chunk of 2 instructions is kept
    record_generation(monkeypatch, fail_on_call=2)
    with pytest.raises(Interrupted):
        generate(data, tiny_checkpoint, "tiny")
    partial = data["results"] / "tiny" / "alpaca_eval" / "model_outputs.json.partial.jsonl"
    kept = [json.loads(line) for line in partial.read_text().splitlines()[1:]]
    assert [k["key"] for k in kept] == [r["instruction"] for r in sv.ROWS[:2]]

    # other settings (another seed) refuse the unfinished file rather than mix answers
    with pytest.raises(ValueError, match=r"partial\.jsonl: an unfinished generation with other"):
        generate(data, tiny_checkpoint, "tiny", "--seed", "1")

    calls = record_generation(monkeypatch)
    generate(data, tiny_checkpoint, "tiny")
    assert calls[0] == [r["instruction"] for r in sv.ROWS[2:]]  # only the rest
    assert not partial.exists()
    # an uninterrupted run (same run name, another results folder) writes the same files
    clean = {**data, "results": tmp_path / "clean"}
    generate(clean, tiny_checkpoint, "tiny")
    assert answer_files(data["results"], "tiny")[0] == answer_files(clean["results"], "tiny")[0]
    ours, theirs = (
        answer_files(data["results"], "tiny")[1],
        answer_files(clean["results"], "tiny")[1],
    )
    turns = [[json.loads(line)["choices"] for line in f.splitlines()] for f in (ours, theirs)]
    assert turns[0] == turns[1]  # answer_id and tstamp differ by design


# ---- answers made elsewhere ----
def hand_outputs(path, rows=sv.ROWS, generator="someone-else"):
    outputs = [
        {"dataset": r["dataset"], "instruction": r["instruction"], "output": "ours: " + r["output"]}
        | {"generator": generator}
        for r in rows
    ]
    path.write_text(json.dumps(outputs, indent=2))
    return path


def hand_answers(path, questions=QUESTIONS):
    lines = [
        {
            "question_id": q["question_id"],
            "answer_id": f"x{q['question_id']}",
            "model_id": "someone-else",
            "choices": [{"index": 0, "turns": [f"A1_{q['question_id']}", "A2"]}],
            "tstamp": 1.5,
        }
        for q in questions
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def import_outputs(data, run: str, bench: str, source) -> None:
    cli([str(a) for a in ["generate", *run_args(data, run), "--bench", bench, "--model", "x"]]
        + ["--outputs", str(source)])  # fmt: skip


def test_answers_made_elsewhere_are_imported_judged_and_scored(data, tmp_path, judge_server):
    import_outputs(data, "elsewhere", "alpaca_eval", hand_outputs(tmp_path / "outputs.json"))
    import_outputs(data, "elsewhere", "mt_bench", hand_answers(tmp_path / "answers.jsonl"))
    answers = data["results"] / "elsewhere" / "mt_bench" / "model_answer" / "elsewhere.jsonl"
    assert {json.loads(line)["model_id"] for line in answers.read_text().splitlines()} == {
        "elsewhere"
    }  # FastChat names the model by the file: the run's name
    server = judge_server()
    server.answer = sv.reply
    judge(data, server, "elsewhere", "--judge-max-tokens", "64")
    mt_requests = [body for body in server.ok() if not body.get("logprobs")]
    assert {body["max_tokens"] for body in mt_requests} == {64}
    assert (
        read_json(data["results"] / "elsewhere" / "mt_bench" / "judge.json")["judge_max_tokens"]
        == 64
    )
    alpaca = read_json(data["results"] / "elsewhere" / "alpaca_eval" / "metrics.json")["metrics"]
    assert alpaca["win_rate"] == pytest.approx(sv.WIN_RATE)
    assert alpaca["discrete_win_rate"] == pytest.approx(sv.DISCRETE_WIN_RATE)
    mt = read_json(data["results"] / "elsewhere" / "mt_bench" / "metrics.json")["metrics"]
    assert (mt["turn_1"], mt["turn_2"], mt["overall"]) == pytest.approx((6.0, 5.5, 5.8))
    generation = read_json(data["results"] / "elsewhere" / "alpaca_eval" / "generation.json")
    assert generation["generation"]["imported_from"] == str((tmp_path / "outputs.json").resolve())


def test_a_run_whose_every_verdict_is_missing_is_reported_without_a_score(
    data, tmp_path, judge_server, capsys
):
    import_outputs(data, "mute", "mt_bench", hand_answers(tmp_path / "answers.jsonl"))
    server = judge_server()
    server.answer = lambda body: (sv.UNPARSEABLE, [])
    judge(data, server, "mute", "--retries", "1")
    mt = read_json(data["results"] / "mute" / "mt_bench" / "metrics.json")["metrics"]
    assert (mt["overall"], mt["turn_1"], mt["n_rows"], mt["n_missing"]) == (None, None, 0, 6)
    assert mt["unscored"].startswith("every verdict missing (6 rows")
    assert "mute/mt_bench: not scored: every verdict missing" in capsys.readouterr().out
    assert (data["results"] / "leaderboard.md").is_file()


# ---- bad input ----
def test_judge_without_answers_says_which_step_is_missing(data, judge_server):
    server = judge_server()
    with pytest.raises(SystemExit, match="run 'nothing' has no answers under"):
        judge(data, server, "nothing")
    with pytest.raises(FileNotFoundError, match=r"nothing/alpaca_eval/generation.json: missing"):
        judge(data, server, "nothing", "--bench", "alpaca_eval")
    assert server.seen == []


def test_data_changed_after_generation_is_refused(data, tmp_path, judge_server):
    import_outputs(data, "r", "alpaca_eval", hand_outputs(tmp_path / "outputs.json"))
    changed = [dict(sv.ROWS[0], output="Another baseline."), *sv.ROWS[1:]]
    data["alpaca_eval"].write_text(json.dumps(changed, indent=2))
    server = judge_server()
    with pytest.raises(BenchmarkDataError, match=r"generation.json, field 'data.sha256': the benc"):
        judge(data, server, "r", "--bench", "alpaca_eval")
    assert server.seen == []


def test_outputs_out_of_order_name_the_row(data, tmp_path):
    rows = [sv.ROWS[0], sv.ROWS[2], sv.ROWS[1], sv.ROWS[3]]
    with pytest.raises(
        BenchmarkDataError,
        match=r"outputs.json, row 1, instruction 'Write a haiku about rain.', field 'instruction'",
    ):
        import_outputs(data, "r", "alpaca_eval", hand_outputs(tmp_path / "outputs.json", rows))


def test_an_answers_file_missing_a_question_is_refused(data, tmp_path, judge_server):
    with pytest.raises(BenchmarkDataError, match=r"answers.jsonl: 1 question.s. unanswered, fir"):
        import_outputs(
            data, "r", "mt_bench", hand_answers(tmp_path / "answers.jsonl", QUESTIONS[:2])
        )
    # the same file edited after import: the judge step checks it too
    import_outputs(data, "r", "mt_bench", hand_answers(tmp_path / "answers.jsonl"))
    answers = data["results"] / "r" / "mt_bench" / "model_answer" / "r.jsonl"
    answers.write_text("".join(answers.read_text().splitlines(keepends=True)[:2]))
    server = judge_server()
    with pytest.raises(BenchmarkDataError, match=r"r.jsonl: 1 question.s. unanswered, first ques"):
        judge(data, server, "r", "--bench", "mt_bench")
    assert server.seen == []


def test_a_flag_the_backend_does_not_take_is_refused(data):
    with pytest.raises(SystemExit, match="--base-url is not an option of backend 'transformers'"):
        generate(data, "unused", "r", "--backend", "transformers", "--base-url", "http://x/v1")


def test_an_unknown_bench_is_refused(data, capsys):
    with pytest.raises(SystemExit) as exit_:
        generate(data, "unused", "r", "--bench", "arena_hard")
    assert exit_.value.code == 2
    assert "--bench: invalid choice: 'arena_hard' (choose from" in capsys.readouterr().err
