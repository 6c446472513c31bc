"""MT-bench grading: FastChat's judge prompts, verdict regexes, retries and show_result averages.

The judge prompts (tests/evaluation/bench_files.py) keep FastChat's templates verbatim except the
long instruction paragraphs, shortened to "I1." etc.; every placeholder and separator is FastChat's.
Expected prompts are written out by hand, not produced by str.format."""

import pytest
from bench_files import A_CONV, A_CONV_END, B_CONV, B_CONV_END, write_mt_bench

from evaluation.data.mtbench import Answer, load_mt_bench
from evaluation.judge import Judge, JudgeCache, JudgeReply
from evaluation.mtbench import (
    MISSING,
    build_single,
    grade,
    grade_pair,
    parse_rating,
    read_judgments,
    summarize,
    win_rates,
    write_judgments,
)
from evaluation.mtbench.pairwise import build_pair, parse_pair_verdict


@pytest.fixture
def bench(tmp_path):
    return load_mt_bench(write_mt_bench(tmp_path / "data"))


def _answers(model="ampo", a="A"):
    turns = {q: (f"{a}1_{q}", f"{a}2_{q}") for q in (81, 101, 111)}
    return [Answer(q, model, t, answer_id="a", tstamp=1.0) for q, t in turns.items()]


# ---- prompts ----
MT_CONV = "### User:\nQ1{c}\n\n### Assistant A:\nA1_{q}\n\n### User:\nQ2{c}\n\n### Assistant A:\nA2_{q}\n\n"
EXPECTED = {  # (question_id, turn): (prompt name, system, user prompt)
    (81, 1): (
        "single-v1",
        "You are a helpful assistant.",
        "[Instruction]\nI1.\n\n[Question]\nQ1w\n\n"
        "[The Start of Assistant's Answer]\nA1_81\n[The End of Assistant's Answer]",
    ),
    (111, 1): (  # turn 1 shows the reference's first turn only
        "single-math-v1",
        "You are a helpful assistant.",
        "[Instruction]\nI2.\n\n[Question]\nQ1m\n\n"
        "[The Start of Reference Answer]\nR1_111\n[The End of Reference Answer]\n\n"
        "[The Start of Assistant's Answer]\nA1_111\n[The End of Assistant's Answer]",
    ),
    (81, 2): ("single-v1-multi-turn", "S3.\n\n", A_CONV + MT_CONV.format(c="w", q=81) + A_CONV_END),
    (101, 2): (  # the GPT-4 reference answer file, not the question's inline "reference"
        "single-math-v1-multi-turn",
        "S4.\n\n",
        "<|The Start of Reference Answer|>\n\n### User:\nQ1r\n\n### Reference answer:\nR1_101\n\n"
        "### User:\nQ2r\n\n### Reference answer:\nR2_101\n\n<|The End of Reference Answer|>\n\n\n"
        + A_CONV
        + MT_CONV.format(c="r", q=101)
        + A_CONV_END,
    ),
}


@pytest.mark.parametrize("key", list(EXPECTED), ids=[v[0] for v in EXPECTED.values()])
def test_judge_prompt_equals_fastchat_filling(bench, key):
    qid, turn = key
    name, system, user = EXPECTED[key]
    answer = next(a for a in _answers() if a.question_id == qid)
    match = build_single(bench, bench.question(qid), answer, turn, "gpt-4")
    assert match.prompt_name == name
    assert match.user_prompt == user
    assert match.request.messages == (
        {"role": "system", "content": system},
        {"role": "user", "content": user},
    )
    assert (match.request.model, match.request.temperature, match.request.max_tokens) == (
        "gpt-4",
        0.0,
        2048,
    )


def test_a_bad_turn_or_a_mismatched_answer_is_refused(bench):
    a81 = _answers()[0]
    with pytest.raises(ValueError, match="turn"):
        build_single(bench, bench.question(81), a81, 3)
    with pytest.raises(ValueError, match="answer to question 81"):
        build_single(bench, bench.question(111), a81, 1)


