"""MT-bench data: a small FastChat data folder in the real layout and formats (never ../shared)."""

import json

import pytest

from evaluation.data.files import BenchmarkDataError
from evaluation.data.mtbench import (
    MAX_NEW_TOKENS,
    NEED_REF_CATEGORIES,
    TEMPERATURE_BY_CATEGORY,
    Answer,
    check_answers,
    load_mt_bench,
    parse_answer,
    read_answers,
    sampling_for,
    write_answers,
)

QUESTIONS = [  # question.jsonl: question_id, category, turns, optional inline reference
    {"question_id": 81, "category": "writing", "turns": ["Write a blog post.", "Rewrite it."]},
    {
        "question_id": 101,
        "category": "reasoning",
        "turns": ["Race position?", "And last?"],
        "reference": ["Second.", ""],
    },
    {"question_id": 111, "category": "math", "turns": ["Area of a triangle?", "Circle?"]},
]
REFERENCES = [  # reference_answer/gpt-4.jsonl: FastChat answer lines
    {
        "question_id": q,
        "answer_id": f"ref{q}",
        "model_id": "gpt-4",
        "choices": [{"index": 0, "turns": ["a", "b"]}],
        "tstamp": 1686286924.0,
    }
    for q in (101, 111)
]
PROMPTS = [  # judge_prompts.jsonl
    {
        "name": n,
        "type": t,
        "system_prompt": "You are a judge.",
        "prompt_template": "[Question]\n{question}",
        "description": "d",
        "category": c,
        "output_format": f,
    }
    for n, t, c, f in [
        ("single-v1", "single", "general", "[[rating]]"),
        ("pair-v2", "pairwise", "general", "[[A]]"),
    ]
]


def _jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _folder(root, questions=QUESTIONS, references=REFERENCES, prompts_up=True):
    """FastChat's layout: data/judge_prompts.jsonl beside data/mt_bench/."""
    bench = root / "data" / "mt_bench"
    _jsonl(bench / "question.jsonl", questions)
    _jsonl(bench / "reference_answer" / "gpt-4.jsonl", references)
    _jsonl((bench.parent if prompts_up else bench) / "judge_prompts.jsonl", PROMPTS)
    return bench


@pytest.fixture
def bench(tmp_path):
    return load_mt_bench(_folder(tmp_path))


def _answers(ids=(81, 101, 111), turns=("x", "y")):
    return [Answer(q, "ampo", turns, answer_id=f"a{q}", tstamp=1.0) for q in ids]


def test_load_fastchat_folder(bench, tmp_path):
    assert [q.question_id for q in bench.questions] == [81, 101, 111]
    assert bench.question(101).reference == ("Second.", "")
    assert bench.question(81).reference is None
    assert set(bench.references) == {101, 111} and bench.references[111].turns == ("a", "b")
    assert list(bench.judge_prompts) == ["single-v1", "pair-v2"]
    assert set(bench.sha256) == {
        "mt_bench/question.jsonl",
        "mt_bench/reference_answer/gpt-4.jsonl",
        "judge_prompts.jsonl",
    }
    flat = load_mt_bench(
        _folder(tmp_path / "flat", prompts_up=False)
    )  # judge prompts inside the folder
    assert list(flat.judge_prompts) == ["single-v1", "pair-v2"]


def test_decoding_settings_by_category():
    assert {c: sampling_for(c).temperature for c in TEMPERATURE_BY_CATEGORY} == {
        "writing": 0.7,
        "roleplay": 0.7,
        "extraction": 0.0,
        "math": 0.0,
        "coding": 0.0,
        "reasoning": 0.0,
        "stem": 0.1,
        "humanities": 0.1,
    }
    assert sampling_for("math").greedy and not sampling_for("stem").greedy
    assert sampling_for("unknown").temperature == 0.7
    assert sampling_for("writing").max_new_tokens == MAX_NEW_TOKENS == 1024


