"""Random instances shared by the checks: island landscapes, every strategy's selection, the ILP.

An instance is one candidate pool of N responses (embeddings on islands, `theory.landscapes`) with
an L-Lipschitz reward of known L. `make_landscapes(spec, m, seed)` draws M of them; instance i of
(spec, m, seed) is reproducible from those three values. Selections come from the batched
selection registry (`selection.select`), so the checks exercise exactly the code the pipeline runs.
Results are cached per (spec, m, seed, k): checks 2 and 3 share their ILP solves.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from selection import coverage_weights, get_strategy, select, strategy_names
from theory.ilp import solve_pmedian
from theory.landscapes import (
    REWARDS,
    BumpReward,
    IslandPool,
    empirical_lipschitz,
    get_kernel,
    make_mistake_reward,
    mistake_sizes,
    pairwise_distances,
    sample_islands,
    sample_mistake_pool,
)

EXACT = "exact_ilp"  # the name under which the ILP optimum joins the strategies' selections


@dataclass(frozen=True)
class LandscapeSpec:
    """How pools and rewards are drawn (fields of `sample_islands` and the reward factories)."""

    n_points: int = 32  # N responses per pool
    dim: int = 16  # d of the embeddings
    n_islands: int = 5
    spread: float = 1.0  # RMS distance of a point to its island centre
    imbalance: float = 0.3  # geometric island sizes, ratio 1 - imbalance
    island_distance: float = 4.0  # RMS distance between island centres
    reward: str = "bump"  # a key of theory.landscapes.REWARDS
    reward_components: int = 8
    reward_length_scale: float = 2.0
    kernel: str = "gaussian"  # bump profile (bump rewards only)

    def __post_init__(self):
        if self.reward not in REWARDS:
            raise ValueError(f"reward must be one of {sorted(REWARDS)}, got {self.reward!r}")

    def draw(self, m: int, rng: np.random.Generator):
        """(IslandPool, reward) of M instances: `sample_islands`, then a REWARDS factory."""
        pool = sample_islands(
            m,
            self.n_points,
            self.dim,
            self.n_islands,
            self.spread,
            imbalance=self.imbalance,
            island_distance=self.island_distance,
            seed=rng,
        )
        extra = {"kernel": self.kernel} if self.reward == "bump" else {}
        reward = REWARDS[self.reward](
            pool.centers,
            self.reward_components,
            length_scale=self.reward_length_scale,
            seed=rng,
            **extra,
        )
        return pool, reward


@dataclass(frozen=True)
class MistakeSpec:
    """Pools where sampling repeats its favourite mistake (`theory.landscapes.sample_mistake_pool`
    with `make_mistake_reward`): a dense cluster of near-duplicate worst answers (island 0),
    `n_bad` separate below-average islands and one good island (the last)."""

    n_points: int = 32
    dim: int = 16
    n_bad: int = 6  # below-average islands
    mistake_fraction: float = 0.3  # share of the pool in the mistake cluster
    good_fraction: float = 0.3  # share of the pool on the good island
    mistake_spread: float = 0.15  # RMS radius of the mistake cluster (near-duplicates)
    spread: float = 0.5  # RMS radius of the other islands
    island_distance: float = 5.0  # RMS distance between island centres
    mistake_depth: float = 2.0  # reward valley at the cluster
    bad_depth: float = 1.0  # reward valleys at the bad islands
    good_height: float = 2.0  # reward hill at the good island
    width: float = 1.5  # bump widths
    jitter: float = 0.2  # heights scaled by U(1 - jitter, 1 + jitter)
    kernel: str = "gaussian"  # bump profile

    def __post_init__(self):
        get_kernel(self.kernel)
        mistake_sizes(self.n_points, self.n_bad, self.mistake_fraction, self.good_fraction)
        if not self.mistake_depth * (1 - self.jitter) > self.bad_depth * (1 + self.jitter) > 0:
            raise ValueError(
                "need mistake_depth (1 - jitter) > bad_depth (1 + jitter) > 0 (the cluster's "
                f"valley the deepest), got {self.mistake_depth}, {self.bad_depth}, {self.jitter}"
            )

    def draw(self, m: int, rng: np.random.Generator) -> tuple[IslandPool, BumpReward]:
        """(IslandPool, BumpReward) of M instances, pool first."""
        pool = sample_mistake_pool(
            m,
            self.n_points,
            self.dim,
            self.n_bad,
            mistake_fraction=self.mistake_fraction,
            good_fraction=self.good_fraction,
            mistake_spread=self.mistake_spread,
            spread=self.spread,
            island_distance=self.island_distance,
            seed=rng,
        )
        reward = make_mistake_reward(
            pool.centers,
            mistake_depth=self.mistake_depth,
            bad_depth=self.bad_depth,
            good_height=self.good_height,
            width=self.width,
            jitter=self.jitter,
            kernel=self.kernel,
            seed=rng,
        )
        return pool, reward


# Named landscape families: the checks and figures select them by name.
FAMILIES: dict[str, LandscapeSpec | MistakeSpec] = {
    "islands_bump": LandscapeSpec(),
    "islands_piecewise_linear": LandscapeSpec(reward="piecewise_linear"),
    "mistake_cluster": MistakeSpec(),  # 1 + 6 bad regions for k - 1 = 7 negatives
    "mistake_cluster_few_islands": MistakeSpec(n_bad=3),  # spare negatives: 1 + 3 bad regions
}


def get_family(name: str) -> LandscapeSpec | MistakeSpec:
    """The landscape family `name`; ValueError naming the registered ones otherwise."""
    if name not in FAMILIES:
        raise ValueError(f"unknown landscape family {name!r}; choose one of {sorted(FAMILIES)}")
    return FAMILIES[name]


@dataclass(frozen=True, eq=False)
class Landscapes:
    points: np.ndarray  # (M, N, d)
    rewards: np.ndarray  # (M, N)
    lipschitz: np.ndarray  # (M,) the reward's proven constant L
    empirical_lipschitz: np.ndarray  # (M,) max_{i != j} |r_i - r_j| / A_ij on the pool
    distances: np.ndarray  # (M, N, N)
    island: np.ndarray  # (M, N) island of each point
    best: np.ndarray  # (M,) index of the highest reward (the AMPO positive)

    @property
    def without_best(self) -> np.ndarray:
        """(M, N) bool: the pool minus the positive."""
        mask = np.ones(self.rewards.shape, dtype=bool)
        mask[np.arange(len(self.best)), self.best] = False
        return mask


@functools.lru_cache(maxsize=16)
def make_landscapes(spec: LandscapeSpec | MistakeSpec, m: int, seed: int) -> Landscapes:
    """M pools with rewards, drawn from one generator seeded by `seed` (pool, then reward)."""
    pool, reward = spec.draw(m, np.random.default_rng(seed))
    r = reward(pool.points)  # (M, N)
    return Landscapes(
        points=pool.points,
        rewards=r,
        lipschitz=reward.lipschitz,
        empirical_lipschitz=empirical_lipschitz(pool.points, r),
        distances=pairwise_distances(pool.points),
        island=pool.island,
        best=np.argmax(r, axis=1),
    )


def fixed_k_strategies() -> list[str]:
    """Registered strategies that accept any group size k (best_worst is k = 2 only)."""
    return [n for n in strategy_names() if get_strategy(n).group_size is None]


def as_mask(indices: np.ndarray, n: int) -> np.ndarray:
    """(M, k) indices -> (M, N) bool."""
    mask = np.zeros((indices.shape[0], n), dtype=bool)
    np.put_along_axis(mask, indices, True, axis=1)
    return mask


@dataclass(frozen=True, eq=False)
class Chosen:
    """One rule's selection on M pools: the positive and the negatives as (M, N) masks."""

    positive: np.ndarray  # (M,) pool index of the positive
    negatives: np.ndarray  # (M, N) bool


