"""Figure: mean expected-reward gain per selection rule x policy model x landscape family (check 2).

Heat map of E_{p'}[r] - E_p[r] after one update step on each rule's negatives (rows: the registered
fixed-k strategies and the exact ILP; columns: landscape family x policy model, theory/
policy_model.py), each cell annotated with the mean and the half-width of its 95% CI; the cell of
the best rule per column is framed. The numbers come from check 2's own evaluation
(`theory.checks.policy.evaluate` and `findings`) at cheap Monte-Carlo sizes; `make bounds` runs
the full check. The table is written beside the PNG as `theory_expected_reward.csv`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from selection.provenance import atomic_write_bytes
from theory.checks.policy import Ledger, PolicyConfig, evaluate, findings

from .registry import register, save

CONFIG = {"instances": 30, "bandwidth_sweep": ()}
SEED = 0
CSV_FIELDS = ("family", "model", "rule", "mean_gain", "ci95_low", "ci95_high", "pools")


def gain_table(cfg: PolicyConfig, seed: int) -> list[dict]:
    """One row per (family, model, rule): the mean gain and its 95% CI, from check 2's code."""
    table = findings(cfg, evaluate(cfg, seed, Ledger(seed)))["table"]
    return [
        {
            "family": family,
            "model": model,
            "rule": rule,
            "mean_gain": cell["gain"]["mean"],
            "ci95_low": cell["gain"]["ci95"][0],
            "ci95_high": cell["gain"]["ci95"][1],
            "pools": cfg.instances,
        }
        for family, per_model in table.items()
        for model, per_rule in per_model.items()
        for rule, cell in per_rule.items()
    ]


def write_csv(rows: list[dict], path: Path) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_bytes(path, buffer.getvalue().encode())


def render(out_dir: Path, cfg: PolicyConfig, seed: int) -> list[Path]:
    """Evaluate `cfg`, draw the heat map, write PNG, meta JSON and CSV: -> their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    rows = gain_table(cfg, seed)
    columns = list(dict.fromkeys((r["family"], r["model"]) for r in rows))
    rules = list(dict.fromkeys(r["rule"] for r in rows))
    cell = {(r["family"], r["model"], r["rule"]): r for r in rows}

    def grid(field: str) -> np.ndarray:  # (rules, columns)
        return np.array([[cell[(f, m, u)][field] for f, m in columns] for u in rules])

    mean, half = grid("mean_gain"), (grid("ci95_high") - grid("ci95_low")) / 2
    fig, ax = plt.subplots(figsize=(1.05 * len(columns) + 2.5, 0.5 * len(rules) + 2.2))
    bound = max(float(np.abs(mean).max()), 1e-9)
    image = ax.imshow(mean, cmap="RdBu", norm=TwoSlopeNorm(0.0, -bound, bound), aspect="auto")
    for i, j in np.ndindex(mean.shape):
        ax.text(j, i, f"{mean[i, j]:+.2f}\n±{half[i, j]:.2f}", ha="center", va="center", fontsize=6)
    for j in range(1, len(columns)):  # a line between landscape families
        if columns[j][0] != columns[j - 1][0]:
            ax.axvline(j - 0.5, color="black", lw=2.5)
    for j, i in enumerate(np.argmax(mean, axis=0)):  # the best rule of each column
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=1.6, ec="black"))
    ax.set_xticks(range(len(columns)), [f"{f}\n{m}" for f, m in columns], fontsize=6, rotation=90)
    ax.set_yticks(range(len(rules)), rules, fontsize=7)
    fig.colorbar(image, ax=ax, label="mean E_p'[r] - E_p[r] (±: 95% CI half-width)")
    ax.set_title(
        f"Expected-reward gain after one step (eta={cfg.eta}, h={cfg.bandwidth}, kernel "
        f"{cfg.kernel}, k={cfg.k}, {cfg.instances} pools per family); frame: best mean (first of ties)",
        fontsize=9,
    )
    paths = save(fig, out_dir / "theory_expected_reward", asdict(cfg), seed)
    plt.close(fig)
    return [*paths, write_csv(rows, out_dir / "theory_expected_reward.csv")]


@register("theory_expected_reward", slow=True)
def draw(out_dir: Path) -> list[Path]:
    return render(out_dir, replace(PolicyConfig(), **CONFIG), SEED)
