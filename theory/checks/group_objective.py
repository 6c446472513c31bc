"""Check 4: SWEPO/MPO's group objective (PAPER.md sections 3-4): bias rate and 2-bin reliability.

The group objective splits k responses at their mean reward: accepted Y+ = {i: S_i > Smean},
rejected Y- = {j: S_j <= Smean} (PAPER.md section 4). Two claims of the SWEPO/MPO abstracts [C],
formalised here [U]:

(4a) "alignment bias shrinks as O(1/sqrt(k))". Rewards of a group are k i.i.d. draws from the
     policy's reward distribution F (standard normal here). The group objective's preference
     target is the margin T_k = mean(Y+) - mean(Y-); as k -> inf it tends to
     T_inf = E[S | S > mu] - E[S | S <= mu] (= 2 sqrt(2 / pi) for N(0, 1)). Alignment bias:
     Delta(k) = E |T_k - T_inf|. Claim: Delta(k) = O(k^-1/2); we fit the slope of log Delta on
     log k with a bootstrap 95% CI and PASS when the CI's upper end is <= -1/2 + tolerance (an
     O() claim is an upper bound; whether the CI also contains -1/2, i.e. the rate is tight, is
     reported). The systematic part |E T_k - T_inf| and its slope are reported as a finding.
(4b) "the mean-threshold 2-bin partition stays reliable under spacing-scaled Gaussian noise, while
     full-ranking objectives degrade exponentially in n". True rewards r_i = i * spacing
     (i = 1..n, n even), observed S_i = r_i + sigma eps_i, sigma = noise * spacing. With
     d_i = |r_i - rbar| and Phibar the normal tail, two theorems under this model:
       P(partition of S = partition of r) >= 1 - sum_i Phibar(d_i / (sigma sqrt(1 - 1/n)))
                                         >= 1 - 2 sum_{j>=1} Phibar((j - 1/2) / noise) > 0,
     a floor independent of n (union bound: S_i - Smean = r_i - rbar + sigma (eps_i - epsbar));
       P(ranking of S = ranking of r) <= Phi(1 / (noise sqrt 2)) ^ floor(n / 2)
     (the disjoint adjacent pairs (1,2), (3,4), ... must each stay ordered, independently).
     Monte-Carlo estimates must respect both bounds up to 4 standard errors for every n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from .registry import register, result

BIAS = "mpo_bias_rate"
RELIABILITY = "mpo_partition_reliability"
CLAIMED_SLOPE = -0.5
T_INF_NORMAL = 2.0 * math.sqrt(2.0 / math.pi)  # E[S | S > 0] - E[S | S <= 0], S ~ N(0, 1)
MC_SIGMAS = 4.0  # Monte-Carlo tolerance of check 4b, in standard errors


@dataclass(frozen=True)
class BiasConfig:
    instances: int = 40_000  # groups drawn per group size k
    group_sizes: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256, 512)
    bootstrap: int = 400  # bootstrap resamples of the groups, for the slope's CI
    tolerance: float = 0.05  # PASS when the CI's upper end <= -1/2 + tolerance
    chunk: int = 4_000_000  # rewards drawn at once (memory bound)

    def __post_init__(self):
        if len(self.group_sizes) < 2 or min(self.group_sizes) < 2:
            raise ValueError("need at least two group sizes, each >= 2")
        if self.instances < 2 or self.bootstrap < 2:
            raise ValueError("need instances >= 2 and bootstrap >= 2")


def group_margins(rewards: np.ndarray) -> np.ndarray:
    """T = mean(accepted) - mean(rejected) of the mean-threshold split: (R, k) -> (R,).

    A group whose rewards are all equal has no accepted response; its margin is 0.
    """
    above = rewards > rewards.mean(axis=1, keepdims=True)  # (R, k) accepted Y+
    n_up = above.sum(axis=1)
    n_down = rewards.shape[1] - n_up
    up = np.where(above, rewards, 0.0).sum(1) / np.maximum(n_up, 1)
    down = np.where(above, 0.0, rewards).sum(1) / np.maximum(n_down, 1)
    return np.where(n_up > 0, up - down, 0.0)


def deviations(cfg: BiasConfig, seed: int) -> np.ndarray:
    """T_k - T_inf for `instances` groups per k: -> (K, R), one row per group size."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(cfg.group_sizes), cfg.instances))
    for row, k in enumerate(cfg.group_sizes):
        step = max(1, cfg.chunk // k)
        for s in range(0, cfg.instances, step):
            stop = min(s + step, cfg.instances)
            out[row, s:stop] = group_margins(rng.standard_normal((stop - s, k))) - T_INF_NORMAL
    return out


def loglog_slope(k: np.ndarray, y: np.ndarray) -> np.ndarray:
    """OLS slope of log y on log k along the last axis: k (K,), y (..., K) -> (...)."""
    x = np.log(k) - np.log(k).mean()
    ly = np.log(y)
    return np.sum((ly - ly.mean(-1, keepdims=True)) * x, axis=-1) / np.sum(x * x)


def bias_curve(cfg: BiasConfig, seed: int) -> dict:
    """Delta(k) = E|T_k - T_inf|, its slope with a bootstrap CI, and the systematic part."""
    dev = deviations(cfg, seed)  # (K, R)
    k = np.asarray(cfg.group_sizes, np.float64)
    absdev = np.abs(dev)
    delta = absdev.mean(axis=1)  # (K,)
    rng = np.random.default_rng(seed + 1)
    boot = np.empty((cfg.bootstrap, len(k)))
    for row in range(len(k)):  # resample groups independently per k
        idx = rng.integers(0, cfg.instances, size=(cfg.bootstrap, cfg.instances))
        boot[:, row] = absdev[row][idx].mean(axis=1)
    slopes = loglog_slope(k, boot)  # (bootstrap,)
    systematic = np.abs(dev.mean(axis=1))
    return {
        "k": k.tolist(),
        "delta": delta.tolist(),
        "delta_se": (absdev.std(axis=1, ddof=1) / math.sqrt(cfg.instances)).tolist(),
        "slope": float(loglog_slope(k, delta)),
        "slope_ci95": [float(np.quantile(slopes, 0.025)), float(np.quantile(slopes, 0.975))],
        "systematic_bias": systematic.tolist(),
        "systematic_slope": float(loglog_slope(k, np.maximum(systematic, 1e-300))),
        "t_inf": T_INF_NORMAL,
    }


@register(
    BIAS,
    "4a",
    claim="SWEPO/MPO: the alignment bias of the multi-preference group objective shrinks as "
    "O(1/sqrt(k)) in the number of responses k.",
    formalisation="Rewards i.i.d. N(0,1); T_k = mean(Y+) - mean(Y-) of the mean-threshold split of k "
    "rewards, T_inf = 2 sqrt(2/pi); Delta(k) = E|T_k - T_inf|; PASS iff the bootstrap 95% CI of the "
    "log-log slope of Delta vs k has upper end <= -1/2 + tolerance.",
    config=BiasConfig,
)
def check_mpo_bias_rate(cfg: BiasConfig, seed: int):
    """Check 4a (see the module docstring). Slack = (-1/2 + tolerance) - CI upper end."""
    curve = bias_curve(cfg, seed)
    lo, hi = curve["slope_ci95"]
    slack = CLAIMED_SLOPE + cfg.tolerance - hi
    return result(
        BIAS,
        cfg.instances * len(cfg.group_sizes),
        slack,
        slack >= 0,
        ci_contains_minus_half=bool(lo <= CLAIMED_SLOPE <= hi),
        criterion=f"slope CI upper end <= {CLAIMED_SLOPE} + {cfg.tolerance}",
        seed=seed,
        **curve,
    )


@dataclass(frozen=True)
class ReliabilityConfig:
    instances: int = 20_000  # noisy draws per n
    sizes: tuple[int, ...] = (2, 4, 8, 12, 16, 24, 32, 48, 64)  # n, even (no reward at the mean)
    noise: float = 0.5  # sigma / spacing

    def __post_init__(self):
        if any(n < 2 or n % 2 for n in self.sizes):
            raise ValueError(f"sizes must be even and >= 2, got {self.sizes}")
        if not self.noise > 0 or self.instances < 2:
            raise ValueError("need noise > 0 and instances >= 2")


def partition_floor(n: int, noise: float) -> float:
    """1 - sum_i Phibar(d_i / (sigma sqrt(1 - 1/n))), spacing 1: the union bound of (4b)."""
    d = np.abs(np.arange(1, n + 1) - (n + 1) / 2.0)  # (n,) distances to the mean
    return float(1.0 - norm.sf(d / (noise * math.sqrt(1.0 - 1.0 / n))).sum())


def partition_floor_uniform(noise: float, terms: int = 1000) -> float:
    """1 - 2 sum_{j>=1} Phibar((j - 1/2) / noise): the floor for every n."""
    return float(1.0 - 2.0 * norm.sf((np.arange(1, terms + 1) - 0.5) / noise).sum())


def ranking_ceiling(n: int, noise: float) -> float:
    """Phi(1 / (noise sqrt 2)) ^ floor(n/2): the exponential ceiling of (4b)."""
    return float(norm.cdf(1.0 / (noise * math.sqrt(2.0))) ** (n // 2))


def recovery(cfg: ReliabilityConfig, seed: int) -> dict:
    """Monte-Carlo P(partition recovered) and P(ranking recovered) per n, with the bounds."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in cfg.sizes:
        r = np.arange(1, n + 1, dtype=np.float64)  # spacing 1, increasing
        s = r + cfg.noise * rng.standard_normal((cfg.instances, n))  # (R, n)
        part = np.all((s > s.mean(1, keepdims=True)) == (r > r.mean()), axis=1)
        rank = np.all(np.diff(s, axis=1) > 0, axis=1)
        p_part, p_rank = float(part.mean()), float(rank.mean())
        se = [
            max(math.sqrt(p * (1 - p) / cfg.instances), 1 / cfg.instances) for p in (p_part, p_rank)
        ]
        rows.append(
            {
                "n": n,
                "p_partition": p_part,
                "p_ranking": p_rank,
                "se_partition": se[0],
                "se_ranking": se[1],
                "partition_floor": partition_floor(n, cfg.noise),
                "ranking_ceiling": ranking_ceiling(n, cfg.noise),
            }
        )
    return {"rows": rows, "uniform_partition_floor": partition_floor_uniform(cfg.noise)}


@register(
    RELIABILITY,
    "4b",
    claim="MPO: the mean-threshold 2-bin partition stays reliable under spacing-scaled Gaussian "
    "noise, while full-ranking objectives degrade exponentially in the number of responses n.",
    formalisation="r_i = i (spacing 1), S_i = r_i + noise * eps_i: P(partition recovered) >= 1 - "
    "sum_i Phibar(|r_i - rbar| / (noise sqrt(1 - 1/n))) >= 1 - 2 sum_j Phibar((j - 1/2)/noise) > 0 "
    "for every n, and P(ranking recovered) <= Phi(1/(noise sqrt 2))^floor(n/2); Monte-Carlo "
    "estimates checked against both up to 4 standard errors.",
    config=ReliabilityConfig,
)
def check_mpo_partition_reliability(cfg: ReliabilityConfig, seed: int):
    """Check 4b (see the module docstring). Slack in probability units, after the MC tolerance."""
    found = recovery(cfg, seed)
    worst, bad = np.inf, []
    for row in found["rows"]:
        slack_part = row["p_partition"] - row["partition_floor"] + MC_SIGMAS * row["se_partition"]
        slack_rank = row["ranking_ceiling"] - row["p_ranking"] + MC_SIGMAS * row["se_ranking"]
        worst = min(worst, slack_part, slack_rank)
        for statement, slack in (("partition floor", slack_part), ("ranking ceiling", slack_rank)):
            if slack < 0:
                bad.append({"seed": seed, "n": row["n"], "statement": statement, "slack": slack})
    p_rank = np.array([row["p_ranking"] for row in found["rows"]])
    n = np.array(cfg.sizes, np.float64)
    ok = p_rank > 0
    rate = float(np.polyfit(n[ok], np.log(p_rank[ok]), 1)[0]) if ok.sum() >= 2 else float("nan")
    return result(
        RELIABILITY,
        cfg.instances * len(cfg.sizes),
        worst,
        not bad,
        noise=cfg.noise,
        ranking_log_decay_per_response=rate,
        violations=bad,
        **found,
    )
