"""Hand-made `results/` folders in the layout `python -m evaluation` writes, for the leaderboard tests.

AlpacaEval metrics.json holds alpaca_eval's own numbers (`evaluation.alpacaeval.metrics`, offline:
LC unavailable unless given here); MT-bench metrics.json holds FastChat's averages (`summarize`).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

from evaluation.alpacaeval import metrics
from evaluation.data.mtbench import MTBench, Question
from evaluation.mtbench.results import summarize

INSTRUCTIONS = [f"instruction {i}: write something" for i in range(10)]
# preference: 1 = baseline preferred, 2 = model preferred, 1.5 = draw, None = judge failed
PREFS_AMPO = [2, 2, 1, 1.5, 2, 1.75, 2, 1, 2, 1.2]
# p - 1 = 1 1 0 .5 1 .75 1 0 1 .2 -> sum 6.45 over 10 -> win rate 64.5 %
PREFS_SIMPO = [1, 2, 1, 1, None, 1.5, 2, 1, 1, 1.3]
# judged 9: p - 1 = 0 1 0 0 .5 1 0 0 .3 -> 2.8 / 9 -> win rate 31.111 %
QUESTIONS = [(81, "writing"), (82, "roleplay"), (101, "math"), (131, "reasoning")]
SCORES_AMPO = {81: (8, 9), 82: (7, -1), 101: (3, 4), 131: (10, 6)}
# kept rows 8 9 7 3 4 10 6 -> overall 47 / 7 = 6.7143 (the mean of question means would be 6.75);
# turn 1: (8 + 7 + 3 + 10) / 4 = 7.0; turn 2: (9 + 4 + 6) / 3 = 6.3333; 1 missing
SCORES_SIMPO = {81: (6, 7), 82: (5, 5), 101: (2, 2), 131: (7, 4)}
# overall 38 / 8 = 4.75
ALPACA_SHA = {"alpaca_eval_gpt4_baseline.json": "a" * 64}
MT_SHA = {"question.jsonl": "b" * 64, "reference_answer/gpt-4.jsonl": "c" * 64}


def mt_bench() -> MTBench:
    empty = MappingProxyType({})
    questions = tuple(Question(q, c, ("turn one", "turn two")) for q, c in QUESTIONS)
    return MTBench(questions=questions, references=empty, judge_prompts=empty, sha256=empty)


def annotations(prefs, instructions=INSTRUCTIONS, model="ampo") -> list[dict]:
    return [
        {
            "instruction": text,
            "output_1": "baseline answer",
            "generator_1": "gpt4_1106_preview",
            "output_2": f"{model} answer",
            "generator_2": model,
            "annotator": "weighted_alpaca_eval_gpt4_turbo",
            "preference": None if p is None else float(p),
        }
        for text, p in zip(instructions, prefs, strict=True)
    ]


def judgment_rows(scores: dict, model: str, judge: str) -> list[dict]:
    return [
        {
            "question_id": q,
            "model": model,
            "judge": [judge, "single-v1" if turn == 1 else "single-v1-multi-turn"],
            "user_prompt": "...",
            "judgment": f"Rating: [[{pair[turn - 1]}]]",
            "score": pair[turn - 1],
            "turn": turn,
            "tstamp": 0.0,
        }
        for turn in (1, 2)  # FastChat's order: turn 1 of every question, then turn 2
        for q, pair in scores.items()
    ]


def _metrics_json(run, bench, model, judge, sha, n_items, limit, values, judge_url=None) -> dict:
    return {
        "run": run,
        "bench": bench,
        "model": {"name_or_path": f"checkpoints/{model}", "model_id": model},
        "judge": {"backend": "openai", "model": judge, "base_url": judge_url},
        "data": {"sha256": sha, "n_items": n_items, "limit": limit},
        "metrics": values,
        "provenance": {"versions": {}},
    }


def write_alpaca_run(
    results: Path,
    run,
    prefs,
    *,
    judge="gpt-4-1106-preview",
    sha=ALPACA_SHA,
    limit=None,
    lc=None,
    judge_url=None,
) -> Path:
    """`lc`: (length_controlled_winrate, lc_standard_error) to record; None: LC unavailable."""
    rows = annotations(prefs, INSTRUCTIONS[: len(prefs)], model=run)
    values = metrics(rows, df_gamed=results / "absent-df-gamed.csv")
    if lc is not None:
        values |= {"length_controlled_winrate": lc[0], "lc_standard_error": lc[1]}
        values["lc_unavailable"] = None
    d = results / run / "alpaca_eval"
    d.mkdir(parents=True)
    (d / "annotations.json").write_text(json.dumps(rows))
    (d / "model_outputs.json").write_text("[]")
    obj = _metrics_json(run, "alpaca_eval", run, judge, sha, len(rows), limit, values, judge_url)
    (d / "metrics.json").write_text(json.dumps(obj))
    return d / "metrics.json"


def write_mt_run(results: Path, run, scores, *, judge="gpt-4", sha=MT_SHA, limit=None) -> Path:
    rows = judgment_rows(scores, run, judge)
    s = summarize(rows, mt_bench())[run]
    values = {
        "turn_1": s.turn_1,
        "turn_2": s.turn_2,
        "overall": s.overall,
        "by_category": s.by_category,
        "n_rows": s.n_rows,
        "n_missing": s.n_missing,
    }
    d = results / run / "mt_bench"
    (d / "model_judgment").mkdir(parents=True)
    (d / "model_judgment" / f"{judge}_single.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows)
    )
    obj = _metrics_json(run, "mt_bench", run, judge, sha, len(scores), limit, values)
    (d / "metrics.json").write_text(json.dumps(obj))
    return d / "metrics.json"


def write_results(results: Path) -> Path:
    """Four AlpacaEval runs (one on another judge, one on a 6-instruction subset) and three
    MT-bench runs (one on other data)."""
    write_alpaca_run(results, "ampo", PREFS_AMPO, lc=(45.0, 2.0))
    write_alpaca_run(results, "simpo", PREFS_SIMPO)
    write_alpaca_run(results, "ampo-judge-b", PREFS_AMPO, judge="judge-b")
    write_alpaca_run(results, "ampo-subset", PREFS_AMPO[:6], limit=6)
    write_mt_run(results, "ampo", SCORES_AMPO)
    write_mt_run(results, "simpo", SCORES_SIMPO)
    write_mt_run(results, "simpo-other-data", SCORES_SIMPO, sha={"question.jsonl": "d" * 64})
    return results
