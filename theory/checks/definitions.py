"""Check 6: every registered selection rule selects what its definition says (PAPER.md section 2).

The theorems are about the rules as defined, so the checks need the implementation to be the rule.
Each registered strategy is re-derived here from its definition by a short, naive implementation
(loops, explicit differences, `numpy.linalg.slogdet`) that shares no code with `selection/`, and
compared with `selection.select` on random island pools:

- `top_k`, `bottom_k`, `best_worst`, `ampo_bottomk`: sorting the rewards;
- `random`: k - 1 distinct responses other than the best, and a draw that depends on the seed;
- `ampo_coreset`: greedy k-means++ seeds among the pool minus the best, drawn from the prompt's own
  random stream (`selection.rng`, the one piece shared: the source of randomness, not the logic),
  Lloyd's iterations in embedding space, the lowest-reward member of each cluster; and the same
  with `init="maximin"` (farthest-first seeds from the lowest-reward response);
- `ampo_optselect`: PAM on the reference Cost_w (greedy build, then best-improvement single swaps),
  and no single swap of a negative lowers that cost (check 3 measures how close to the optimum it
  is);
- `kcenter`: farthest-first traversal from the best;
- `dpp`: greedy MAP of log det L_S, L_ij = q_i q_j exp(-A_ij^2 / (2 h^2)), q_i^2 = exp(rbar - r_i).
Statement per rule: the fraction of pools where the selected set differs from the reference is 0
(slack = -fraction). Every registered strategy must have an entry in DEFINITIONS.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from selection import get_strategy, rng, select, strategy_names

from . import reference as ref
from .instances import LandscapeSpec, as_mask, make_landscapes
from .registry import Statement, assess, register, result

NAME = "selection_definitions"


@dataclass(frozen=True)
class DefinitionsConfig:
    instances: int = 200  # pools
    k: int = 8
    landscape: LandscapeSpec = field(default_factory=LandscapeSpec)

    def __post_init__(self):
        if self.instances < 1 or self.k < 3:
            raise ValueError("need instances >= 1 and k >= 3")


@dataclass(frozen=True, eq=False)
class Pools:
    points: np.ndarray  # (M, N, d)
    rewards: np.ndarray  # (M, N)
    dist: np.ndarray  # (M, N, N) reference distances

    @property
    def best(self) -> np.ndarray:
        return np.argmax(self.rewards, axis=1)


def _sets(indices: np.ndarray, n: int) -> np.ndarray:
    return as_mask(np.asarray(indices), n)


def _rank(pools: Pools, m: int, lowest: bool, skip_best: bool) -> np.ndarray:
    """(M, N) bool: the m lowest (or highest) rewards, the best left out when skip_best."""
    out = np.zeros(pools.rewards.shape, dtype=bool)
    for i, r in enumerate(pools.rewards):
        order = [
            j for j in np.argsort(r if lowest else -r) if not (skip_best and j == pools.best[i])
        ]
        out[i, order[:m]] = True
    return out


def _with_best(pools: Pools, negatives: np.ndarray) -> np.ndarray:
    out = negatives.copy()
    out[np.arange(len(out)), pools.best] = True
    return out


def _farthest_first(dist: np.ndarray, allowed: np.ndarray, first: int, m: int) -> list[int]:
    picked = [first]
    while len(picked) < m:
        gap = [
            min(dist[j, p] for p in picked) if allowed[j] and j not in picked else -1
            for j in range(len(allowed))
        ]
        picked.append(int(np.argmax(gap)))
    return picked


def ref_top_k(pools, k, _seed):
    return _rank(pools, k, lowest=False, skip_best=False)


def ref_bottom_k(pools, k, _seed):
    return _rank(pools, k, lowest=True, skip_best=False)


def ref_best_worst(pools, _k, _seed):
    return _with_best(pools, _rank(pools, 1, lowest=True, skip_best=True))


def ref_ampo_bottomk(pools, k, _seed):
    return _with_best(pools, _rank(pools, k - 1, lowest=True, skip_best=True))


def ref_kcenter(pools, k, _seed):
    out = np.zeros(pools.rewards.shape, dtype=bool)
    for i in range(len(out)):
        out[
            i, _farthest_first(pools.dist[i], np.ones(out.shape[1], bool), int(pools.best[i]), k)
        ] = True
    return out


def _lloyd_lowest(x: np.ndarray, r: np.ndarray, members: np.ndarray, seeds: list[int]) -> list[int]:
    """Lloyd's iterations in embedding space from the seed points; the lowest-reward member of each
    final cluster. x (N, d), r (N,), members (N,) bool."""
    c = len(seeds)
    centroids = x[seeds]  # (c, d)
    labels = None
    for _ in range(300):
        d2 = np.sum((x[:, None, :] - centroids[None, :, :]) ** 2, axis=-1)  # (N, c)
        new = np.argmin(d2, axis=1)
        if labels is not None and np.array_equal(new[members], labels[members]):
            break
        labels = new
        if len(set(labels[members].tolist())) < c:
            break  # an emptied cluster: left to the implementation's relocation rule
        centroids = np.stack([x[members & (labels == j)].mean(axis=0) for j in range(c)])
    out = []
    for j in range(c):
        cluster = np.flatnonzero(members & (labels == j))
        if cluster.size:
            out.append(int(cluster[np.argmin(r[cluster])]))
    return out


def _kmeanspp_seeds(d2: np.ndarray, members: np.ndarray, c: int, uniform) -> list[int]:
    """Greedy k-means++ (Arthur & Vassilvitskii 2007; 2 + floor(ln c) trials per centre, as
    scikit-learn): the first seed drawn uniformly over the members, each next one the candidate of
    lowest potential among draws proportional to the squared distance to the nearest seed.
    uniform(stream, n) -> (n,) draws in (0, 1]; inverse-CDF draws: the first index whose cumulative
    weight reaches u * total."""

    def draw(weights, u):
        cdf = np.cumsum(weights)
        return [min(int(np.searchsorted(cdf, v * cdf[-1], side="left")), len(cdf) - 1) for v in u]

    w = members.astype(float)
    seeds = draw(w, uniform(0, 1))
    closest = d2[seeds[0]] * w
    for step in range(1, c):
        trials = draw(closest, uniform(step, 2 + int(math.log(c))))
        potentials = [np.sum(np.minimum(closest, d2[t] * w)) for t in trials]
        seeds.append(trials[int(np.argmin(potentials))])
        closest = np.minimum(closest, d2[seeds[-1]] * w)
    return seeds


def _coreset(pools, k, seed_points) -> np.ndarray:
    out = np.zeros(pools.rewards.shape, dtype=bool)
    for i, (x, r) in enumerate(zip(pools.points, pools.rewards, strict=True)):
        members = np.arange(len(r)) != pools.best[i]
        out[i, _lloyd_lowest(x, r, members, seed_points(i, members))] = True
    return _with_best(pools, out)


def ref_coreset_maximin(pools, k, _seed):
    """Farthest-first seeds from the lowest reward, Lloyd in embedding space, lowest per cluster."""

    def seeds(i, members):
        start = int(np.argmin(np.where(members, pools.rewards[i], np.inf)))
        return _farthest_first(pools.dist[i], members, start, k - 1)

    return _coreset(pools, k, seeds)


def ref_coreset_kmeanspp(pools, k, seed):
    """The default: greedy k-means++ seeds from the prompt's own random stream (row i has key i),
    Lloyd in embedding space, lowest reward per cluster."""

    def seeds(i, members):
        def uniform(stream, n):
            return rng.uniform(seed, np.array([i]), stream, n)[0]

        return _kmeanspp_seeds(pools.dist[i] ** 2, members, k - 1, uniform)

    return _coreset(pools, k, seeds)


def ref_dpp(pools, k, _seed):
    """Greedy MAP by log-determinants, quality exp(rbar - r) over the candidates (tau = 1)."""
    out = np.zeros(pools.rewards.shape, dtype=bool)
    for i, r in enumerate(pools.rewards):
        cand = np.arange(len(r)) != pools.best[i]
        d2 = pools.dist[i] ** 2
        h2 = d2[np.ix_(cand, cand)].sum() / (cand.sum() * (cand.sum() - 1))
        q2 = np.where(cand, np.exp(r[cand].mean() - r), 0.0)
        kernel = np.sqrt(q2)[:, None] * np.exp(-d2 / (2 * h2)) * np.sqrt(q2)[None, :]
        chosen: list[int] = []
        for _ in range(k - 1):
            score = [
                np.linalg.slogdet(kernel[np.ix_([*chosen, j], [*chosen, j])])[1]
                if cand[j] and j not in chosen
                else -np.inf
                for j in range(len(r))
            ]
            chosen.append(int(np.argmax(score)))
        out[i, chosen] = True
    return _with_best(pools, out)


def _pam(dist: np.ndarray, w: np.ndarray, cand: np.ndarray, m: int) -> list[int]:
    """Greedy build of m medoids, then best-improvement single swaps while one lowers the
    reference Cost_w by more than a relative 1e-12 (at most 100). dist (N, N), w (N,), cand (N,)."""

    def cost(chosen):
        mask = np.zeros((1, len(w)), dtype=bool)
        mask[0, list(chosen)] = True
        return float(ref.cost(dist[None], w[None], mask)[0])

    chosen: list[int] = []
    for _ in range(m):
        free = [j for j in range(len(w)) if cand[j] and j not in chosen]
        chosen.append(min(free, key=lambda j: cost([*chosen, j])))
    for _ in range(100):
        now = cost(chosen)
        swaps = [
            (cost([*chosen[:s], j, *chosen[s + 1 :]]), s, j)
            for s in range(m)
            for j in range(len(w))
            if cand[j] and j not in chosen
        ]
        best, slot, into = min(swaps)
        if not best < now * (1 - 1e-12):
            break
        chosen[slot] = into
    return chosen


def ref_optselect(pools, k, _seed):
    """PAM as documented for OptSelect on the reference Cost_w over the pool minus the best (the
    strategy's default `max_swaps` = 100)."""
    out = np.zeros(pools.rewards.shape, dtype=bool)
    for i, r in enumerate(pools.rewards):
        cand = np.arange(len(r)) != pools.best[i]
        w = ref.weights(r[None], cand[None])[0]
        out[i, _pam(pools.dist[i], w, cand, k - 1)] = True
    return _with_best(pools, out)


def ref_optselect_local(pools, selected):
    """(M,) relative slack of single-swap local optimality under the reference cost."""
    cand = np.ones(selected.shape, dtype=bool)
    cand[np.arange(len(cand)), pools.best] = False
    neg = selected & cand
    w = ref.weights(pools.rewards, cand)
    c = ref.cost(pools.dist, w, neg)
    return (ref.best_swap_cost(pools.dist, w, neg, cand) - c) / np.maximum(c, 1e-300)


@dataclass(frozen=True)
class Definition:
    reference: Callable | None  # (pools, k, seed) -> (M, N) bool the expected set
    options: dict = field(default_factory=dict)


DEFINITIONS: dict[str, Definition] = {
    "top_k": Definition(ref_top_k),
    "bottom_k": Definition(ref_bottom_k),
    "best_worst": Definition(ref_best_worst),
    "ampo_bottomk": Definition(ref_ampo_bottomk),
    "kcenter": Definition(ref_kcenter),
    "ampo_coreset": Definition(ref_coreset_kmeanspp),
    "ampo_coreset (maximin)": Definition(ref_coreset_maximin, {"init": "maximin"}),
    "dpp": Definition(ref_dpp),
    "ampo_optselect": Definition(ref_optselect),
    "random": Definition(None),  # validity and seed dependence, below
}


def strategy_of(key: str) -> str:
    """The registered strategy of a DEFINITIONS key ("name" or "name (variant)")."""
    return key.split(" (")[0]


def _valid(pools: Pools, selected: np.ndarray, k: int, keeps_best: bool = True) -> np.ndarray:
    """(M,) 0 where the set has k members (the best among them when keeps_best), else -1."""
    size_ok = selected.sum(axis=1) == k
    best_ok = selected[np.arange(len(selected)), pools.best] | (not keeps_best)
    return np.where(size_ok & best_ok, 0.0, -1.0)


@register(
    NAME,
    "6",
    claim="The selection rules of PAPER.md section 2 (Bottom-k, Coreset, OptSelect) and the baselines "
    "select what their definitions say.",
    formalisation="On random island pools, each registered strategy's selected set equals a naive "
    "reference implementation of its definition (sorting; greedy k-means++ or farthest-first seeds + "
    "Lloyd + lowest reward per cluster for Coreset; farthest-first for k-center; log-det greedy for the "
    "DPP; greedy build + best-improvement swaps on the reference Cost_w for OptSelect) on every pool; "
    "OptSelect's negatives are a single-swap local optimum of the reference Cost_w; random selections are valid and change with the seed.",
    config=DefinitionsConfig,
)
def check_selection_definitions(cfg: DefinitionsConfig, seed: int):
    """Check 6 (see the module docstring). Slack = -(fraction of pools differing)."""
    land = make_landscapes(cfg.landscape, cfg.instances, seed)
    pools = Pools(land.points, land.rewards, ref.distances(land.points))
    n = land.rewards.shape[1]
    statements, mismatch, picked = [], {}, {}
    missing = sorted(set(strategy_names()) - {strategy_of(key) for key in DEFINITIONS})
    statements.append(Statement("every strategy has a definition", np.array([0.0 - len(missing)])))
    for name, definition in DEFINITIONS.items():
        strategy = strategy_of(name)
        k = get_strategy(strategy).group_size or cfg.k
        sel = select(
            strategy, land.rewards, land.points, k, seed=seed, progress=False, **definition.options
        )
        chosen = picked[name] = _sets(sel.indices, n)
        statements.append(
            Statement(
                f"{name}: valid group", _valid(pools, chosen, k, get_strategy(strategy).keeps_best)
            )
        )
        if definition.reference is not None:
            expected = definition.reference(pools, k, seed)
            differ = np.any(chosen != expected, axis=1)
            mismatch[name] = float(differ.mean())
            statements.append(
                Statement(f"{name}: equals its definition", np.array([0.0 - differ.mean()]))
            )
    statements.append(
        Statement(
            "ampo_optselect: single-swap local optimum",
            ref_optselect_local(pools, picked["ampo_optselect"]),
        )
    )
    other = select("random", land.rewards, None, cfg.k, seed=seed + 1, progress=False).indices
    moved = float(np.mean(np.any(picked["random"] != _sets(other, n), axis=1)))
    statements.append(Statement("random: the draw depends on the seed", np.array([moved - 0.5])))
    worst, by_statement, bad = assess(statements, seed)
    return result(
        NAME,
        cfg.instances,
        worst,
        not bad,
        worst_slack_by_statement=by_statement,
        fraction_differing_from_definition=mismatch,
        missing_definitions=missing,
        random_fraction_changed_by_seed=moved,
        violations=bad,
    )