# ---- verdicts ----
@pytest.mark.parametrize(
    "text, score",
    [
        ("Rating: [[5]]", 5),
        ("Rating: [[8.5]]", 8.5),
        ("[[7.]]", 7.0),
        ("Rating: [9]", 9),  # backup pattern
        ("[3] then Rating: [[6]]", 6),  # [[x]] wins over an earlier [x]
        ("[[4]] and later [[9]]", 4),  # the first match
        ("Rating: [[10]]/10", 10),
        ("Rating: [[15]]", 15),  # FastChat checks no range
        ("Rating: 8/10", MISSING),
        ("Rating: [[eight]]", MISSING),
        ("Rating: [[-3]]", MISSING),
        ("Rating: [[ 7 ]]", MISSING),
        ("", MISSING),
    ],
)
def test_parse_rating_follows_fastchat_patterns(text, score):
    got = parse_rating(text)
    assert got == score and type(got) is type(score)


# ---- grading ----
class ScriptedJudge(Judge):
    """In-process backend: replies from `script(user_prompt, n)` for the n-th call of that prompt."""

    name = "scripted"

    def __init__(self, script, **kw):
        super().__init__("gpt-4", **kw)
        self.script, self.calls = script, {}

    def identity(self):
        return {"backend": self.name}

    def send(self, request):
        user = request.messages[-1]["content"]
        n = self.calls[user] = self.calls.get(user, 0) + 1
        return JudgeReply(self.script(user, n), None, 10, 5)


def test_grade_writes_fastchat_rows_retries_then_counts_missing(bench, tmp_path):
    def script(user, n):
        if "A2_111" in user:
            return "no score at all"  # never parseable: missing after the retries
        if "A2_101" in user:
            return "Rating: [[4]]" if n == 3 else "hmm"  # parseable at the second retry
        return "Rating: [[7]]"

    judge = ScriptedJudge(script, cache=JudgeCache(tmp_path / "c.sqlite"))
    g = grade(judge, bench, _answers(), "ampo", retries=2)
    assert (g.n_missing, g.n_retried) == (1, 4)  # 2 bad at first, 2 again after one retry
    assert [(r["question_id"], r["turn"], r["score"]) for r in g.rows] == [
        (81, 1, 7),
        (101, 1, 7),
        (111, 1, 7),
        (81, 2, 7),
        (101, 2, 4),
        (111, 2, MISSING),
    ]
    row = g.rows[4]
    assert row["judge"] == ["gpt-4", "single-math-v1-multi-turn"] and row["model"] == "ampo"
    assert row["judgment"] == "Rating: [[4]]"
    path = write_judgments(tmp_path / "model_judgment" / "gpt-4_single.jsonl", g.rows)
    back = read_judgments(path)
    assert back == g.rows and list(back[0]) == [
        "question_id", "model", "judge", "user_prompt", "judgment", "score", "turn", "tstamp"
    ]  # fmt: skip
    # a rerun with the same retries is served from the cache, retried replies included
    rerun = ScriptedJudge(lambda u, n: "[[1]]", cache=judge.cache)
    again = grade(rerun, bench, _answers(), "ampo", 2)
    assert [r["score"] for r in again.rows] == [7, 7, 7, 7, 4, MISSING]
    assert rerun.calls == {} and again.n_retried == 4  # not one request sent
    # without retries, the first replies: each retry is cached apart from the first reply
    first = grade(
        ScriptedJudge(lambda u, n: "[[1]]", cache=judge.cache), bench, _answers(), "ampo", 0
    )
    assert [r["score"] for r in first.rows] == [7, 7, 7, 7, MISSING, MISSING]


def test_grade_checks_the_answers(bench):
    with pytest.raises(Exception, match="unanswered"):
        grade(ScriptedJudge(lambda u, n: "[[5]]"), bench, _answers()[:2], "ampo")
    with pytest.raises(ValueError, match="retries"):
        grade(ScriptedJudge(lambda u, n: "[[5]]"), bench, _answers(), "ampo", retries=-1)


# ---- averages ----
def _row(model, qid, turn, score):
    return {"model": model, "question_id": qid, "turn": turn, "score": score}


