"""Figure: SWEPO/MPO alignment bias of the mean-threshold group objective vs k, log-log (check 4a)."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from theory.checks.group_objective import CLAIMED_SLOPE, BiasConfig, bias_curve

from .registry import register, save

CONFIG = {"instances": 10_000, "bootstrap": 200}
SEED = 0


@register("theory_bias")
def draw(out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = replace(BiasConfig(), **CONFIG)
    curve = bias_curve(cfg, SEED)
    k = np.asarray(curve["k"])
    delta = np.asarray(curve["delta"])
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    lo, hi = curve["slope_ci95"]
    ax.errorbar(
        k,
        delta,
        yerr=1.96 * np.asarray(curve["delta_se"]),
        fmt="o",
        label=f"E|T_k - T_inf|: slope {curve['slope']:.3f} [{lo:.3f}, {hi:.3f}]",
    )
    centre = np.exp(np.mean(np.log(delta)) - CLAIMED_SLOPE * np.mean(np.log(k)))
    ax.plot(k, centre * k**CLAIMED_SLOPE, "k--", label="reference slope -1/2")
    ax.plot(
        k,
        np.asarray(curve["systematic_bias"]),
        "s:",
        label=f"|E T_k - T_inf|: slope {curve['systematic_slope']:.2f}",
    )
    ax.set(xscale="log", yscale="log", xlabel="group size k", ylabel="bias of the margin T_k")
    ax.set_title("Mean-threshold group objective, rewards i.i.d. N(0,1)", fontsize=10)
    ax.legend(fontsize=8)
    paths = save(fig, out_dir / "theory_bias", asdict(cfg), SEED)
    plt.close(fig)
    return paths
