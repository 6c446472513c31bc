"""MT-bench pairwise grading against a baseline (FastChat `gen_judgment.py --mode
pairwise-baseline`) and its win rates (`show_result.py --mode pairwise-baseline`).

Prompts: pair-v2 / pair-math-v1 (turn 1), pair-v2-multi-turn / pair-math-v1-multi-turn (turn 2),
reference-guided for the NEED_REF categories; placeholders `answer_a`, `answer_b` (turn 1) and
`answer_a_1`, `answer_b_1`, `answer_a_2`, `answer_b_2` (turn 2), plus `ref_answer_1/2`.
Each match is played twice (`run_judge_pair`): game 1 shows the model as A and the baseline as B,
game 2 swaps them. A verdict is "[[A]]" if that substring occurs, else "[[B]]", else "[[C]]"
(tie), else an error; an error game is retried (each retry cached apart), then left as "error".
Win rates: rows where either game is an error are dropped; a row counts as a tie when game 1 is
a tie or the two games disagree, else as a win for the winner; both turns are pooled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from evaluation.data.mtbench import Answer, MTBench, Question, check_answers
from evaluation.judge import Judge, JudgeRequest
from evaluation.mtbench.prompts import JUDGE_MAX_TOKENS, JUDGE_TEMPERATURE, TURNS, needs_reference

PAIR_PROMPTS = {
    (False, 1): "pair-v2",
    (True, 1): "pair-math-v1",
    (False, 2): "pair-v2-multi-turn",
    (True, 2): "pair-math-v1-multi-turn",
}
MODEL_1, MODEL_2, TIE, ERROR = "model_1", "model_2", "tie", "error"  # FastChat's winner names
VERDICTS = (("[[A]]", "A"), ("[[B]]", "B"), ("[[C]]", TIE))  # checked in this order


def parse_pair_verdict(judgment: str) -> str:
    """ "A", "B", TIE or ERROR, as FastChat's `[[A]]` output format reads a judgment."""
    return next((v for tag, v in VERDICTS if tag in judgment), ERROR)


def build_pair(
    bench: MTBench, question: Question, a: Answer, b: Answer, turn: int, judge_model: str | None
) -> tuple[str, str, JudgeRequest]:
    """(prompt name, user prompt, request) with `a` shown as assistant A and `b` as B."""
    if turn not in TURNS:
        raise ValueError(f"mt-bench: turn must be one of {TURNS}, got {turn!r}")
    name = PAIR_PROMPTS[(needs_reference(question), turn)]
    prompt = bench.judge_prompts[name]
    ref = {}
    if needs_reference(question):
        r = bench.references[question.question_id]
        ref = {"ref_answer_1": r.turns[0], "ref_answer_2": r.turns[1]}
    if turn == 1:
        fill = {"question": question.turns[0], "answer_a": a.turns[0], "answer_b": b.turns[0]}
    else:
        fill = {
            "question_1": question.turns[0],
            "question_2": question.turns[1],
            "answer_a_1": a.turns[0],
            "answer_b_1": b.turns[0],
            "answer_a_2": a.turns[1],
            "answer_b_2": b.turns[1],
        }
    user = prompt.prompt_template.format(**fill, **ref)
    messages = (
        {"role": "system", "content": prompt.system_prompt},
        {"role": "user", "content": user},
    )
    request = JudgeRequest(messages, judge_model, JUDGE_TEMPERATURE, JUDGE_MAX_TOKENS)
    return name, user, request


@dataclass(frozen=True)
class PairGrading:
    rows: list[dict]  # FastChat `<judge>_pair.jsonl` rows
    n_error_games: int  # games still "error" after the retries
    n_retried: int