def test_answers_round_trip_in_fastchat_format(bench, tmp_path):
    answers = _answers(ids=(111, 81, 101))
    path = write_answers(tmp_path / "model_answer" / "ampo.jsonl", answers)
    lines = [json.loads(t) for t in path.read_text().splitlines()]
    assert list(lines[0]) == ["question_id", "answer_id", "model_id", "choices", "tstamp"]
    assert lines[0]["choices"] == [{"index": 0, "turns": ["x", "y"]}]
    assert [a.question_id for a in read_answers(path)] == [81, 101, 111]  # FastChat sorts by id
    assert sorted(read_answers(path), key=lambda a: a.answer_id) == sorted(
        answers, key=lambda a: a.answer_id
    )
    check_answers(bench, read_answers(path), file=path)
    # FastChat's own reference file reads as an answers file
    assert [
        a.model_id for a in read_answers(tmp_path / "data/mt_bench/reference_answer/gpt-4.jsonl")
    ] == ["gpt-4"] * 2


def test_duplicate_answer_is_named(bench):
    with pytest.raises(
        BenchmarkDataError,
        match=r"f\.jsonl, line 4, question_id 81, field 'question_id': answered twice",
    ):
        check_answers(bench, [*_answers(), *_answers(ids=(81,))], file="f.jsonl")


def test_missing_answer_is_named(bench):
    with pytest.raises(
        BenchmarkDataError, match="1 question\\(s\\) unanswered, first question_id 101"
    ):
        check_answers(bench, _answers(ids=(81, 111)))


def test_wrong_benchmark_and_wrong_turns(bench):
    with pytest.raises(BenchmarkDataError, match=r"question_id 5.*wrong answers file"):
        check_answers(bench, _answers(ids=(81, 5)))
    with pytest.raises(
        BenchmarkDataError, match=r"line 1, question_id 81.*1 turns for a question of 2"
    ):
        check_answers(bench, _answers(turns=("only one",)))


def test_alpaca_file_as_answers_is_rejected(tmp_path):
    path = _jsonl(tmp_path / "a.jsonl", [{"instruction": "Explain tides.", "output": "x"}])
    with pytest.raises(BenchmarkDataError, match="line 1: holds an AlpacaEval record"):
        read_answers(path)


def test_empty_turn_is_a_models_answer_but_a_broken_reference(tmp_path):
    row = {
        "question_id": 81,
        "answer_id": "a",
        "model_id": "m",
        "choices": [{"index": 0, "turns": ["ok", " "]}],
        "tstamp": 1.0,
    }
    assert read_answers(_jsonl(tmp_path / "a.jsonl", [row]))[0].turns == ("ok", " ")
    with pytest.raises(
        BenchmarkDataError,
        match=r"line 1, question_id 81, field 'choices\[0\].turns': turn 2 is empty",
    ):
        parse_answer(row, line=1)


def test_bad_benchmark_folders(tmp_path):
    with pytest.raises(
        BenchmarkDataError, match="line 2, field 'question_id': duplicate question_id 81"
    ):
        load_mt_bench(
            _folder(tmp_path / "a", questions=[QUESTIONS[0], QUESTIONS[0]], references=[])
        )
    assert "math" in NEED_REF_CATEGORIES
    with pytest.raises(
        BenchmarkDataError, match="question_id 111: category 'math' is judged against a reference"
    ):
        load_mt_bench(_folder(tmp_path / "b", references=REFERENCES[:1]))
    with pytest.raises(FileNotFoundError, match=r"question\.jsonl"):
        load_mt_bench(tmp_path / "nowhere")


def test_fastchat_answer_file_rewrites_byte_identical(tmp_path):
    """FastChat writes `json.dumps(answer)` lines sorted by question_id (ASCII escapes included)."""
    rows = [
        {
            "question_id": q,
            "answer_id": f"id{q}",
            "model_id": "vicuna",
            "choices": [{"index": 0, "turns": ["caf\u00e9 \u2713", "b"]}],
            "tstamp": 1687221234.123456,
        }
        for q in (81, 101, 111)
    ]
    theirs = _jsonl(tmp_path / "theirs.jsonl", rows)
    ours = write_answers(tmp_path / "ours.jsonl", read_answers(theirs))
    assert ours.read_bytes() == theirs.read_bytes()
