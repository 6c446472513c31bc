"""MT-bench averages as FastChat's `show_result.py --mode single` computes them.

It drops every row whose score is -1 (MISSING), then per model: the mean score of the turn-1
rows, of the turn-2 rows, and the mean of ALL kept rows of both turns ("Average") -- a mean
over rows, not the mean of the two turn means (they differ when a turn lost rows). Per category
(not in show_result.py; FastChat's category plots): the mean of the kept rows of both turns
of the questions of that category.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from evaluation.data.mtbench import MTBench
from evaluation.mtbench.verdict import MISSING


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


@dataclass(frozen=True)
class Scores:
    model: str
    turn_1: float | None
    turn_2: float | None
    overall: float | None  # show_result's "Average": mean over the kept rows of both turns
    by_category: dict[str, float | None] = field(default_factory=dict)
    n_rows: int = 0  # kept
    n_missing: int = 0  # dropped (score -1)


def question_categories(bench: MTBench) -> dict[int, str]:
    """question_id -> category, in question order (what `summarize` needs of the benchmark)."""
    return {q.question_id: q.category for q in bench.questions}


def summarize(rows: list[dict], bench: MTBench | Mapping[int, str]) -> dict[str, Scores]:
    """model -> Scores from FastChat single-judgment rows; `bench` is the benchmark or its
    `question_categories` (saved with a run, so a report needs no data folder)."""
    categories = question_categories(bench) if isinstance(bench, MTBench) else dict(bench)
    kept: dict[str, list[dict]] = defaultdict(list)
    missing: dict[str, int] = defaultdict(int)
    for row in rows:
        if row["question_id"] not in categories:
            raise ValueError(
                f"mt-bench judgments: question_id {row['question_id']} (model {row['model']}, "
                f"turn {row['turn']}) is not a question of this benchmark"
            )
        if row["score"] == MISSING:
            missing[row["model"]] += 1
        else:
            kept[row["model"]].append(row)
    out = {}
    for model in sorted(set(kept) | set(missing)):
        mine = kept[model]
        by_category: dict[str, list[float]] = {c: [] for c in categories.values()}
        for row in mine:
            by_category[categories[row["question_id"]]].append(row["score"])
        out[model] = Scores(
            model=model,
            turn_1=_mean([r["score"] for r in mine if r["turn"] == 1]),
            turn_2=_mean([r["score"] for r in mine if r["turn"] == 2]),
            overall=_mean([r["score"] for r in mine]),
            by_category={c: _mean(s) for c, s in by_category.items()},
            n_rows=len(mine),
            n_missing=missing[model],
        )
    return out