def test_averages_equal_show_result_by_hand(bench):
    rows = [
        _row("m", 81, 1, 8), _row("m", 101, 1, 6), _row("m", 111, 1, 4),
        _row("m", 81, 2, 9), _row("m", 101, 2, MISSING), _row("m", 111, 2, 2.5),
        _row("n", 81, 1, MISSING), _row("n", 81, 2, 10),
    ]  # fmt: skip
    s = summarize(rows, bench)
    m = s["m"]
    # turn 1: (8 + 6 + 4) / 3 = 6; turn 2: -1 dropped, (9 + 2.5) / 2 = 5.75
    assert (m.turn_1, m.turn_2) == (6.0, 5.75)
    # overall: mean of the 5 kept rows, (8 + 6 + 4 + 9 + 2.5) / 5 = 5.9, not (6 + 5.75) / 2 = 5.875
    assert m.overall == pytest.approx(5.9)
    # writing (8 + 9) / 2 = 8.5; reasoning 6 / 1; math (4 + 2.5) / 2 = 3.25
    assert m.by_category == {"writing": 8.5, "reasoning": 6.0, "math": 3.25}
    assert (m.n_rows, m.n_missing) == (5, 1)
    n = s["n"]
    assert (n.turn_1, n.turn_2, n.overall, n.n_missing) == (None, 10.0, 10.0, 1)
    assert n.by_category["math"] is None


# ---- pairwise against a baseline ----
def test_pair_prompts_equal_fastchat_filling(bench):
    ours, base = _answers(), _answers("gpt-3.5-turbo", "B")
    name, user, request = build_pair(bench, bench.question(81), ours[0], base[0], 1, "gpt-4")
    assert name == "pair-v2"
    assert user == (
        "[User Question]\nQ1w\n\n[The Start of Assistant A's Answer]\nA1_81\n"
        "[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\nB1_81\n"
        "[The End of Assistant B's Answer]"
    )
    assert request.messages[0] == {"role": "system", "content": "P1."}
    name, user, _ = build_pair(bench, bench.question(111), base[2], ours[2], 2, "gpt-4")
    assert name == "pair-math-v1-multi-turn"
    assert user == (
        "<|The Start of Reference Answer|>\n\n### User:\nQ1m\n\n### Reference answer:\nR1_111\n\n"
        "### User:\nQ2m\n\n### Reference answer:\nR2_111\n\n<|The End of Reference Answer|>\n\n\n"
        + A_CONV
        + "### User:\nQ1m\n\n### Assistant A:\nB1_111\n\n### User:\nQ2m\n\n### Assistant A:\nB2_111\n\n"
        + A_CONV_END
        + "\n\n\n"
        + B_CONV
        + "### User:\nQ1m\n\n### Assistant B:\nA1_111\n\n### User:\nQ2m\n\n### Assistant B:\nA2_111\n\n"
        + B_CONV_END
    )


@pytest.mark.parametrize(
    "text, verdict",
    [
        ("[[A]]", "A"),
        ("x [[B]] y", "B"),
        ("[[C]]", "tie"),
        ("[[B]] then [[A]]", "A"),
        ("[A]", "error"),
    ],
)
def test_pair_verdict_is_fastchats_substring_check(text, verdict):
    assert parse_pair_verdict(text) == verdict


def test_grade_pair_swaps_positions_and_win_rates_by_hand(bench):
    def script(user, n):
        if "Q2" not in user:  # turn 1: ours (A1_...) wins in either position
            return "[[A]]" if user.index("A1_") < user.index("B1_") else "[[B]]"
        if "Q1w" in user:
            return "[[C]]"
        return "[[A]]"  # turn 2 of 101 and 111: position A always wins -> the games disagree

    g = grade_pair(ScriptedJudge(script), bench, _answers(), _answers("base", "B"), "ampo", "base")
    by = {(r["question_id"], r["turn"]): (r["g1_winner"], r["g2_winner"]) for r in g.rows}
    assert by[(81, 1)] == ("model_1", "model_1")  # game 2 shows ours as B and B wins
    assert by[(81, 2)] == ("tie", "tie")
    assert by[(101, 2)] == ("model_1", "model_2")
    assert g.rows[0]["judge"] == ["gpt-4", "pair-v2"] and g.n_error_games == 0
    rows = [*g.rows, {**g.rows[0], "g2_winner": "error"}]  # an error row is dropped
    w = win_rates(rows, "base")
    # wins: turn 1 of 81, 101, 111 = 3; ties: 81 t2 (tie), 101 t2, 111 t2 (disagree) = 3; losses 0
    assert set(w) == {"ampo"} and (w["ampo"].win, w["ampo"].loss, w["ampo"].tie) == (3, 0, 3)
    assert (w["ampo"].win_rate, w["ampo"].win_rate_adjusted) == (0.5, 0.75)  # (3 + 1.5) / 6