def grade_pair(
    judge: Judge,
    bench: MTBench,
    answers,
    baseline_answers,
    model_id: str,
    baseline_id: str,
    retries: int = 2,
    max_tokens: int = JUDGE_MAX_TOKENS,
) -> PairGrading:
    answers, baseline_answers = list(answers), list(baseline_answers)
    check_answers(bench, answers)
    check_answers(bench, baseline_answers)
    mine = {x.question_id: x for x in answers}
    base = {x.question_id: x for x in baseline_answers}
    games = []  # (question, turn, game, prompt name, user prompt, request); game 1: model is A
    for turn in TURNS:
        for q in bench.questions:
            m, b = mine[q.question_id], base[q.question_id]
            for game, (a_, b_) in ((1, (m, b)), (2, (b, m))):
                games.append((q, turn, game, *build_pair(bench, q, a_, b_, turn, judge.model)))
    if max_tokens != JUDGE_MAX_TOKENS:  # a smoke run's shorter judge replies
        games = [(*g[:-1], replace(g[-1], max_tokens=max_tokens)) for g in games]
    texts = [r.text for r in judge.judge_many([g[-1] for g in games])]
    verdicts = [parse_pair_verdict(t) for t in texts]
    n_retried = 0
    for attempt in range(1, retries + 1):
        again = [i for i, v in enumerate(verdicts) if v == ERROR]
        if not again:
            break
        n_retried += len(again)
        replies = judge.judge_many([replace(games[i][-1], attempt=attempt) for i in again])
        for i, reply in zip(again, replies, strict=True):
            texts[i], verdicts[i] = reply.text, parse_pair_verdict(reply.text)
    # game 1: A is model_1; game 2: A is model_2
    to_model = {1: {"A": MODEL_1, "B": MODEL_2}, 2: {"A": MODEL_2, "B": MODEL_1}}
    rows = []
    for i in range(0, len(games), 2):
        q, turn, _, name, user_1, _ = games[i]
        user_2 = games[i + 1][4]
        rows.append(
            {
                "question_id": q.question_id,
                "model_1": model_id,
                "model_2": baseline_id,
                "g1_winner": to_model[1].get(verdicts[i], verdicts[i]),
                "g2_winner": to_model[2].get(verdicts[i + 1], verdicts[i + 1]),
                "judge": [judge.model, name],
                "g1_user_prompt": user_1,
                "g1_judgment": texts[i],
                "g2_user_prompt": user_2,
                "g2_judgment": texts[i + 1],
                "turn": turn,
                "tstamp": time.time(),
            }
        )
    return PairGrading(rows, sum(v == ERROR for v in verdicts), n_retried)


@dataclass(frozen=True)
class WinRate:
    model: str
    win: int
    loss: int
    tie: int

    @property
    def win_rate(self) -> float:
        return self.win / (self.win + self.loss + self.tie)

    @property
    def loss_rate(self) -> float:
        return self.loss / (self.win + self.loss + self.tie)

    @property
    def win_rate_adjusted(self) -> float:  # a tie counts half a win
        return (self.win + 0.5 * self.tie) / (self.win + self.loss + self.tie)


def win_rates(rows: list[dict], baseline_id: str) -> dict[str, WinRate]:
    """model -> WinRate against `baseline_id` (the baseline itself left out), as show_result.py."""
    counts: dict[str, list[int]] = {}  # model -> [win, loss, tie]
    for row in rows:
        if ERROR in (row["g1_winner"], row["g2_winner"]):
            continue
        if baseline_id not in (row["model_1"], row["model_2"]):
            continue
        m1, m2 = row["model_1"], row["model_2"]
        if row["g1_winner"] == TIE or row["g1_winner"] != row["g2_winner"]:
            outcome = {m1: 2, m2: 2}
        else:
            winner, loser = (m1, m2) if row["g1_winner"] == MODEL_1 else (m2, m1)
            outcome = {winner: 0, loser: 1}
        for model, k in outcome.items():
            counts.setdefault(model, [0, 0, 0])[k] += 1
    return {m: WinRate(m, *c) for m, c in sorted(counts.items()) if m != baseline_id}
