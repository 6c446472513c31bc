"""A chunk of candidate pools as the strategies see it: rewards, mask, geometry, random streams."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from . import rng
from .arrays import array_namespace, device, masked_argsort, one_hot
from .duplicates import resolve_duplicates
from .geometry import Geometry, squared_distances
from .validate import check_finite_embeddings, check_values


@dataclass
class Pool:
    """B candidate pools of up to N responses (a padded, masked layout).

    rewards: (B, N) float64, 0 on masked entries; mask: (B, N) bool, False on padding and on
    the copies collapsed as duplicates; geometry: the pools' distances (None for reward-only
    rules); collapsed: (B,) int64 responses masked out as duplicates; keys: (B,) int64 host keys
    of the random streams.
    """

    rewards: object
    mask: object
    geometry: Geometry | None
    collapsed: object
    keys: np.ndarray
    seed: int
    row_offset: int = 0
    _xp: object = field(init=False, repr=False)

    def __post_init__(self):
        self._xp = array_namespace(self.rewards)

    @classmethod
    def build(
        cls, rewards, embeddings, mask, k, *, keys, seed, row_offset=0, duplicates="collapse"
    ) -> Pool:
        """Validate one chunk of input and put it in the working layout.

        With embeddings, the geometry is computed here and duplicates are collapsed (or
        reported) by `duplicates` (selection.duplicates) before any strategy sees the pool.
        """
        xp = array_namespace(rewards)
        if mask is None:
            mask = xp.ones(rewards.shape, dtype=xp.bool, device=device(rewards))
        check_values(rewards, mask, k, row_offset)
        r = xp.astype(rewards, xp.float64)
        collapsed = xp.zeros(r.shape[:1], dtype=xp.int64, device=device(r))
        geometry = None
        if embeddings is not None:
            geometry = squared_distances(embeddings, mask)  # non-finite input: reported below
            check_finite_embeddings(embeddings, geometry.sq, mask, row_offset)
            mask, collapsed = resolve_duplicates(geometry, r, mask, k, duplicates, row_offset)
        r = xp.where(mask, r, xp.zeros_like(r))
        keys = np.asarray(keys, dtype=np.int64)
        return cls(r, mask, geometry, collapsed, keys, seed, row_offset)

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

    @property
    def sqdist(self):
        """(B, N, N) squared Euclidean distances in units of each pool's scale (its unit of
        length 2**exponent, selection.geometry), in the embeddings' working precision."""
        if self.geometry is None:
            raise ValueError("this strategy needs embeddings, got embeddings=None")
        return self.geometry.sqdist

    @cached_property
    def dist(self):
        """(B, N, N) Euclidean distances A_ij = ||e_i - e_j||_2 (PAPER.md section 1), in units
        of each pool's scale."""
        return self.xp.sqrt(self.sqdist)

    def squared_in_units(self, length: float, dtype=None):
        """(B,) an absolute length, squared, in the units of `sqdist` (selection.geometry)."""
        return self.geometry.squared_in_units(length, dtype)

    def uniform(self, stream: int, n: int):
        """(B, n) float64 uniforms in (0, 1] on the pool's device, keyed per prompt."""
        u = rng.uniform(self.seed, self.keys, stream, n)
        return self.xp.asarray(u, device=self.device)
