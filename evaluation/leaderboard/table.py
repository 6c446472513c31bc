"""`results/leaderboard.md` and `results/leaderboard.csv`: measured runs, paired differences and the
published numbers (kept apart: they are not measured here). Both files are written atomically."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from evaluation.leaderboard.bootstrap import LEVEL, N_BOOT, SEED
from evaluation.leaderboard.published import (
    AE2_JUDGE,
    MT_BENCH_JUDGE,
    PUBLISHED,
    TAGS,
    Published,
)
from evaluation.leaderboard.runs import (
    ALPACA_EVAL,
    MT_BENCH,
    AlpacaScores,
    Interval,
    Pair,
    Run,
    collect,
    paired,
    unscored,
)
from selection.provenance import atomic_write_bytes

MD_FILE, CSV_FILE = "leaderboard.md", "leaderboard.csv"
MEASURED, PUBLISHED_KIND = "measured", "published"
ARENA_HARD = "arena_hard"  # published only: not run by this package
COLUMNS = (
    "kind",
    "bench",
    "run",
    "method",
    "model",
    "judge",
    "n",
    "limit",
    "lc",
    "lc_low",
    "lc_high",
    "wr",
    "wr_low",
    "wr_high",
    "discrete_wr",
    "score",  # MT-bench overall (measured or published) or Arena-Hard (published)
    "score_low",
    "score_high",
    "turn_1",
    "turn_2",
    "n_missing",  # AlpacaEval: failed judgments; MT-bench: rows with score -1
    "source",
    "tag",
    "note",
)
LC_NOTE = (
    "LC ± CI is alpaca_eval's length-controlled win rate ± 1.96 × its own `lc_standard_error`; "
    "it is not a bootstrap (the length-control GLM is not refit on resamples)."
)


# ---------------------------------------------------------------- CSV rows


def _ci(prefix: str, interval: Interval | None) -> dict:
    if interval is None:
        return {}
    return {
        prefix: interval.estimate,
        f"{prefix}_low": interval.low,
        f"{prefix}_high": interval.high,
    }


def _measured_row(run: Run) -> dict:
    row = {
        "kind": MEASURED,
        "bench": run.bench,
        "run": run.run,
        "model": run.model,
        "judge": run.judge,
        "limit": run.limit,
    }
    s = run.scores
    if isinstance(s, AlpacaScores):
        row |= _ci("lc", s.lc) | _ci("wr", s.win_rate)
        row |= {"n": s.n, "discrete_wr": s.discrete_win_rate, "n_missing": s.n_failed}
        row["note"] = s.lc_unavailable
    else:
        row |= _ci("score", s.overall) | {"turn_1": s.turn_1, "turn_2": s.turn_2}
        row |= {"n": s.n_questions, "n_missing": s.n_missing}
    return row


def _published_rows(p: Published) -> list[dict]:
    common = {
        "kind": PUBLISHED_KIND,
        "method": p.method,
        "model": p.base_model,
        "source": p.source,
        "tag": p.tag,
        "note": p.note,
    }
    out = []
    if p.ae2_lc is not None or p.ae2_wr is not None:
        out.append(
            common | {"bench": ALPACA_EVAL, "judge": AE2_JUDGE, "lc": p.ae2_lc, "wr": p.ae2_wr}
        )
    if p.arena_hard is not None:
        out.append(common | {"bench": ARENA_HARD, "score": p.arena_hard})
    if p.mt_bench is not None:
        out.append(common | {"bench": MT_BENCH, "judge": MT_BENCH_JUDGE, "score": p.mt_bench})
    return out


def csv_text(runs: list[Run]) -> str:
    """One row per (measured run or published row, bench); empty cell = unavailable."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in [_measured_row(r) for r in runs] + [
        x for p in PUBLISHED for x in _published_rows(p)
    ]:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in COLUMNS})
    return buffer.getvalue()


# ---------------------------------------------------------------- markdown


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]


def _num(x, digits: int) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _bracket(i: Interval, digits: int, sign: bool = False) -> str:
    f = f"{{:{'+' if sign else ''}.{digits}f}}"
    return f"{f.format(i.estimate)} [{i.low:.{digits}f}, {i.high:.{digits}f}]"


def run_label(run: Run) -> str:
    return run.run if run.limit is None else f"{run.run} (subset: limit {run.limit})"


OPENAI_API = "https://api.openai.com/v1"


def _judge(run: Run) -> str:
    """The judge model, and where it ran unless that is OpenAI's API."""
    if run.judge_endpoint in ("", OPENAI_API):
        return f"{run.judge} ({run.judge_backend})"
    return f"{run.judge} ({run.judge_backend}, {run.judge_endpoint})"


def _alpaca_section(runs: list[Run], boot: str) -> list[str]:
    out = ["## AlpacaEval 2 — measured", ""]
    if not runs:
        return [*out, "No evaluated run.", ""]
    rows = []
    for r in runs:
        s = r.scores
        lc = (
            f"{s.lc.estimate:.1f} ± {s.lc.high - s.lc.estimate:.1f}"
            if s.lc is not None
            else f"n/a ({s.lc_unavailable})"
        )
        n = f"{s.n}" + (f" ({s.n_failed} failed)" if s.n_failed else "")
        wr = _bracket(s.win_rate, 1)
        rows.append([run_label(r), r.model, _judge(r), n, lc, wr, f"{s.discrete_win_rate:.1f}"])
    header = ["run", "model", "judge", "n", "LC ± CI ¹", "WR [low, high] ²", "discrete WR"]
    notes = [
        "",
        f"¹ {LC_NOTE}",
        f"² Win rate with a {LEVEL:.0%} percentile bootstrap interval over instructions "
        f"({boot}); unit value (preference − 1) × 100, failed judgments dropped "
        "as alpaca_eval does. n = instructions with a judgment. All values in percent.",
        "",
    ]
    return out + _table(header, rows) + notes


