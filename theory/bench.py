"""ILP benchmark: exact AMPO-OptSelect solve time vs pool size N, and the heuristic's time and gap.

    python -m theory bench [--sizes 8 16 32 64] [--k 8] [--instances 20] [--out DIR]

For each N (default 8 ... 64, k = 8: 1 positive + 7 negatives), on random island pools with Lipschitz
rewards (theory.checks.instances), it solves the weighted p-median MILP of theory/ilp.py per pool
(the chosen solver: the first installed of ilp.MILP_SOLVERS) and runs the registered local-search
heuristic (`ampo_optselect`, batched over the pools). Reported per N: ILP wall time per pool
(median, max) and the solver's own time, heuristic time per pool, and the optimality gap
Cost(heuristic) / Cost(ILP) - 1 (mean, max, fraction of pools solved exactly). Written with machine
info to `<out>/ilp-cpu.json`.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from selection import coverage_cost, select
from selection.provenance import machine, provenance, write_json

from .checks.instances import LandscapeSpec, ampo_weights, make_landscapes
from .ilp import solve_pmedian

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


@dataclass(frozen=True)
class BenchConfig:
    sizes: tuple[int, ...] = (8, 12, 16, 24, 32, 48, 64)  # N
    k: int = 8
    instances: int = 20  # pools per N
    landscape: LandscapeSpec = field(default_factory=LandscapeSpec)  # n_points set per N
    seed: int = 0
    out: Path = RESULTS

    def __post_init__(self):
        if min(self.sizes) < self.k or self.k < 2 or self.instances < 1:
            raise ValueError(f"need every N >= k >= 2 and instances >= 1, got {self}")


def bench_size(cfg: BenchConfig, n: int) -> dict:
    """Time the ILP and the heuristic on `instances` pools of N = n."""
    from dataclasses import replace

    land = make_landscapes(replace(cfg.landscape, n_points=n), cfg.instances, cfg.seed + n)
    w = ampo_weights(land)
    cand = land.without_best
    wall, solver_time, ilp_cost, solver = [], [], [], None
    for i in range(cfg.instances):
        tic = time.perf_counter()
        sol = solve_pmedian(land.distances[i], w[i], cfg.k - 1, candidates=cand[i])
        wall.append(time.perf_counter() - tic)
        solver_time.append(sol.solve_time)
        ilp_cost.append(sol.cost)
        solver = sol.solver
    select("ampo_optselect", land.rewards, land.points, cfg.k, progress=False)  # warm-up
    tic = time.perf_counter()
    sel = select("ampo_optselect", land.rewards, land.points, cfg.k, progress=False)
    heuristic_s = time.perf_counter() - tic
    mask = np.zeros(land.rewards.shape, dtype=bool)
    np.put_along_axis(mask, np.asarray(sel.indices), True, axis=1)
    mask[np.arange(cfg.instances), land.best] = False
    heuristic_cost = coverage_cost(land.distances, w, mask)
    exact = np.asarray(ilp_cost)
    # N = k: every client is a medoid and both costs are 0 (gap 0).
    gap = np.where(exact > 0, heuristic_cost / np.where(exact > 0, exact, 1.0) - 1.0, 0.0)
    return {
        "n": n,
        "k": cfg.k,
        "instances": cfg.instances,
        "solver": solver,
        "ilp_wall_s_median": statistics.median(wall),
        "ilp_wall_s_max": max(wall),
        "ilp_solver_s_median": statistics.median(solver_time),
        "heuristic_s_per_pool": heuristic_s / cfg.instances,
        "gap_mean": float(gap.mean()),
        "gap_max": float(gap.max()),
        "fraction_optimal": float(np.mean(gap <= 1e-9)),
    }


def run_bench(cfg: BenchConfig) -> dict:
    rows = []
    print(
        f"{'N':>4} {'ILP s (median)':>15} {'ILP s (max)':>12} {'heur. ms':>9} {'gap mean':>9} "
        f"{'gap max':>9} {'optimal':>8}"
    )
    for n in cfg.sizes:
        row = bench_size(cfg, n)
        rows.append(row)
        print(
            f"{n:4d} {row['ilp_wall_s_median']:15.4f} {row['ilp_wall_s_max']:12.4f} "
            f"{1e3 * row['heuristic_s_per_pool']:9.3f} {row['gap_mean']:9.2e} "
            f"{row['gap_max']:9.2e} {row['fraction_optimal']:8.2f}"
        )
    config = asdict(cfg) | {"out": str(cfg.out)}
    report = {
        "benchmark": "ilp",
        "machine": machine(),
        "rows": rows,
        **provenance(config, cfg.seed),
    }
    path = write_json(Path(cfg.out) / "ilp-cpu.json", report)
    print(f"solver {rows[-1]['solver']}; wrote {path}")
    return report
