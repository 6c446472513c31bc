"""MT-bench single-answer grading: every (question, turn) of one model judged once, the verdict
parsed, an unparseable one sent again up to `retries` times (the k-th retry is its own cache entry,
so a re-run replays the same replies without a request), then recorded with
score MISSING (-1) and counted. Rows have the keys of FastChat's `model_judgment/<judge>_single.jsonl`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from evaluation.data.files import read_jsonl, write_jsonl
from evaluation.data.mtbench import MTBench, check_answers
from evaluation.judge import Judge
from evaluation.mtbench.prompts import JUDGE_MAX_TOKENS, TURNS, SingleMatch, build_single
from evaluation.mtbench.verdict import MISSING, parse_rating

JUDGMENT_KEYS = (
    "question_id",
    "model",
    "judge",
    "user_prompt",
    "judgment",
    "score",
    "turn",
    "tstamp",
)


@dataclass(frozen=True)
class Grading:
    rows: list[dict]  # FastChat judgment rows, turn-1 matches first (FastChat's order, unshuffled)
    n_missing: int  # rows with score MISSING after every retry
    n_retried: int  # judge calls spent on retries


def single_matches(bench: MTBench, answers, judge_model: str) -> list[SingleMatch]:
    """FastChat's match order: turn 1 for every question, then turn 2."""
    by_id = {a.question_id: a for a in answers}
    return [
        build_single(bench, q, by_id[q.question_id], turn, judge_model)
        for turn in TURNS
        for q in bench.questions
    ]


def grade(
    judge: Judge,
    bench: MTBench,
    answers,
    model_id: str,
    retries: int = 2,
    max_tokens: int = JUDGE_MAX_TOKENS,
) -> Grading:
    """Judge `answers` (one per benchmark question, checked) of model `model_id`; `max_tokens`
    below FastChat's 2048 shortens the judge's reply (a smoke run on a small local judge)."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"mt-bench: retries must be an integer >= 0, got {retries!r}")
    answers = list(answers)
    check_answers(bench, answers)
    matches = single_matches(bench, answers, judge.model)
    if max_tokens != JUDGE_MAX_TOKENS:
        matches = [replace(m, request=replace(m.request, max_tokens=max_tokens)) for m in matches]
    texts = [r.text for r in judge.judge_many([m.request for m in matches])]
    scores = [parse_rating(t) for t in texts]
    n_retried = 0
    for attempt in range(1, retries + 1):
        again = [i for i, s in enumerate(scores) if s == MISSING]
        if not again:
            break
        retry = [replace(matches[i].request, attempt=attempt) for i in again]
        replies = judge.judge_many(retry)  # the k-th retry is cached apart: a re-run replays it
        n_retried += len(again)
        for i, reply in zip(again, replies, strict=True):
            texts[i], scores[i] = reply.text, parse_rating(reply.text)
    rows = [
        {
            "question_id": m.question_id,
            "model": model_id,
            "judge": [judge.model, m.prompt_name],
            "user_prompt": m.user_prompt,
            "judgment": text,
            "score": score,
            "turn": m.turn,
            "tstamp": time.time(),
        }
        for m, text, score in zip(matches, texts, scores, strict=True)
    ]
    return Grading(rows, sum(s == MISSING for s in scores), n_retried)


def write_judgments(path: str | Path, rows: list[dict]) -> Path:
    """FastChat's `model_judgment/<judge>_single.jsonl` (FastChat appends; this writes atomically)."""
    return write_jsonl(path, [{k: row[k] for k in JUDGMENT_KEYS} for row in rows])


def read_judgments(path: str | Path) -> list[dict]:
    return [obj for _, obj in read_jsonl(path)]
