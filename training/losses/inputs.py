"""The grouped input contract shared by every preference loss: validation, upcasting, padding.

Every loss in the registry takes the same tensors (DESIGN.md, "Two registries"):

    policy_logps (B, k)  sequence log-probabilities log pi(y_i | x) under the policy
    ref_logps    (B, k)  the same under the frozen reference (None for reference-free losses)
    lengths      (B, k)  response lengths |y_i| in tokens (int or float)
    rewards      (B, k)  reward-model scores r_i
    mask         (B, k)  bool; False marks padding of a ragged group (None: no padding)
    positive     (B, k)  bool, the preferred response(s); or (B,) int, the index of the one positive
                         (ignored on rows whose mask is all False)

A pairwise loss is the k = 2 case; B = 0 (an empty batch) is allowed. Tensors a loss does not
read (see `LossConfig.uses_*`) may be None; the others hold real numbers of any float or integer
dtype (policy_logps: floating point, it carries the gradient). A row whose mask is all False is
padding of the batch: its loss is exactly 0 and it sends no gradient. Every other row needs
>= 1 positive and >= 1 negative (a valid, non-positive response). Inputs are validated once, by
`prepare_inputs`, with a ValueError naming the loss, the field and the first bad row (or, for a
wrong type, dtype or shape, the field and what it got).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from training.losses.config import LossConfig


@dataclass(frozen=True)
class Group:
    """Validated inputs in the compute dtype (float32, or float64 when given float64).

    Padding is replaced by harmless constants (log-probs and rewards 0, lengths 1) so that no
    NaN or inf from padded slots can reach a value or a gradient. Empty rows get a dummy
    (positive, negative) pair in slots 0 and 1 so that every row has a finite loss; `finish`
    zeroes those rows.
    """

    policy: Tensor  # (B, k)
    ref: Tensor | None  # (B, k)
    lengths: Tensor | None  # (B, k), > 0 everywhere
    rewards: Tensor | None  # (B, k)
    mask: Tensor  # (B, k) bool
    positive: Tensor  # (B, k) bool, a subset of mask
    valid: Tensor  # (B,) bool, False for empty rows

    @property
    def negative(self) -> Tensor:
        return self.mask & ~self.positive  # (B, k)

    @property
    def log_ratio(self) -> Tensor:
        """log pi(y|x) - log pi_ref(y|x), (B, k)."""
        return self.policy - self.ref

    def with_positive(self, positive: Tensor) -> Group:
        """The same group with another positive set (a subset of mask)."""
        return replace(self, positive=positive)


def positive_mask(positive: Tensor, k: int) -> Tensor:
    """(B,) integer index of the positive -> (B, k) bool mask."""
    return torch.nn.functional.one_hot(positive.long(), k).bool()


def _describe(x) -> str:
    return f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__


def _check_shape(loss: str, name: str, x: Tensor, shape: torch.Size) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"{loss}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if x.shape != shape:
        raise ValueError(
            f"{loss}: {name} has shape {tuple(x.shape)}, expected {tuple(shape)} "
            "(the shape of policy_logps)"
        )


def _optional(loss: str, name: str, x: Tensor | None, shape: torch.Size, needed: bool):
    """A (B, k) tensor of real numbers (any float or integer dtype), or None where allowed."""
    if x is None:
        if needed:
            raise ValueError(f"{loss}: {name} is required by this loss (and its config)")
        return None
    _check_shape(loss, name, x, shape)
    if x.dtype == torch.bool or x.dtype.is_complex:
        raise ValueError(f"{loss}: {name} must hold real numbers, got {x.dtype}")
    return x


def _as_positive_mask(loss: str, positive: Tensor, mask: Tensor) -> Tensor:
    """The `positive` input as a (B, k) bool mask. An integer index (B,) is ignored on the
    empty rows of `mask` (padding of the batch: any value, e.g. -1, is accepted there) and
    must lie in [0, k) on every other row."""
    shape = mask.shape
    if not isinstance(positive, Tensor):
        raise ValueError(f"{loss}: positive must be a torch.Tensor, got {type(positive).__name__}")
    if positive.dtype == torch.bool:
        _check_shape(loss, "positive", positive, shape)
        return positive
    if positive.dtype.is_floating_point or positive.dtype.is_complex:
        raise ValueError(
            f"{loss}: positive must be a bool mask of shape {tuple(shape)} or an integer "
            f"index of shape {tuple(shape[:1])}; got {_describe(positive)}"
        )
    if positive.shape == shape:
        raise ValueError(
            f"{loss}: positive: a mask of shape {tuple(shape)} must be bool, got "
            f"{positive.dtype} (an integer positive is the index of shape {tuple(shape[:1])})"
        )
    if positive.shape != shape[:1]:
        raise ValueError(
            f"{loss}: positive: an integer index must have shape {tuple(shape[:1])}, got "
            f"{tuple(positive.shape)}"
        )
    valid = mask.any(-1)  # (B,)
    out_of_range = valid & ((positive < 0) | (positive >= shape[1]))
    if out_of_range.any():
        row = int(torch.nonzero(out_of_range)[0, 0])
        raise ValueError(
            f"{loss}: positive: row {row}: index {int(positive[row])} is outside [0, {shape[1]})"
        )
    index = torch.where(valid, positive.long(), 0)  # (B,), any in-range value on empty rows
    return positive_mask(index, shape[1]) & valid[:, None]


def _raise_first_bad_row(loss: str, checks: list[tuple[str, Tensor, str]]) -> None:
    """checks: (field, bad (B,) bool, problem). One device sync for all of them."""
    if not checks:
        return
    bad = torch.stack([b for _, b, _ in checks]).cpu()  # (C, B)
    for (name, _, problem), row_bad in zip(checks, bad, strict=True):
        if row_bad.any():
            row = int(torch.nonzero(row_bad)[0, 0])
            raise ValueError(f"{loss}: {name}: row {row}: {problem}")


def prepare_inputs(
    policy_logps: Tensor,
    ref_logps: Tensor | None,
    lengths: Tensor | None,
    rewards: Tensor | None,
    mask: Tensor | None,
    positive: Tensor,
    cfg: LossConfig,
    config_cls: type[LossConfig],
) -> Group:
    """Validate the contract (module docstring), upcast to float32/float64, neutralise padding."""
    if not isinstance(cfg, config_cls):
        raise TypeError(f"expected a {config_cls.__name__}, got {type(cfg).__name__}")
    loss = cfg.loss_name

    # -- shapes and dtypes ----------------------------------------------------------------
    if not isinstance(policy_logps, Tensor) or not policy_logps.dtype.is_floating_point:
        raise ValueError(
            f"{loss}: policy_logps must be a floating-point torch.Tensor (it carries the "
            f"gradient), got {_describe(policy_logps)}"
        )
    if policy_logps.dim() != 2 or policy_logps.shape[1] < 2:
        raise ValueError(
            f"{loss}: policy_logps must have shape (B, k) with k >= 2, "
            f"got {tuple(policy_logps.shape)}"
        )
    shape = policy_logps.shape
    if mask is None:
        mask = torch.ones(shape, dtype=torch.bool, device=policy_logps.device)
    _check_shape(loss, "mask", mask, shape)
    if mask.dtype != torch.bool:
        raise ValueError(f"{loss}: mask must be a bool tensor, got {mask.dtype}")
    positive = _as_positive_mask(loss, positive, mask)
    ref_logps = _optional(loss, "ref_logps", ref_logps, shape, cfg.uses_reference)
    lengths = _optional(loss, "lengths", lengths, shape, cfg.uses_lengths)
    rewards = _optional(loss, "rewards", rewards, shape, cfg.uses_rewards)

    # -- per-row contents (one sync) ------------------------------------------------------
    valid = mask.any(-1)  # (B,)
    n_pos = (positive & mask).sum(-1)
    n_neg = (mask & ~positive).sum(-1)
    checks = [
        ("positive", (positive & ~mask).any(-1), "marks a padded response (mask is False there)"),
        ("positive", valid & (n_pos == 0), "marks no response; each non-empty row needs one"),
        ("mask", valid & (n_neg == 0), "holds no negative: every valid response is positive"),
        ("policy_logps", (mask & ~policy_logps.isfinite()).any(-1), "is not finite"),
    ]
    if cfg.uses_reference:
        checks.append(("ref_logps", (mask & ~ref_logps.isfinite()).any(-1), "is not finite"))
    if cfg.uses_rewards:
        checks.append(("rewards", (mask & ~rewards.isfinite()).any(-1), "is not finite"))
    if cfg.uses_lengths:
        bad_len = mask & ~((lengths > 0) & lengths.isfinite())
        checks.append(("lengths", bad_len.any(-1), "must be > 0 (length-normalised loss)"))
    _raise_first_bad_row(loss, checks)

    # -- upcast and neutralise padding ----------------------------------------------------
    dtype = torch.float64 if policy_logps.dtype == torch.float64 else torch.float32

    def clean(x: Tensor | None, fill: float, used: bool) -> Tensor | None:
        if x is None or not used:
            return None
        return torch.where(mask, x.to(dtype), torch.full_like(x, fill, dtype=dtype))

    dummy_mask = torch.zeros_like(mask)
    dummy_mask[:, :2] = True
    dummy_pos = torch.zeros_like(mask)
    dummy_pos[:, 0] = True
    return Group(
        policy=clean(policy_logps, 0.0, True),
        ref=clean(ref_logps, 0.0, cfg.uses_reference),
        lengths=clean(lengths, 1.0, cfg.uses_lengths),
        rewards=clean(rewards, 0.0, cfg.uses_rewards),
        mask=torch.where(valid[:, None], mask, dummy_mask),
        positive=torch.where(valid[:, None], positive, dummy_pos),
        valid=valid,
    )


def finish(
    group: Group, loss: Tensor, metrics: dict[str, Tensor]
) -> tuple[Tensor, dict[str, Tensor]]:
    """Zero the loss and the metrics of empty rows; detach the metrics. loss: (B,)."""
    zero = torch.zeros((), dtype=loss.dtype, device=loss.device)
    loss = torch.where(group.valid, loss, zero)
    metrics = {k: torch.where(group.valid, v.detach(), zero) for k, v in metrics.items()}
    return loss, metrics
