"""Figure: AlpacaEval 2 LC / WR and MT-bench overall of the measured runs (with their intervals)
beside the published numbers (hollow markers, no interval).

Reads `results/` at the repository root through `evaluation.leaderboard.collect` (the same rows as
`results/leaderboard.md`); skipped, with a message, when no run has been evaluated.
"""

from __future__ import annotations

from pathlib import Path

from evaluation.leaderboard.bootstrap import LEVEL, N_BOOT, SEED
from evaluation.leaderboard.published import PUBLISHED
from evaluation.leaderboard.runs import ALPACA_EVAL, MT_BENCH, collect

from .registry import register, save

RESULTS = Path(__file__).resolve().parent.parent / "results"
SKIPPED = "evaluation_leaderboard: skipped, no evaluated run in results/ (run `make eval CKPT=...`)"
MEASURED_STYLE = {"fmt": "o", "capsize": 3}
PUBLISHED_STYLE = {"marker": "D", "facecolors": "none", "s": 30}


def _errors(intervals) -> list[list[float]]:
    """xerr for matplotlib: distances below and above each estimate."""
    return [[i.estimate - i.low for i in intervals], [i.high - i.estimate for i in intervals]]


def _panel(ax, measured: list[tuple[str, dict]], published: list[tuple[str, dict]], xlabel: str):
    """One horizontal dot plot: measured rows on top (estimate, interval), published below."""
    labels = [name for name, _ in measured] + [name for name, _ in published]
    y = [len(labels) - 1 - i for i in range(len(labels))]  # measured on top
    measured = [(y[i], v) for i, (_, v) in enumerate(measured)]
    published = [(y[len(measured) + i], v) for i, (_, v) in enumerate(published)]
    for offset, (metric, color) in enumerate([("a", "tab:blue"), ("b", "tab:orange")]):
        shift = 0.15 * (1 - 2 * offset)
        rows = [(n, v[metric]) for n, v in measured if v.get(metric) is not None]
        if rows:
            ax.errorbar(
                [i.estimate for _, i in rows],
                [at + shift for at, _ in rows],
                xerr=_errors([i for _, i in rows]),
                color=color,
                label=f"measured {measured[0][1]['names'][metric]} ({LEVEL:.0%} CI)",
                **MEASURED_STYLE,
            )
        pub = [(n, v[metric]) for n, v in published if v.get(metric) is not None]
        if pub:
            ax.scatter(
                [x for _, x in pub],
                [at + shift for at, _ in pub],
                edgecolors=color,
                label=f"published {published[0][1]['names'][metric]} (not measured here)",
                **PUBLISHED_STYLE,
            )
    if measured and published:
        ax.axhline(len(published) - 0.5, color="grey", lw=0.8, ls="--")
    ax.set_yticks(y, labels)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=7, loc="lower right")


def _label(run) -> str:
    return run.run + (f" (subset {run.limit})" if run.limit is not None else "")


@register("evaluation_leaderboard", optional=True)
def draw(out_dir: Path, results_dir: Path | None = None) -> list[Path]:
    results_dir = RESULTS if results_dir is None else Path(results_dir)
    runs = collect(results_dir, n_boot=N_BOOT, seed=SEED) if results_dir.is_dir() else []
    if not runs:
        print(SKIPPED)
        return []

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ae_names = {"a": "LC", "b": "WR"}
    ae = [
        (_label(r), {"a": r.scores.lc, "b": r.scores.win_rate, "names": ae_names})
        for r in runs
        if r.bench == ALPACA_EVAL
    ]
    ae_pub = [
        (f"{p.method} / {p.base_model} {p.tag}", {"a": p.ae2_lc, "b": p.ae2_wr, "names": ae_names})
        for p in PUBLISHED
        if p.ae2_lc is not None
    ]
    mt_names = {"a": "overall", "b": None}
    mt = [
        (_label(r), {"a": r.scores.overall, "names": mt_names}) for r in runs if r.bench == MT_BENCH
    ]
    mt_pub = [
        (f"{p.method} / {p.base_model} {p.tag}", {"a": p.mt_bench, "names": mt_names})
        for p in PUBLISHED
        if p.mt_bench is not None
    ]
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 6.5))
    fig.subplots_adjust(wspace=0.75)
    _panel(left, ae, ae_pub, "AlpacaEval 2 vs gpt4_1106_preview  [%]")
    left.set_title("AlpacaEval 2: length-controlled and raw win rate", fontsize=10)
    _panel(right, mt, mt_pub, "MT-bench overall score (1-10)")
    right.set_title("MT-bench (FastChat single grading)", fontsize=10)
    fig.suptitle(
        "Measured runs (filled, with intervals; judge as in results/leaderboard.md) vs published "
        "numbers (hollow; their models, full data, GPT-4 judges)",
        fontsize=10,
    )
    config = {
        "results": str(results_dir),
        "runs": [f"{r.run}/{r.bench}" for r in runs],
        "n_boot": N_BOOT,
        "level": LEVEL,
    }
    paths = save(fig, Path(out_dir) / "evaluation_leaderboard", config, SEED)
    plt.close(fig)
    return paths