def _mt_section(runs: list[Run], boot: str) -> list[str]:
    out = ["## MT-bench — measured", ""]
    if not runs:
        return [*out, "No evaluated run.", ""]
    rows = [
        [
            run_label(r),
            r.model,
            _judge(r),
            r.scores.n_questions,
            _bracket(r.scores.overall, 2),
            _num(r.scores.turn_1, 2),
            _num(r.scores.turn_2, 2),
            r.scores.n_missing,
        ]
        for r in runs
    ]
    header = [
        "run",
        "model",
        "judge",
        "n questions",
        "overall [low, high] ¹",
        "turn 1",
        "turn 2",
        "missing ²",
    ]
    notes = [
        "",
        f"¹ FastChat's overall (mean over all kept rows of both turns) with a {LEVEL:.0%} percentile "
        f"cluster-bootstrap interval resampling questions ({boot}).",
        "² Rows whose score is -1 (no parseable rating), dropped as FastChat's show_result.py does.",
        "",
    ]
    return out + _table(header, rows) + notes


def _pairs_section(pairs: list[Pair]) -> list[str]:
    out = ["## Paired differences (run a − run b) — measured", ""]
    done = [p for p in pairs if p.difference is not None]
    skipped = [p for p in pairs if p.difference is None]
    if not pairs:
        return [*out, "Fewer than two runs of a bench: nothing to compare.", ""]
    if done:
        digits = {ALPACA_EVAL: 1, MT_BENCH: 2}
        rows = [
            [
                p.bench,
                p.run_a,
                p.run_b,
                p.n_shared,
                _bracket(p.difference, digits[p.bench], sign=True),
            ]
            for p in done
        ]
        out += _table(["bench", "run a", "run b", "shared units", "a − b [low, high]"], rows)
        out += [
            "",
            f"Paired {LEVEL:.0%} percentile bootstrap over the units both runs share (instructions; "
            "questions), one resample applied to both runs. AlpacaEval: win-rate points; "
            "MT-bench: overall score. Only runs with the same judge model and the same data (sha256) "
            "are compared.",
        ]
    if skipped:
        out += ["", "Not compared:", ""]
        out += [f"- {p.bench}: {p.run_a} vs {p.run_b}: {p.reason}" for p in skipped]
    return [*out, ""]


def _published_section() -> list[str]:
    out = [
        "## Published — not measured here",
        "",
        "Numbers reported by the papers and repositories, typed in by hand "
        "(`evaluation/leaderboard/published.py`); none was produced by this package.",
        "",
    ]
    rows = [
        [
            p.method + (f" ({p.note})" if p.note else ""),
            p.base_model,
            _num(p.ae2_lc, 1),
            _num(p.ae2_wr, 1),
            _num(p.arena_hard, 1),
            _num(p.mt_bench, 2),
            f"{p.source} {p.tag}",
        ]
        for p in PUBLISHED
    ]
    out += _table(
        ["method", "base model", "AE2 LC", "AE2 WR", "Arena-Hard", "MT-bench", "source"], rows
    )
    out += ["", *[f"- {tag}: {what}." for tag, what in TAGS.items()]]
    out += [
        "",
        "What differs from the measured tables above:",
        "",
        "- model: the published checkpoints are the authors' own trainings, not the runs above.",
        "- data: published numbers use the full benchmarks (805 AlpacaEval 2 instructions, 80 MT-bench "
        "questions); a run marked 'subset' used fewer.",
        f"- judge: published AlpacaEval 2 uses {AE2_JUDGE}; published MT-bench uses "
        f"{MT_BENCH_JUDGE}; Arena-Hard is not run here. The measured runs name their judge in the "
        "tables above.",
        f"- intervals: none are published here. {LC_NOTE}",
        "",
    ]
    return out


def markdown_text(
    runs: list[Run],
    pairs: list[Pair],
    n_boot: int = N_BOOT,
    seed: int = SEED,
    unscored_runs: list[tuple[str, str, str]] | None = None,
) -> str:
    boot = f"{n_boot} resamples, seed {seed}"
    lines = [
        "# Leaderboard",
        "",
        "Measured rows are read from `results/<run>/<bench>/metrics.json`; their intervals are "
        "recomputed from the annotations / judgments saved beside it.",
        "",
        *_alpaca_section([r for r in runs if r.bench == ALPACA_EVAL], boot),
        *_mt_section([r for r in runs if r.bench == MT_BENCH], boot),
        *_pairs_section(pairs),
        *_unscored_section(unscored_runs or []),
        *_published_section(),
    ]
    return "\n".join(lines)


def _unscored_section(rows: list[tuple[str, str, str]]) -> list[str]:
    if not rows:
        return []
    return [
        "## Not scored",
        "",
        *_table(["run", "bench", "why"], [list(r) for r in rows]),
        "",
    ]


def write_leaderboard(
    results_dir: str | Path, n_boot: int = N_BOOT, seed: int = SEED
) -> list[Path]:
    """Collect the runs under `results_dir`, then write `leaderboard.md` and `leaderboard.csv` there."""
    results_dir = Path(results_dir)
    runs = collect(results_dir, n_boot=n_boot, seed=seed)
    pairs = paired(runs, n_boot=n_boot, seed=seed)
    return [
        atomic_write_bytes(
            results_dir / MD_FILE,
            markdown_text(runs, pairs, n_boot, seed, unscored(results_dir)).encode(),
        ),
        atomic_write_bytes(results_dir / CSV_FILE, csv_text(runs).encode()),
    ]
