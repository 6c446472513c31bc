"""Measured runs under `results/`, with bootstrap intervals recomputed from their per-item files.

Layout read (written by `python -m evaluation`):

    results/<run>/alpaca_eval/metrics.json + annotations.json
    results/<run>/mt_bench/metrics.json + model_judgment/<judge.model>_single.jsonl

Units: an AlpacaEval instruction (value `(preference - 1) * 100`, none when the judge failed) and an
MT-bench question (values: the kept scores of its turns; score -1 = missing is dropped, as FastChat's
show_result.py does). The win rate / overall recomputed from these must equal metrics.json's; a
mismatch (a stale or foreign file) is an error. Pairs compare two runs of one bench on the units they
share, only when they used the same judge model and the same data (sha256 of every data file).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from evaluation.data.alpaca import read_annotations
from evaluation.data.files import BenchmarkDataError
from evaluation.leaderboard.bootstrap import (
    LEVEL,
    bootstrap_mean_ci,
    cluster_mean_ci,
    paired_difference_ci,
)
from evaluation.mtbench.grading import read_judgments
from evaluation.mtbench.verdict import MISSING
from evaluation.runs import file_stem

ALPACA_EVAL, MT_BENCH = "alpaca_eval", "mt_bench"
BENCHES = (ALPACA_EVAL, MT_BENCH)
METRICS_FILE = "metrics.json"
ANNOTATIONS_FILE = "annotations.json"
LC_Z = 1.959963984540054  # two-sided normal quantile of LEVEL = 0.95, for the LC interval
AGREE = 1e-6  # recomputed vs metrics.json estimates, in the metric's units
BASELINE_PREFERENCE = 1.0  # alpaca_eval: preference 1 = baseline preferred, 2 = model preferred


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class AlpacaScores:
    win_rate: Interval  # percentile bootstrap over instructions
    lc: Interval | None  # alpaca_eval's LC +- LC_Z * its lc_standard_error; None: unavailable
    lc_unavailable: str | None
    discrete_win_rate: float
    n: int  # instructions with a preference
    n_failed: int  # judge failed: preference null


@dataclass(frozen=True)
class MTBenchScores:
    overall: Interval  # cluster bootstrap over questions
    turn_1: float | None
    turn_2: float | None
    n_questions: int
    n_rows: int  # kept
    n_missing: int  # rows with score -1


@dataclass(frozen=True)
class Run:
    run: str  # folder name under results/
    bench: str
    metrics_path: Path
    model: str  # model.name_or_path
    model_id: str
    judge: str  # judge.model
    judge_backend: str
    judge_endpoint: str  # the judge's base URL (OpenAI-compatible) or model path (in-process)
    sha256: dict  # data file -> hex
    n_items: int
    limit: int | None  # not None: evaluated on a subset
    units: dict  # unit key -> tuple of kept values (the bootstrap's clusters)
    scores: AlpacaScores | MTBenchScores


@dataclass(frozen=True)
class Pair:
    bench: str
    run_a: str
    run_b: str
    difference: Interval | None  # a - b (WR points / MT-bench score); None: not compared
    n_shared: int
    reason: str | None = None  # why not compared


def _get(obj: dict, dotted: str, types: tuple, path: Path):
    value = obj
    for i, key in enumerate(dotted.split(".")):
        if not isinstance(value, dict) or key not in value:
            where = ".".join(dotted.split(".")[: i + 1])
            raise BenchmarkDataError("is missing", field=where, file=path)
        value = value[key]
    if isinstance(value, bool) or not isinstance(value, types):
        if not (value is None and type(None) in types):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise BenchmarkDataError(f"expected {names}, got {value!r}", field=dotted, file=path)
    if isinstance(value, float) and not math.isfinite(value):
        raise BenchmarkDataError(
            f"expected a finite number, got {value!r}", field=dotted, file=path
        )
    return value


_NUM = (int, float)
_OPT_NUM = (int, float, type(None))


def read_metrics(path: Path, bench: str) -> dict:
    """metrics.json, checked: every field the leaderboard reads has its type, else one error naming
    the file and the field."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BenchmarkDataError(f"not JSON ({exc.msg} at line {exc.lineno})", file=path) from None
    if not isinstance(obj, dict):
        raise BenchmarkDataError(f"expected a JSON object, got {type(obj).__name__}", file=path)
    for dotted, types in [
        ("run", (str,)),
        ("bench", (str,)),
        ("model.name_or_path", (str,)),
        ("model.model_id", (str,)),
        ("judge.backend", (str,)),
        ("judge.model", (str,)),
        ("data.sha256", (dict,)),
        ("data.n_items", (int,)),
        ("data.limit", (int, type(None))),
        ("metrics", (dict,)),
        ("provenance", (dict,)),
    ]:
        _get(obj, dotted, types, path)
    if obj["bench"] != bench:
        raise BenchmarkDataError(f"{obj['bench']!r} in a {bench}/ folder", field="bench", file=path)
    fields = {
        ALPACA_EVAL: [
            ("metrics.win_rate", _NUM),
            ("metrics.discrete_win_rate", _NUM),
            ("metrics.length_controlled_winrate", _OPT_NUM),
            ("metrics.lc_standard_error", _OPT_NUM),
            ("metrics.lc_unavailable", (str, type(None))),
        ],
        MT_BENCH: [
            ("metrics.overall", _NUM),
            ("metrics.turn_1", _OPT_NUM),
            ("metrics.turn_2", _OPT_NUM),
            ("metrics.n_missing", (int,)),
        ],
    }[bench]
    for dotted, types in fields:
        _get(obj, dotted, types, path)
    return obj


