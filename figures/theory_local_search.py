"""Figure: local-search cost / ILP optimum, histogram over random pools (Theorem 6.2, check 3)."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from theory.checks.local_search import APPROXIMATION, LocalSearchConfig, ratios

from .registry import register, save

CONFIG = {"instances": 100}
SEED = 0


@register("theory_local_search_ratio", slow=True)
def draw(out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = replace(LocalSearchConfig(), instances=CONFIG["instances"])
    found = ratios(cfg, SEED)
    top = max(1.02, max(float(r.max()) for r in found.values()))
    bins = np.linspace(1.0, top, 26)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for start, ratio in found.items():
        exact = float(np.mean(ratio <= 1 + 1e-9))
        ax.hist(
            ratio,
            bins=bins,
            alpha=0.55,
            label=f"{start} start: max {ratio.max():.4f}, optimal in {100 * exact:.0f}%",
        )
    ax.set(xlabel="Cost(local search) / Cost(ILP optimum)", ylabel="pools")
    ax.set_yscale("log")
    ax.text(
        0.98,
        0.6,
        f"Theorem 6.2 bound: ratio <= {APPROXIMATION:g}\n(off the axis)",
        transform=ax.transAxes,
        ha="right",
    )
    ax.legend(fontsize=8)
    ax.set_title(
        f"Single-swap local search vs exact ILP ({cfg.instances} pools, N="
        f"{cfg.landscape.n_points}, k={cfg.k})",
        fontsize=10,
    )
    paths = save(fig, out_dir / "theory_local_search_ratio", asdict(cfg), SEED)
    plt.close(fig)
    return paths
