"""Figure: one synthetic candidate pool with each strategy's selection (the paper's t-SNE figure).

A pool of N=32 responses on imbalanced semantic islands, coloured by an L-Lipschitz reward, projected
to 2-D by PCA; one panel per registered strategy marks the positive (star) and the negatives
(circles), and counts the islands the selection touches. Bottom-k piles its negatives on the
low-reward island; Coreset and OptSelect spread out (PAPER.md section 6).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from selection import get_strategy, select, strategy_names
from theory.landscapes import make_bump_reward, sample_islands

from .registry import register, save

CONFIG = {
    "n_points": 32,
    "dim": 64,
    "n_islands": 5,
    "spread": 2.0,
    "imbalance": 0.3,
    "island_distance": 7.0,
    "reward_components": 6,
    "reward_length_scale": 2.5,
    "k": 8,
}
SEED = 7


def synthetic_pool(cfg: dict = CONFIG, seed: int = SEED):
    """(rewards (1, N), embeddings (1, N, d), island (N,)) of the figure's pool."""
    pool = sample_islands(
        1,
        cfg["n_points"],
        cfg["dim"],
        cfg["n_islands"],
        cfg["spread"],
        imbalance=cfg["imbalance"],
        island_distance=cfg["island_distance"],
        seed=seed,
    )
    reward = make_bump_reward(
        pool.centers,
        cfg["reward_components"],
        length_scale=cfg["reward_length_scale"],
        seed=seed + 1,
    )
    return reward(pool.points), pool.points, pool.island[0]


def pca_2d(points: np.ndarray) -> np.ndarray:
    """(N, d) -> (N, 2) projection on the two leading principal axes."""
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


@register("selection_strategies")
def draw(out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rewards, embeddings, island = synthetic_pool()
    xy = pca_2d(embeddings[0])
    names = strategy_names()
    cols = 3
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.8 * rows), squeeze=False)
    vmin, vmax = rewards.min(), rewards.max()
    for ax, name in zip(axes.flat, names, strict=False):
        k = get_strategy(name).group_size or CONFIG["k"]
        sel = select(name, rewards, embeddings, k, seed=SEED)
        idx = sel.indices[0]
        pos = idx[sel.positive[0]]
        neg = np.array([i for i in idx if i != pos])
        dots = ax.scatter(*xy.T, c=rewards[0], cmap="viridis", vmin=vmin, vmax=vmax, s=18)
        ax.scatter(*xy[neg].T, s=110, facecolors="none", edgecolors="crimson", linewidths=1.6)
        ax.scatter(*xy[pos], marker="*", s=260, c="gold", edgecolors="black", linewidths=0.8)
        covered = len(set(island[idx].tolist()))
        ax.set_title(f"{name}  (k={k}, islands {covered}/{CONFIG['n_islands']})", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    fig.colorbar(dots, ax=axes, shrink=0.6, label="reward")
    fig.suptitle(
        "Selections from one pool of N=32 (PCA of d=64 embeddings; ★ positive, ○ negatives)"
    )
    paths = save(fig, out_dir / "selection_strategies", CONFIG, SEED)
    plt.close(fig)
    return paths
