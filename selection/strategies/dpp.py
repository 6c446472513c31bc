"""`dpp`: greedy MAP of a reward-weighted determinantal point process (beyond the paper).

The negatives are the k - 1 responses (from the pool without the positive) greedily maximising
log det L_S with L_ij = q_i q_j S_ij (Kulesza & Taskar's quality-diversity decomposition):

    q_i^2 = w_i = exp((rbar - r_i) / tau)        (the OptSelect weights: low reward, high quality)
    S_ij  = exp(-||e_i - e_j||^2 / (2 h^2))      (Gaussian similarity; h^2 = mean squared distance)

so log det L_S = sum_{i in S} (rbar - r_i) / tau + log det S_S trades badness against diversity:
tau -> 0 recovers Bottom-k, tau -> inf a pure diversity (max-volume) choice.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..dpp_map import greedy_map
from ..group import with_positive
from ..objective import coverage_weights
from ..registry import register
from ..validate import check_positive


@dataclass(frozen=True)
class DPPOptions:
    temperature: float = 1.0  # tau of the quality q_i^2 = exp((rbar - r_i) / tau)
    bandwidth: float | None = None  # h, in the embeddings' units; None: the pool's RMS distance

    def __post_init__(self):
        check_positive(self.temperature, "temperature")
        if self.bandwidth is not None:
            check_positive(self.bandwidth, "bandwidth")


@register(
    "dpp",
    "best + greedy MAP of a reward-weighted DPP (quality x diversity, beyond the paper)",
    options=DPPOptions,
    needs_embeddings=True,
)
def dpp(pool, k, options):
    xp = pool.xp
    candidates = pool.without_best()
    d2 = pool.sqdist  # (B, N, N)
    if options.bandwidth is None:
        pair = candidates[:, :, None] & candidates[:, None, :]
        n = xp.sum(xp.astype(candidates, d2.dtype), axis=1)
        pairs = xp.clip(n * (n - 1), min=1.0)  # one candidate: no pair, any bandwidth will do
        h2 = xp.sum(xp.where(pair, d2, xp.zeros_like(d2)), axis=(1, 2)) / pairs  # (B,)
        h2 = xp.where(h2 > 0, h2, xp.ones_like(h2))
    else:
        h2 = pool.squared_in_units(options.bandwidth, d2.dtype)  # in the pool's units
    similarity = xp.exp(-d2 / (2.0 * h2[:, None, None]))  # (B, N, N)
    weights = xp.astype(coverage_weights(pool.rewards, candidates, options.temperature), d2.dtype)
    quality = xp.sqrt(weights)  # (B, N)
    kernel = quality[:, :, None] * similarity * quality[:, None, :]
    negatives = greedy_map(kernel, candidates, k - 1)
    return with_positive(pool, pool.best, negatives)
