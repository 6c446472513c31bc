"""A chunk of candidate pools as the strategies see it: rewards, mask, lazily computed geometry."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from . import rng
from .arrays import array_namespace, device, masked_argsort, one_hot
from .geometry import check_geometry, squared_distances
from .validate import check_finite_embeddings, check_values


@dataclass
class Pool:
    """B candidate pools of up to N responses (a padded, masked layout).

    rewards: (B, N) float64, 0 on padding; mask: (B, N) bool, False on padding;
    embeddings: (B, N, d) or None; keys: (B,) int64 host keys of the random streams.
    """

    rewards: object
    mask: object
    embeddings: object | None
    keys: np.ndarray
    seed: int
    row_offset: int = 0
    _xp: object = field(init=False, repr=False)

    def __post_init__(self):
        self._xp = array_namespace(self.rewards)

    @classmethod
    def build(cls, rewards, embeddings, mask, k, *, keys, seed, row_offset=0) -> Pool:
        """Validate one chunk of input and put it in the working layout."""
        xp = array_namespace(rewards)
        if mask is None:
            mask = xp.ones(rewards.shape, dtype=xp.bool, device=device(rewards))
        check_values(rewards, mask, k, row_offset)
        r = xp.astype(rewards, xp.float64)
        r = xp.where(mask, r, xp.zeros_like(r))
        return cls(r, mask, embeddings, np.asarray(keys, dtype=np.int64), seed, row_offset)

    @property
    def xp(self):
        return self._xp

    @property
    def device(self):
        return device(self.rewards)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.rewards.shape)

    @cached_property
    def best(self):
        """(B,) index of the highest-reward valid response (the first one on ties)."""
        order = masked_argsort(self.rewards, self.mask, descending=True)
        return order[:, 0]

    def without_best(self):
        """(B, N) mask of the valid responses other than the best."""
        return self.mask & ~one_hot(self.best, self.shape[1])

    @cached_property
    def sqdist(self):
        """(B, N, N) squared Euclidean distances in the embeddings' working precision, validated
        (no zero variance, no duplicates)."""
        if self.embeddings is None:
            raise ValueError("this strategy needs embeddings, got embeddings=None")
        with np.errstate(all="ignore"):  # non-finite input is reported just below
            d2, spread, magnitude, sq = squared_distances(self.embeddings, self.mask)
        check_finite_embeddings(self.embeddings, sq, self.mask, self.row_offset)
        nbytes = 8 if d2.dtype == self.xp.float64 else 4
        check_geometry(d2, spread, magnitude, self.mask, nbytes, self.row_offset)
        return d2

    @cached_property
    def dist(self):
        """(B, N, N) Euclidean distances A_ij = ||e_i - e_j||_2 (PAPER.md section 1)."""
        return self.xp.sqrt(self.sqdist)

    def uniform(self, stream: int, n: int):
        """(B, n) float64 uniforms in (0, 1] on the pool's device, keyed per prompt."""
        u = rng.uniform(self.seed, self.keys, stream, n)
        return self.xp.asarray(u, device=self.device)
