"""Input checks of the selection API: one clear ValueError naming the prompt, response and field."""

from __future__ import annotations

from .arrays import array_namespace, to_numpy


class SelectionInputError(ValueError):
    """Bad input to a selection strategy; `prompt` is the row in the batch, `field` the input."""

    def __init__(self, message: str, *, prompt: int | None = None, field: str | None = None):
        where = f"prompt {prompt}: " if prompt is not None else ""
        super().__init__(where + message)
        self.prompt = prompt
        self.field = field


def check_k(k, group_size: int | None, strategy: str) -> int:
    """k is an int >= 2 (one positive and at least one negative), and a fixed group size matches."""
    if isinstance(k, bool) or not isinstance(k, int):
        raise SelectionInputError(f"k must be an int, got {k!r}", field="k")
    if k < 2:
        raise SelectionInputError(
            f"k must be >= 2 (one positive and at least one negative), got k={k}", field="k"
        )
    if group_size is not None and k != group_size:
        raise SelectionInputError(
            f"strategy {strategy!r} selects exactly {group_size} responses, got k={k}", field="k"
        )
    return k


def _first_true(bad) -> tuple[int, ...]:
    """Index tuple of the first True entry of a boolean array (row-major)."""
    hits = to_numpy(bad).nonzero()
    return tuple(int(h[0]) for h in hits)


def check_shapes(rewards, embeddings, mask) -> None:
    """rewards (B, N); embeddings (B, N, d) or None; mask (B, N) bool or None."""
    xp = array_namespace(rewards)
    if rewards.ndim != 2:
        raise SelectionInputError(
            f"rewards must have shape (B, N), got {tuple(rewards.shape)}", field="rewards"
        )
    if not xp.isdtype(rewards.dtype, ("real floating", "integral")):
        raise SelectionInputError(
            f"rewards must be real numbers, got {rewards.dtype}", field="rewards"
        )
    if embeddings is not None:
        if embeddings.ndim != 3 or tuple(embeddings.shape[:2]) != tuple(rewards.shape):
            raise SelectionInputError(
                f"embeddings must have shape (B, N, d) = {(*rewards.shape, 'd')}, "
                f"got {tuple(embeddings.shape)}",
                field="embeddings",
            )
        if embeddings.shape[2] < 1:
            raise SelectionInputError("embeddings must have d >= 1 dimensions", field="embeddings")
    if mask is not None:
        if tuple(mask.shape) != tuple(rewards.shape):
            raise SelectionInputError(
                f"mask must have the shape of rewards {tuple(rewards.shape)}, "
                f"got {tuple(mask.shape)}",
                field="mask",
            )
        if mask.dtype != xp.bool:
            raise SelectionInputError(f"mask must be boolean, got {mask.dtype}", field="mask")


def check_values(rewards, mask, k: int, row_offset: int = 0) -> None:
    """Pool sizes >= k and finite rewards on the valid (unmasked) responses."""
    xp = array_namespace(rewards)
    n_valid = xp.sum(xp.astype(mask, xp.int64), axis=1)  # (B,)
    small = n_valid < k
    if bool(xp.any(small)):
        (b,) = _first_true(small)
        raise SelectionInputError(
            f"k={k} exceeds the pool size N={int(n_valid[b])}", prompt=b + row_offset, field="k"
        )
    bad = mask & ~xp.isfinite(rewards)
    if bool(xp.any(bad)):
        b, i = _first_true(bad)
        raise SelectionInputError(
            f"response {i}: reward is {float(rewards[b, i])} (rewards must be finite)",
            prompt=b + row_offset,
            field="rewards",
        )


def check_finite_embeddings(embeddings, sq, mask, row_offset: int = 0) -> None:
    """Finite embeddings on the valid responses.

    sq (B, N): the squared norms from the Gram product, non-finite wherever an embedding is; the
    exact elementwise test runs only on those suspects (it clears a mere float overflow).
    """
    xp = array_namespace(embeddings)
    suspect = mask & ~xp.isfinite(sq)
    if not bool(xp.any(suspect)):
        return
    bad = suspect & ~xp.all(xp.isfinite(embeddings), axis=2)
    if bool(xp.any(bad)):
        b, i = _first_true(bad)
        raise SelectionInputError(
            f"response {i}: embedding has non-finite values",
            prompt=b + row_offset,
            field="embeddings",
        )