def _agree(recomputed: float, saved: float, what: str, data: Path, path: Path) -> None:
    if abs(recomputed - saved) > AGREE:
        raise BenchmarkDataError(
            f"{data.name} gives {what} {recomputed!r}, metrics.json says {saved!r} "
            "(a stale or foreign per-item file)",
            field=f"metrics.{what}",
            file=path,
        )


def _alpaca(path: Path, obj: dict, n_boot: int, seed: int) -> tuple[dict, AlpacaScores]:
    data = path.parent / ANNOTATIONS_FILE
    if not data.is_file():
        raise BenchmarkDataError(f"no {ANNOTATIONS_FILE} beside it", file=path)
    units: dict[str, tuple[float, ...]] = {}
    for row, ann in enumerate(read_annotations(data)):
        if ann["instruction"] in units:
            raise BenchmarkDataError(
                "duplicate instruction", field="instruction", file=data, line=row, unit="row"
            )
        pref = ann["preference"]
        units[ann["instruction"]] = () if pref is None else ((pref - BASELINE_PREFERENCE) * 100.0,)
    values = [v for vs in units.values() for v in vs]
    if not values:
        raise BenchmarkDataError(
            "no instruction has a preference (every judgment failed)", file=data
        )
    wr = Interval(*bootstrap_mean_ci(values, n_boot=n_boot, level=LEVEL, seed=seed))
    m = obj["metrics"]
    _agree(wr.estimate, m["win_rate"], "win_rate", data, path)
    lc, se = m["length_controlled_winrate"], m["lc_standard_error"]
    lc_interval = None if lc is None or se is None else Interval(lc, lc - LC_Z * se, lc + LC_Z * se)
    reason = m["lc_unavailable"] if lc_interval is None else None
    if lc_interval is None and not reason:
        reason = "metrics.json holds no length-controlled win rate"
    return units, AlpacaScores(
        win_rate=wr,
        lc=lc_interval,
        lc_unavailable=reason,
        discrete_win_rate=float(m["discrete_win_rate"]),
        n=len(values),
        n_failed=len(units) - len(values),
    )


def judgment_path(bench_dir: Path, obj: dict) -> Path:
    """The judgments file metrics.json names (`judging.judgments`), else FastChat's name for it."""
    named = (obj.get("judging") or {}).get("judgments")
    if named:
        return bench_dir / named
    return bench_dir / "model_judgment" / f"{file_stem(obj['judge']['model'])}_single.jsonl"


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _mt_bench(path: Path, obj: dict, n_boot: int, seed: int) -> tuple[dict, MTBenchScores]:
    data = judgment_path(path.parent, obj)
    if not data.is_file():
        raise BenchmarkDataError(
            f"no judgment file {data} beside it", field="judge.model", file=path
        )
    model_id = obj["model"]["model_id"]
    rows = [r for r in read_judgments(data) if r.get("model") == model_id]
    if not rows:
        raise BenchmarkDataError(
            f"no row of model {model_id!r} (metrics.json's model.model_id)", file=data
        )
    units: dict[int, list[float]] = {}
    kept, n_missing = [], 0
    for row in rows:
        scores = units.setdefault(row["question_id"], [])  # all turns missing: still a unit
        if row["score"] == MISSING:
            n_missing += 1
            continue
        scores.append(float(row["score"]))
        kept.append(row)
    if not kept:
        raise BenchmarkDataError("every score is missing (-1)", file=data)
    overall = Interval(
        *cluster_mean_ci(list(units.values()), n_boot=n_boot, level=LEVEL, seed=seed)
    )
    _agree(overall.estimate, obj["metrics"]["overall"], "overall", data, path)
    return {q: tuple(v) for q, v in units.items()}, MTBenchScores(
        overall=overall,
        turn_1=_mean([float(r["score"]) for r in kept if r["turn"] == 1]),
        turn_2=_mean([float(r["score"]) for r in kept if r["turn"] == 2]),
        n_questions=len(units),
        n_rows=len(kept),
        n_missing=n_missing,
    )


