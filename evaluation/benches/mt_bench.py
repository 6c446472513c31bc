"""MT-bench in the harness: answers in FastChat's `model_answer/<model>.jsonl`, single-answer
judgments in `model_judgment/<judge>_single.jsonl` (pairwise against another run's answers in
`<judge>_pair.jsonl` as an option), averages as FastChat's `show_result.py` computes them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from evaluation.answering import answer_mt_bench
from evaluation.benches.base import Answering, Bench, Judging
from evaluation.data.files import write_jsonl
from evaluation.data.mtbench import (
    MAX_NEW_TOKENS,
    TEMPERATURE_BY_CATEGORY,
    MTBench,
    check_answers,
    load_mt_bench,
    read_answers,
    write_answers,
)
from evaluation.mtbench import (
    grade,
    grade_pair,
    read_judgments,
    summarize,
    win_rates,
    write_judgments,
)
from evaluation.mtbench.prompts import JUDGE_MAX_TOKENS
from evaluation.mtbench.results import question_categories
from evaluation.progress import Progress
from evaluation.runs import RunDir, file_stem


def single_file(judge_model: str) -> str:
    return f"model_judgment/{file_stem(judge_model)}_single.jsonl"


def pair_file(judge_model: str) -> str:
    return f"model_judgment/{file_stem(judge_model)}_pair.jsonl"


class MTBenchBench(Bench):
    name = "mt_bench"
    outputs_name = "model_answer/{run}.jsonl"

    def load(self, path, limit):
        if path is None:
            raise ValueError(
                "mt_bench: give the FastChat data folder (--mt-bench DIR); see "
                "evaluation/data/mtbench.py for the three files and a one-line way to get them"
            )
        bench = load_mt_bench(path)
        if limit is not None:
            bench = replace(bench, questions=bench.questions[:limit])
        return bench

    def data_record(self, data: MTBench, path, limit):
        return {
            "path": str(Path(path).resolve()),
            "sha256": dict(data.sha256),
            "n_items": len(data.questions),
            "limit": limit,
            # what a report needs of the data: per-category averages without the data folder
            "question_categories": {str(k): v for k, v in question_categories(data).items()},
        }

    def answer(self, generator, data: MTBench, run: RunDir, answering: Answering) -> dict:
        max_new_tokens = answering.max_new_tokens or MAX_NEW_TOKENS
        out = self.outputs_path(run)
        fingerprint = {
            "generator": generator.describe(),
            "seed": answering.seed,
            "max_new_tokens": max_new_tokens,
            "data": dict(data.sha256),
        }
        progress = Progress(out, fingerprint)
        answers = answer_mt_bench(
            generator, data, run.run, answering.seed, max_new_tokens, progress
        )
        write_answers(out, answers)
        progress.finish()
        return {
            "decoding": {
                "temperature_by_category": dict(TEMPERATURE_BY_CATEGORY),
                "max_new_tokens": max_new_tokens,
                "source": "FastChat gen_model_answer.py temperature_config; greedy below 1e-4",
            },
            "n_empty": sum(not t for a in answers for t in a.turns),
        }

    def import_outputs(self, source: Path, data: MTBench, run: RunDir) -> None:
        answers = read_answers(source)
        check_answers(data, answers, file=source)
        # FastChat names the model by the file; here the run's name is the model
        renamed = [replace(a, model_id=run.run) for a in answers]
        write_answers(self.outputs_path(run), renamed)

    def judge(self, judge, data: MTBench, run: RunDir, judging: Judging) -> dict:
        answers = read_answers(self.outputs_path(run))
        check_answers(data, answers, file=self.outputs_path(run))
        max_tokens = judging.judge_max_tokens or JUDGE_MAX_TOKENS
        grading = grade(judge, data, answers, run.run, judging.retries, max_tokens)
        write_judgments(run.file(single_file(judge.model)), grading.rows)
        record = {
            "protocol": "FastChat llm_judge single (single-v1, single-math-v1, multi-turn)",
            "judgments": single_file(judge.model),
            "retries": judging.retries,
            "judge_max_tokens": max_tokens,  # FastChat's is 2048; fewer: a smoke run
            "n_missing": grading.n_missing,
            "n_retried": grading.n_retried,
            "pairwise": None,
        }
        if judging.pairwise_baseline is not None:
            record["pairwise"] = self._judge_pair(judge, data, answers, run, judging)
        return record

    def _judge_pair(self, judge, data, answers, run: RunDir, judging: Judging) -> dict:
        baseline = RunDir(run.results, judging.pairwise_baseline, self.name)
        baseline_answers = read_answers(self.outputs_path(baseline))
        pairs = grade_pair(
            judge,
            data,
            answers,
            baseline_answers,
            run.run,
            baseline.run,
            judging.retries,
            judging.judge_max_tokens or JUDGE_MAX_TOKENS,
        )
        write_jsonl(run.file(pair_file(judge.model)), pairs.rows)
        return {
            "baseline_run": baseline.run,
            "judgments": pair_file(judge.model),
            "n_error_games": pairs.n_error_games,
            "n_retried": pairs.n_retried,
        }

    def metrics(self, run: RunDir, generation: dict, judging: dict, df_gamed=None) -> dict:
        categories = {int(k): v for k, v in generation["data"]["question_categories"].items()}
        rows = read_judgments(run.file(judging["judgments"]))
        scores = summarize(rows, categories).get(run.run)
        if scores is None:
            raise ValueError(f"{run.file(judging['judgments'])}: no judgment of model {run.run!r}")
        out = {
            "unscored": None
            if scores.overall is not None
            else f"every verdict missing ({scores.n_missing} rows unparseable after the retries)",
            "turn_1": scores.turn_1,
            "turn_2": scores.turn_2,
            "overall": scores.overall,
            "by_category": scores.by_category,
            "n_rows": scores.n_rows,
            "n_missing": scores.n_missing,
            "pairwise": None,
        }
        pairwise = judging.get("pairwise")
        if pairwise:
            rates = win_rates(
                read_judgments(run.file(pairwise["judgments"])), pairwise["baseline_run"]
            )
            mine = rates.get(run.run)
            out["pairwise"] = {
                "baseline_run": pairwise["baseline_run"],
                "win": mine.win if mine else 0,
                "loss": mine.loss if mine else 0,
                "tie": mine.tie if mine else 0,
                "win_rate": mine.win_rate if mine else None,
                "win_rate_adjusted": mine.win_rate_adjusted if mine else None,
            }
        return out
