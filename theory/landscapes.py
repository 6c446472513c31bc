"""Synthetic reward landscapes: island-shaped candidate pools and L-Lipschitz reward functions.

PAPER.md section 3 states Theorem 6.1 under a Lipschitz assumption, |r(e) - r(e')| <= L ||e - e'||,
and notes that L is hard to estimate on real embeddings. This module builds landscapes where L is
known by construction, so that the theory can be checked exactly on many instances at once:

- `sample_islands`: pools of N points in R^d drawn from a mixture of "islands" (clusters), the
  picture behind the paper's t-SNE figure (section 6), with controllable number of islands, spread,
  imbalance and dimension. The generative model is this package's reconstruction [U].
- `sample_mistake_pool` with `make_mistake_reward`: pools where sampling repeats its favourite
  mistake, a dense cluster of near-duplicate worst answers, separate below-average islands and one
  good island (the landscape where redundant negatives matter) [U].
- `BumpReward` and `PiecewiseLinearReward`: reward functions with a proven Lipschitz constant
  `lipschitz` (M,), built by seeded factories collected in `REWARDS` (`make_mistake_reward` is
  not among them: it needs the role of each island).
- `empirical_lipschitz`: max over pairs |r_i - r_j| / ||e_i - e_j||, the estimate the paper's
  limitation paragraph asks for; it is a lower bound of every valid L.
- `KERNELS`: decreasing profiles K(t) with K(0) = 1 and a known Lipschitz constant, shared by the
  bumps here and by the policy model (`theory/policy_model.py`).

Every array carries a leading instance axis M; every generator takes `seed` (an int or a
`numpy.random.Generator`) and draws in a fixed order, so a seed reproduces the instances exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_CHUNK_ELEMENTS = 1 << 22  # bound on the (chunk, N, K, d) difference tensor in _cross_distances


# ---------------------------------------------------------------------------------------------
# Kernels: K(0) = 1, non-increasing on [0, inf), values in [0, 1], |K(t) - K(t')| <= L_K |t - t'|


@dataclass(frozen=True)
class Kernel:
    """A radial profile K(t), t = distance / bandwidth, with its Lipschitz constant L_K."""

    name: str
    profile: Callable[[np.ndarray], np.ndarray]
    lipschitz: float  # sup_t |K'(t)|


def _gaussian(t):
    return np.exp(-0.5 * t * t)


def _laplace(t):
    return np.exp(-t)


def _triangular(t):
    return np.maximum(0.0, 1.0 - t)


KERNELS: dict[str, Kernel] = {
    k.name: k
    for k in (
        # |d/dt exp(-t^2/2)| = t exp(-t^2/2), maximal at t = 1: L_K = exp(-1/2).
        Kernel("gaussian", _gaussian, math.exp(-0.5)),
        Kernel("laplace", _laplace, 1.0),  # |d/dt exp(-t)| <= 1 at t = 0
        Kernel("triangular", _triangular, 1.0),  # slope -1 on [0, 1], 0 beyond
    )
}


def get_kernel(name: str) -> Kernel:
    """The kernel registered under `name`; ValueError naming the registered ones otherwise."""
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}; choose one of {sorted(KERNELS)}")
    return KERNELS[name]


# ---------------------------------------------------------------------------------------------
# Distances


def _cross_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances ||a_n - b_k||: a (M,N,d), b (M,K,d) -> (M,N,K).

    Computed from differences (not the Gram expansion), so that distances between close points
    are accurate to rounding, a(...)==b(...) gives an exactly symmetric result with a zero
    diagonal, and the Lipschitz ratios built on it are trustworthy. Chunked over M.
    """
    m, n, d = a.shape
    k = b.shape[1]
    out = np.empty((m, n, k), dtype=np.result_type(a, b, np.float64))
    step = max(1, _CHUNK_ELEMENTS // max(1, n * k * d))
    for s in range(0, m, step):
        diff = a[s : s + step, :, None, :] - b[s : s + step, None, :, :]  # (m', N, K, d)
        out[s : s + step] = np.sqrt(np.einsum("mnkd,mnkd->mnk", diff, diff))
    return out


def pairwise_distances(points: np.ndarray) -> np.ndarray:
    """A_ij = ||e_i - e_j||_2 (PAPER.md section 1): points (M,N,d) -> (M,N,N); (N,d) -> (N,N).

    Exactly symmetric, exactly zero on the diagonal.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 2:
        return _cross_distances(points[None], points[None])[0]
    if points.ndim != 3:
        raise ValueError(f"points must be (M, N, d) or (N, d), got shape {points.shape}")
    return _cross_distances(points, points)


def empirical_lipschitz(points: np.ndarray, rewards: np.ndarray) -> np.ndarray:
    """max over pairs i != j of |r_i - r_j| / ||e_i - e_j||: points (M,N,d), rewards (M,N) -> (M,).

    Pairs of coincident points are skipped; a pool with fewer than two distinct points gives 0.
    This is a lower bound of any Lipschitz constant of a function taking these values.
    """
    points = np.asarray(points, dtype=np.float64)
    rewards = np.asarray(rewards, dtype=np.float64)
    if points.ndim != 3 or rewards.shape != points.shape[:2]:
        raise ValueError(
            f"expected points (M, N, d) and rewards (M, N), got {points.shape} and {rewards.shape}"
        )
    dist = pairwise_distances(points)  # (M, N, N)
    gap = np.abs(rewards[:, :, None] - rewards[:, None, :])  # (M, N, N)
    ratio = np.divide(gap, dist, out=np.zeros_like(gap), where=dist > 0)
    return ratio.max(axis=(1, 2), initial=0.0)


# ---------------------------------------------------------------------------------------------
# Island pools


@dataclass(frozen=True, eq=False)
class IslandPool:
    """M pools of N points in R^d drawn around I island centres."""

    points: np.ndarray  # (M, N, d) float64
    island: np.ndarray  # (M, N) int, island of each point
    centers: np.ndarray  # (M, I, d) float64


def island_proportions(n_islands: int, imbalance: float) -> np.ndarray:
    """Geometric island proportions pi_a ∝ (1 - imbalance)^a, a = 0..I-1: -> (I,).

    imbalance = 0 gives equal islands; imbalance -> 1 puts almost everything on island 0.
    The ratio of the sizes of two consecutive islands is (1 - imbalance).
    """
    if n_islands < 1:
        raise ValueError(f"n_islands must be >= 1, got {n_islands}")
    if not 0.0 <= imbalance < 1.0:
        raise ValueError(f"imbalance must be in [0, 1), got {imbalance}")
    p = (1.0 - imbalance) ** np.arange(n_islands, dtype=np.float64)
    return p / p.sum()


def island_sizes(n_points: int, n_islands: int, imbalance: float) -> np.ndarray:
    """Number of points per island: N * pi_a rounded by largest remainders: -> (I,) int.

    Sizes sum to N and differ from N * pi_a by less than 1; ties go to the lower island index.
    Small islands may be empty when N is small or the imbalance strong.
    """
    target = n_points * island_proportions(n_islands, imbalance)  # (I,)
    sizes = np.floor(target).astype(np.int64)
    short = n_points - int(sizes.sum())
    order = np.argsort(-(target - sizes), kind="stable")  # largest remainder first
    sizes[order[:short]] += 1
    return sizes


def sample_islands(
    n_instances: int,
    n_points: int,
    dim: int,
    n_islands: int,
    spread: float,
    imbalance: float = 0.0,
    island_distance: float = 4.0,
    seed: int | np.random.Generator = 0,
) -> IslandPool:
    """Sample M pools of N points from a mixture of I isotropic Gaussian islands in R^d [U].

    Model (this package's reconstruction of the paper's "islands"):
    - centres c_a ~ N(0, island_distance^2 / (2 d) I_d), so E||c_a - c_b||^2 = island_distance^2:
      `island_distance` is the root-mean-square distance between two centres, in any dimension;
    - island sizes are deterministic, `island_sizes(N, I, imbalance)` (geometric proportions,
      ratio 1 - imbalance between consecutive islands); the order of the points is shuffled;
    - a point of island a is c_a + eps, eps ~ N(0, spread^2 / d I_d), so E||x - c_a||^2 = spread^2:
      `spread` is the root-mean-square distance of a point to its island's centre.
    Random draws, in this order: centres (M,I,d), one permutation of the labels per instance,
    noise (M,N,d).
    """
    _check_sizes(n_instances, n_points, dim)
    if not spread >= 0 or not island_distance >= 0:
        raise ValueError(
            f"spread and island_distance must be >= 0, got {spread}, {island_distance}"
        )
    sizes = island_sizes(n_points, n_islands, imbalance)  # validates n_islands and imbalance
    spreads = np.full(n_islands, float(spread))
    return _draw_islands(n_instances, sizes, dim, spreads, island_distance, seed)


def _check_sizes(n_instances: int, n_points: int, dim: int) -> None:
    for name, value in (("n_instances", n_instances), ("n_points", n_points), ("dim", dim)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


def _draw_islands(n_instances, sizes, dim, spreads, island_distance, seed) -> IslandPool:
    """Centres ~ N(0, D^2/(2d) I), labels `sizes` (I,) shuffled per instance, points = centre +
    N(0, spreads[a]^2 / d I). Draws, in order: centres (M,I,d), the permutations, noise (M,N,d)."""
    rng = np.random.default_rng(seed)
    n_islands, n_points = len(sizes), int(np.sum(sizes))
    centers = rng.standard_normal((n_instances, n_islands, dim)) * (
        island_distance / math.sqrt(2 * dim)
    )  # (M, I, d)
    labels = np.repeat(np.arange(n_islands), sizes)  # (N,)
    island = rng.permuted(np.tile(labels, (n_instances, 1)), axis=1)  # (M, N)
    scale = np.asarray(spreads, np.float64)[island] / math.sqrt(dim)  # (M, N)
    noise = rng.standard_normal((n_instances, n_points, dim)) * scale[:, :, None]
    points = np.take_along_axis(centers, island[:, :, None], axis=1) + noise  # (M, N, d)
    return IslandPool(points=points, island=island, centers=centers)


def mistake_sizes(n_points: int, n_bad: int, mistake_fraction: float, good_fraction: float):
    """Sizes (n_bad + 2,) of [mistake cluster, bad islands 1..n_bad, good island].

    The mistake cluster holds round(N mistake_fraction) points, the good island
    round(N good_fraction), the bad islands share the rest evenly (the first ones get the
    remainder). Every part must be non-empty.
    """
    if n_bad < 1 or not (0 < mistake_fraction < 1 and 0 < good_fraction < 1):
        raise ValueError(
            f"need n_bad >= 1 and fractions in (0, 1), got {n_bad}, {mistake_fraction}, "
            f"{good_fraction}"
        )
    n_mistake, n_good = round(n_points * mistake_fraction), round(n_points * good_fraction)
    rest = n_points - n_mistake - n_good
    if min(n_mistake, n_good) < 1 or rest < n_bad:
        raise ValueError(
            f"n_points={n_points} cannot hold a mistake cluster, a good island and {n_bad} bad "
            f"islands with fractions {mistake_fraction}, {good_fraction}"
        )
    bad = np.full(n_bad, rest // n_bad) + (np.arange(n_bad) < rest % n_bad)
    return np.concatenate([[n_mistake], bad, [n_good]]).astype(np.int64)


def sample_mistake_pool(
    n_instances: int,
    n_points: int,
    dim: int,
    n_bad: int = 6,
    *,
    mistake_fraction: float = 0.3,
    good_fraction: float = 0.3,
    mistake_spread: float = 0.15,
    spread: float = 0.5,
    island_distance: float = 5.0,
    seed: int | np.random.Generator = 0,
) -> IslandPool:
    """Pools where sampling repeats its favourite mistake [U]: island 0 is a dense cluster of
    near-duplicate answers (RMS radius `mistake_spread`), islands 1..n_bad are separate islands
    and island n_bad + 1 (the last) is one more island; sizes `mistake_sizes`.

    The roles come from the reward (`make_mistake_reward`: the worst answers in the cluster,
    below-average ones on the middle islands, the good ones on the last island). Centres and
    noise are drawn as in `sample_islands` (`island_distance`, `spread` are RMS distances).
    """
    _check_sizes(n_instances, n_points, dim)
    if not (mistake_spread >= 0 and spread >= 0 and island_distance >= 0):
        raise ValueError(
            "mistake_spread, spread and island_distance must be >= 0, got "
            f"{mistake_spread}, {spread}, {island_distance}"
        )
    sizes = mistake_sizes(n_points, n_bad, mistake_fraction, good_fraction)
    spreads = np.full(n_bad + 2, float(spread))
    spreads[0] = mistake_spread
    return _draw_islands(n_instances, sizes, dim, spreads, island_distance, seed)


# ---------------------------------------------------------------------------------------------
# Lipschitz rewards


@dataclass(frozen=True, eq=False)
class BumpReward:
    """r(x) = sum_k h_k K(||x - c_k|| / s_k): hills (h > 0) and valleys (h < 0).

    Lipschitz by construction: x -> ||x - c_k|| is 1-Lipschitz and t -> K(t / s_k) is
    (L_K / s_k)-Lipschitz, so by the triangle inequality L = L_K * sum_k |h_k| / s_k.
    """

    centers: np.ndarray  # (M, K, d)
    heights: np.ndarray  # (M, K)
    widths: np.ndarray  # (M, K), > 0
    kernel: str = "gaussian"

    def __post_init__(self):
        get_kernel(self.kernel)
        m, k, _ = self.centers.shape
        if self.heights.shape != (m, k) or self.widths.shape != (m, k):
            raise ValueError("heights and widths must be (M, K) like centers[..., 0]")
        if not np.all(self.widths > 0):
            raise ValueError("bump widths must be > 0")

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """points (M,N,d) -> rewards (M,N)."""
        t = _cross_distances(np.asarray(points, np.float64), self.centers)  # (M, N, K)
        bumps = get_kernel(self.kernel).profile(t / self.widths[:, None, :])  # (M, N, K)
        return np.einsum("mnk,mk->mn", bumps, self.heights)

    @property
    def lipschitz(self) -> np.ndarray:
        """L (M,) = L_K * sum_k |h_k| / s_k."""
        return get_kernel(self.kernel).lipschitz * np.sum(np.abs(self.heights) / self.widths, -1)


@dataclass(frozen=True, eq=False)
class PiecewiseLinearReward:
    """r(x) = max_k (a_k . x + b_k) - max_l (c_l . x + d_l), a difference of convex PL functions.

    Every continuous piecewise-linear function has this form. A max of affine maps is
    (max_k ||a_k||)-Lipschitz, so L = max_k ||a_k|| + max_l ||c_l||.
    """

    up_slopes: np.ndarray  # (M, K, d) a_k
    up_offsets: np.ndarray  # (M, K) b_k
    down_slopes: np.ndarray  # (M, K', d) c_l
    down_offsets: np.ndarray  # (M, K') d_l

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """points (M,N,d) -> rewards (M,N)."""
        points = np.asarray(points, np.float64)
        up = np.einsum("mnd,mkd->mnk", points, self.up_slopes) + self.up_offsets[:, None, :]
        down = np.einsum("mnd,mkd->mnk", points, self.down_slopes) + self.down_offsets[:, None, :]
        return up.max(axis=-1) - down.max(axis=-1)

    @property
    def lipschitz(self) -> np.ndarray:
        """L (M,) = max_k ||a_k|| + max_l ||c_l||."""
        up = np.linalg.norm(self.up_slopes, axis=-1).max(axis=-1)
        down = np.linalg.norm(self.down_slopes, axis=-1).max(axis=-1)
        return up + down


def _anchor_points(anchors, n_components, length_scale, rng) -> np.ndarray:
    """For each component, a random anchor plus N(0, length_scale^2 / d I_d): -> (M, K, d)."""
    m, a, d = anchors.shape
    pick = rng.integers(0, a, size=(m, n_components))  # (M, K)
    jitter = rng.standard_normal((m, n_components, d)) * (length_scale / math.sqrt(d))
    return np.take_along_axis(anchors, pick[:, :, None], axis=1) + jitter


def _check_factory_args(anchors, n_components, length_scale) -> np.ndarray:
    anchors = np.asarray(anchors, np.float64)
    if anchors.ndim != 3 or anchors.shape[1] < 1:
        raise ValueError(f"anchors must be (M, A, d) with A >= 1, got shape {anchors.shape}")
    if n_components < 1 or not length_scale > 0:
        raise ValueError(
            f"need n_components >= 1 and length_scale > 0, got {n_components}, {length_scale}"
        )
    return anchors


def make_bump_reward(
    anchors: np.ndarray,
    n_components: int = 8,
    *,
    length_scale: float = 1.0,
    kernel: str = "gaussian",
    seed: int | np.random.Generator = 0,
) -> BumpReward:
    """Random `BumpReward` near `anchors` (M,A,d), e.g. `pool.centers` or `pool.points`.

    Each of the K bumps sits at a random anchor plus a jitter of RMS norm `length_scale`, has
    width s ~ length_scale * U(0.5, 1.5) and signed height h ~ N(0, 1).
    Draws, in order: anchor picks, jitter (M,K,d), widths (M,K), heights (M,K).
    """
    anchors = _check_factory_args(anchors, n_components, length_scale)
    rng = np.random.default_rng(seed)
    centers = _anchor_points(anchors, n_components, length_scale, rng)
    widths = length_scale * rng.uniform(0.5, 1.5, size=centers.shape[:2])
    heights = rng.standard_normal(centers.shape[:2])
    return BumpReward(centers=centers, heights=heights, widths=widths, kernel=kernel)


def make_piecewise_linear_reward(
    anchors: np.ndarray,
    n_components: int = 4,
    *,
    length_scale: float = 1.0,
    seed: int | np.random.Generator = 0,
) -> PiecewiseLinearReward:
    """Random `PiecewiseLinearReward` with K up-pieces and K down-pieces hinged near `anchors`.

    Each piece has slope a ~ N(0, I_d / (d length_scale^2)) (RMS norm 1 / length_scale, so the
    reward moves by about 1 over a length_scale) and vanishes at a hinge point p drawn like the
    bump centres, b = -a . p. Draws, in order: up hinges, up slopes, down hinges, down slopes.
    """
    anchors = _check_factory_args(anchors, n_components, length_scale)
    rng = np.random.default_rng(seed)
    d = anchors.shape[-1]
    pieces = []
    for _ in range(2):  # up, then down
        hinge = _anchor_points(anchors, n_components, length_scale, rng)  # (M, K, d)
        slope = rng.standard_normal(hinge.shape) / (length_scale * math.sqrt(d))  # (M, K, d)
        pieces += [slope, -np.einsum("mkd,mkd->mk", slope, hinge)]
    return PiecewiseLinearReward(*pieces)


REWARDS: dict[str, Callable[..., BumpReward | PiecewiseLinearReward]] = {
    "bump": make_bump_reward,
    "piecewise_linear": make_piecewise_linear_reward,
}


def make_mistake_reward(
    centers: np.ndarray,
    *,
    mistake_depth: float = 2.0,
    bad_depth: float = 1.0,
    good_height: float = 2.0,
    width: float = 1.5,
    jitter: float = 0.2,
    kernel: str = "gaussian",
    seed: int | np.random.Generator = 0,
) -> BumpReward:
    """The `BumpReward` of a `sample_mistake_pool` landscape, from its centres (M, I, d).

    A valley of depth mistake_depth at the mistake cluster (centre 0), valleys of depth bad_depth
    at the middle islands, a hill of height good_height at the last island; every height is
    scaled by U(1 - jitter, 1 + jitter), every width is `width`. With mistake_depth (1 - jitter) >
    bad_depth (1 + jitter) the cluster's valley is the deepest. L = L_K sum_k |h_k| / width.
    Draws: the height factors (M, I).
    """
    centers = np.asarray(centers, np.float64)
    if centers.ndim != 3 or centers.shape[1] < 3:
        raise ValueError(f"centers must be (M, I, d) with I >= 3, got shape {centers.shape}")
    if not (width > 0 and 0 <= jitter < 1):
        raise ValueError(f"need width > 0 and jitter in [0, 1), got {width}, {jitter}")
    m, n_islands, _ = centers.shape
    base = np.full(n_islands, -float(bad_depth))
    base[0], base[-1] = -mistake_depth, good_height
    factor = np.random.default_rng(seed).uniform(1 - jitter, 1 + jitter, size=(m, n_islands))
    widths = np.full((m, n_islands), float(width))
    return BumpReward(centers=centers, heights=base * factor, widths=widths, kernel=kernel)