_READERS = {ALPACA_EVAL: _alpaca, MT_BENCH: _mt_bench}


def read_run(path: Path, n_boot: int = 2000, seed: int = 0) -> Run:
    """One `results/<run>/<bench>/metrics.json` and the per-item file beside it."""
    path = Path(path)
    bench = path.parent.name
    obj = read_metrics(path, bench)
    units, scores = _READERS[bench](path, obj, n_boot, seed)
    return Run(
        run=path.parent.parent.name,
        bench=bench,
        metrics_path=path,
        model=obj["model"]["name_or_path"],
        model_id=obj["model"]["model_id"],
        judge=obj["judge"]["model"],
        judge_backend=obj["judge"]["backend"],
        judge_endpoint=str(obj["judge"].get("base_url") or obj["judge"].get("model_path") or ""),
        sha256=dict(obj["data"]["sha256"]),
        n_items=obj["data"]["n_items"],
        limit=obj["data"]["limit"],
        units=units,
        scores=scores,
    )


def collect(results_dir: str | Path, n_boot: int = 2000, seed: int = 0) -> list[Run]:
    """Every `results_dir/*/<bench>/metrics.json`, sorted by bench then run."""
    results_dir = Path(results_dir)
    return [read_run(p, n_boot=n_boot, seed=seed) for p in _metrics_files(results_dir, False)]


def _metrics_files(results_dir: Path, unscored: bool) -> list[Path]:
    """The metrics.json files whose run was scored (`unscored=False`) or could not be."""
    paths = [p for bench in BENCHES for p in sorted(results_dir.glob(f"*/{bench}/{METRICS_FILE}"))]
    return [p for p in paths if bool(_unscored_reason(p)) == unscored]


def _unscored_reason(path: Path) -> str | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))["metrics"].get("unscored")
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None  # read_run names what is wrong with it


def unscored(results_dir: str | Path) -> list[tuple[str, str, str]]:
    """(run, bench, why) of every evaluated run that could not be scored (every judgment
    failed): listed on the leaderboard, not ranked."""
    return [
        (p.parent.parent.name, p.parent.name, _unscored_reason(p))
        for p in _metrics_files(Path(results_dir), True)
    ]


def _not_comparable(a: Run, b: Run) -> str | None:
    if a.judge != b.judge:
        return f"different judge models ({a.judge} vs {b.judge})"
    if a.judge_endpoint != b.judge_endpoint:
        return f"different judges ({a.judge_endpoint} vs {b.judge_endpoint})"
    if a.sha256 != b.sha256:
        files = sorted(
            f for f in set(a.sha256) | set(b.sha256) if a.sha256.get(f) != b.sha256.get(f)
        )
        return f"different data (sha256 of {', '.join(files)})"
    return None


def paired(runs: list[Run], n_boot: int = 2000, seed: int = 0) -> list[Pair]:
    """a - b for every two runs of one bench (a before b by name): a paired bootstrap over their
    shared units when the judge model and the data agree; otherwise a Pair with the reason."""
    out = []
    for bench in BENCHES:
        mine = sorted((r for r in runs if r.bench == bench), key=lambda r: r.run)
        for a, b in itertools.combinations(mine, 2):
            shared = [u for u in a.units if u in b.units]
            reason = _not_comparable(a, b) or (None if shared else "no shared units")
            if reason is None:
                try:
                    diff = paired_difference_ci(
                        [a.units[u] for u in shared],
                        [b.units[u] for u in shared],
                        n_boot=n_boot,
                        seed=seed,
                    )
                except ValueError as error:
                    reason = str(error)
            if reason is not None:
                out.append(Pair(bench, a.run, b.run, None, len(shared), reason))
            else:
                out.append(Pair(bench, a.run, b.run, Interval(*diff), len(shared)))
    return out