def strategy_selection(land: Landscapes, name: str, k: int, seed: int) -> Chosen:
    """Select with a registered strategy (group size k, or its fixed size) on every pool."""
    k = get_strategy(name).group_size or k
    sel = select(name, land.rewards, land.points, k, seed=seed, progress=False)
    idx = np.asarray(sel.indices)
    positive = np.asarray(sel.positive_index)
    mask = as_mask(idx, land.rewards.shape[1])
    mask[np.arange(len(positive)), positive] = False
    return Chosen(positive=positive, negatives=mask)


def ampo_weights(land: Landscapes) -> np.ndarray:
    """AMPO-OptSelect weights over the clients = pool minus the positive (0 on the positive)."""
    return np.asarray(coverage_weights(land.rewards, land.without_best))


@functools.lru_cache(maxsize=32)
def exact_selection(spec: LandscapeSpec, m: int, seed: int, k: int) -> Chosen:
    """The ILP optimum of AMPO-OptSelect per pool: best + the k - 1 negatives minimising Cost(S)
    over the pool minus the positive (clients and candidates), solved by `theory.ilp`."""
    land = make_landscapes(spec, m, seed)
    w = ampo_weights(land)
    cand = land.without_best
    mask = np.zeros(land.rewards.shape, dtype=bool)
    for i in range(m):
        sol = solve_pmedian(land.distances[i], w[i], k - 1, candidates=cand[i])
        mask[i, sol.selected] = True
    return Chosen(positive=land.best, negatives=mask)


def selections(spec: LandscapeSpec, m: int, seed: int, k: int, names, exact: bool) -> dict:
    """{name: Chosen} for the given registered strategies, plus EXACT when `exact`."""
    land = make_landscapes(spec, m, seed)
    out = {name: strategy_selection(land, name, k, seed) for name in names}
    if exact:
        out[EXACT] = exact_selection(spec, m, seed, k)
    return out
