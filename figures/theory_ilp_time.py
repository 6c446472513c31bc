"""Figure: exact ILP solve time and the heuristic's time and gap vs pool size N.

Reads `benchmarks/results/ilp-cpu.json`, written by `python -m theory bench` (`make bench`).
"""

from __future__ import annotations

import json
from pathlib import Path

from .registry import register, save

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "ilp-cpu.json"


@register("theory_ilp_time")
def draw(out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not RESULTS.exists():
        raise FileNotFoundError(f"{RESULTS} is missing: run `python -m theory bench` first")
    report = json.loads(RESULTS.read_text())
    rows = report["rows"]
    n = [r["n"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(n, [r["ilp_wall_s_median"] for r in rows], "o-", label="ILP, median per pool")
    left.plot(n, [r["ilp_wall_s_max"] for r in rows], "o--", label="ILP, max per pool")
    left.plot(n, [r["heuristic_s_per_pool"] for r in rows], "s-", label="local search (batched)")
    left.set(xlabel="pool size N", ylabel="seconds per pool", yscale="log")
    left.set_title(f"solve time, k={rows[0]['k']}, solver {rows[0]['solver']}", fontsize=10)
    left.legend(fontsize=8)
    right.plot(n, [100 * r["gap_mean"] for r in rows], "o-", label="mean")
    right.plot(n, [100 * r["gap_max"] for r in rows], "o--", label="max")
    right.set(xlabel="pool size N", ylabel="Cost(heuristic) / Cost(ILP) - 1  [%]")
    right.set_title("optimality gap of the OptSelect heuristic", fontsize=10)
    right.legend(fontsize=8)
    cpu = report["machine"].get("cpu")
    fig.suptitle(f"AMPO-OptSelect: exact vs heuristic ({rows[0]['instances']} pools per N; {cpu})")
    config = {"source": str(RESULTS.name), "bench_config": report.get("config")}
    paths = save(fig, out_dir / "theory_ilp_time", config, report.get("seed"))
    plt.close(fig)
    return paths
