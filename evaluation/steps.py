"""The harness's three steps over `results/<run>/<bench>/`: generate, judge, report.

Each step reads what the one before wrote (never the command line of an earlier call), so a run
can be generated on a GPU machine, judged elsewhere, and reported anywhere. `report` calls no
judge: it rebuilds every metrics.json and the leaderboard from the saved judgments.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from evaluation.benches import Answering, Bench, Judging
from evaluation.data.files import BenchmarkDataError
from evaluation.runs import GENERATION, JUDGE, METRICS, RunDir, evaluated_runs
from selection.provenance import provenance


def generate(
    benches: list[Bench],
    make_generator,
    model: dict,
    results: Path,
    run: str,
    data_paths: dict,
    limit: int | None,
    answering: Answering,
) -> list[RunDir]:
    """Answer each bench with one generator (`make_generator()` is called once, when needed)."""
    done, generator = [], None
    try:
        for bench in benches:
            where = RunDir(results, run, bench.name)
            data = bench.load(data_paths.get(bench.name), limit)
            if generator is None:
                generator = make_generator()
            record = bench.answer(generator, data, where, answering)
            where.write(
                GENERATION,
                {
                    "run": run,
                    "bench": bench.name,
                    "model": {**model, "model_id": run},
                    "generation": {**generator.describe(), **record},
                    "answering": asdict(answering),
                    "data": bench.data_record(data, data_paths.get(bench.name), limit),
                    "provenance": provenance({"bench": bench.name}, answering.seed),
                },
            )
            done.append(where)
    finally:
        if generator is not None:
            generator.close()
    return done


def import_outputs(
    bench: Bench, source: Path, model: dict, results: Path, run: str, data_path, limit
) -> RunDir:
    """Take an answers file made elsewhere (alpaca_eval / FastChat format) into a run."""
    where = RunDir(results, run, bench.name)
    data = bench.load(data_path, limit)
    bench.import_outputs(Path(source), data, where)
    where.write(
        GENERATION,
        {
            "run": run,
            "bench": bench.name,
            "model": {**model, "model_id": run},
            "generation": {"imported_from": str(Path(source).resolve())},
            "answering": None,
            "data": bench.data_record(data, data_path, limit),
            "provenance": provenance({"bench": bench.name, "imported": str(source)}),
        },
    )
    return where


def _data_for(bench: Bench, where: RunDir, generation: dict, data_path):
    """The data the answers were generated on (its recorded path, or `data_path`), hash-checked."""
    recorded = generation["data"]
    data = bench.load(data_path or recorded["path"], recorded["limit"])
    now = bench.data_record(data, data_path or recorded["path"], recorded["limit"])
    if now["sha256"] != recorded["sha256"]:
        raise BenchmarkDataError(
            f"the benchmark data differ from the data the answers were generated on "
            f"(sha256 {now['sha256']} here, {recorded['sha256']} in {GENERATION})",
            file=where.file(GENERATION),
            field="data.sha256",
        )
    return data


def judge(
    benches: list[Bench],
    judge,
    results: Path,
    run: str,
    data_paths: dict,
    judging: Judging,
) -> list[RunDir]:
    """Judge each bench's answers of `run`; the judge's cache makes a re-run free."""
    from evaluation.judge import Counters

    done = []
    for bench in benches:
        where = RunDir(results, run, bench.name)
        generation = where.read(GENERATION)
        data = _data_for(bench, where, generation, data_paths.get(bench.name))
        judge.counters = Counters(judge.counters.prices)  # this bench's tokens and cost
        record = bench.judge(judge, data, where, judging)
        where.write(
            JUDGE,
            {
                "run": run,
                "bench": bench.name,
                "judge": judge.describe(),
                **record,
                "df_gamed": None if judging.df_gamed is None else str(judging.df_gamed),
                "counters": judge.counters.to_dict(),
                "provenance": provenance({"bench": bench.name, "judging": _jsonable(judging)}),
            },
        )
        done.append(where)
    return done


def _jsonable(judging: Judging) -> dict:
    return {
        k: None if v is None else str(v) if isinstance(v, Path) else v
        for k, v in asdict(judging).items()
    }


def report_one(bench: Bench, where: RunDir, df_gamed=None) -> dict:
    """metrics.json of one judged run, from its saved files alone."""
    generation, judging = where.read(GENERATION), where.read(JUDGE)
    if df_gamed is None and bench.name == "alpaca_eval":
        df_gamed = judging.get("df_gamed")  # the file the judge step was given, if any
    record = {
        "run": where.run,
        "bench": bench.name,
        "model": generation["model"],
        "judge": judging["judge"],
        "data": {k: v for k, v in generation["data"].items() if k != "question_categories"},
        "generation": generation["generation"],
        "judging": {
            k: v for k, v in judging.items() if k not in ("run", "bench", "judge", "df_gamed")
        },
        "metrics": bench.metrics(where, generation, judging, df_gamed),
        "provenance": provenance({"bench": bench.name, "df_gamed": df_gamed and str(df_gamed)}),
    }
    where.write(METRICS, record)
    return record


def report(benches: dict[str, Bench], results: Path, df_gamed=None) -> list[dict]:
    """Every judged run under `results` re-scored, then the leaderboard rewritten."""
    from evaluation.leaderboard import write_leaderboard

    records = [
        report_one(benches[w.bench], w, df_gamed if w.bench == "alpaca_eval" else None)
        for w in evaluated_runs(results)
        if w.bench in benches
    ]
    if records:
        write_leaderboard(results)
    return records
